package supervisor

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The INI dialect of supervisord: Python's configparser.RawConfigParser with
// inline_comment_prefixes=(";", "#") and strict=False, as supervisor's
// UnhosedConfigParser sets it up. Reading several files into one parser
// merges sections of the same name; a later value of an option replaces the
// earlier one.

// value is one option as written, with where it was written.
type value struct {
	text string
	pos  Pos
}

// section is one [name] of the merged files.
type section struct {
	name string
	pos  Pos      // its first header
	keys []string // options in the order they first appeared
	vals map[string]*value
}

func newSection(name string, pos Pos) *section {
	return &section{name: name, pos: pos, vals: map[string]*value{}}
}

func (s *section) set(key string, v *value) {
	if _, ok := s.vals[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.vals[key] = v
}

// iniParser holds the sections read so far. defaults is [DEFAULT], whose
// options every section inherits.
type iniParser struct {
	sections []*section
	byName   map[string]*section
	defaults *section
}

func newIniParser() *iniParser {
	return &iniParser{byName: map[string]*section{}, defaults: newSection("DEFAULT", Pos{})}
}

// get returns the option of a section, falling back to [DEFAULT].
func (p *iniParser) get(sect, key string) (*value, bool) {
	if s, ok := p.byName[sect]; ok {
		if v, ok := s.vals[key]; ok {
			return v, true
		}
	}
	v, ok := p.defaults.vals[key]
	return v, ok
}

// items lists a section's options with [DEFAULT]'s merged in, in
// configparser's order (defaults first, then the section's own).
func (p *iniParser) items(s *section) []string {
	keys := append([]string{}, p.defaults.keys...)
	for _, k := range s.keys {
		if _, dup := p.defaults.vals[k]; !dup {
			keys = append(keys, k)
		}
	}
	return keys
}

// pyIsSpace is Python's str.isspace for one character.
func pyIsSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85:
		return true
	}
	return r > 0x7f && unicode.IsSpace(r)
}

func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// splitLines splits like Python's text files with universal newlines: \n,
// \r\n and \r end a line; each line keeps a trailing "\n".
func splitLines(src string) []string {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	var lines []string
	for len(src) > 0 {
		i := strings.IndexByte(src, '\n')
		if i < 0 {
			lines = append(lines, src)
			break
		}
		lines = append(lines, src[:i+1])
		src = src[i+1:]
	}
	return lines
}

// commentStart is configparser's search for an inline comment: in rounds,
// each prefix looks at its next occurrence; the first round in which one
// follows whitespace (or starts the line) decides. It returns -1 for none.
func commentStart(line []rune) int {
	prefixes := map[rune]int{';': -1, '#': -1}
	start := -1
	for start < 0 && len(prefixes) > 0 {
		next := map[rune]int{}
		for prefix, index := range prefixes {
			i := index + 1
			for i < len(line) && line[i] != prefix {
				i++
			}
			if i >= len(line) {
				continue
			}
			next[prefix] = i
			if i == 0 || pyIsSpace(line[i-1]) {
				if start < 0 || i < start {
					start = i
				}
			}
		}
		prefixes = next
	}
	return start
}

// header matches configparser's SECTCRE, `\[(?P<header>.+)\]`, anchored at
// the start only: the header runs to the last "]".
func header(v string) (string, bool) {
	if !strings.HasPrefix(v, "[") {
		return "", false
	}
	rest := v[1:]
	i := strings.LastIndexByte(rest, ']')
	if i < 1 || strings.ContainsRune(rest[:i], '\n') {
		return "", false
	}
	return rest[:i], true
}

// option matches configparser's OPTCRE: the name runs to the first "=" or
// ":", both sides stripped.
func option(v string) (name, val string, ok bool) {
	i := strings.IndexAny(v, "=:")
	if i < 0 {
		return "", "", false
	}
	return strings.TrimRightFunc(v[:i], pyIsSpace), pyStrip(v[i+1:]), true
}

// read parses one file's text into the parser, as RawConfigParser._read
// does. name is how positions name the file.
func (p *iniParser) read(src []byte, name string) error {
	if !utf8.Valid(src) {
		line := 1 + bytes.Count(src[:firstInvalid(src)], []byte("\n"))
		return errorf(Pos{name, line}, "", "not valid UTF-8 text")
	}
	var (
		cur         *section
		optname     string
		indentLevel int
		parts       = map[*value][]string{} // multi-line values being built
		firstErr    error
	)
	for i, line := range splitLines(string(src)) {
		lineno := i + 1
		runes := []rune(line)
		cs := commentStart(runes)
		for _, prefix := range []string{"#", ";"} {
			if strings.HasPrefix(pyStrip(line), prefix) {
				cs = 0
				break
			}
		}
		v := line
		if cs >= 0 {
			v = string(runes[:cs])
		}
		v = pyStrip(v)
		if v == "" {
			// empty_lines_in_values: a blank line (not a comment) is part
			// of the value being read
			if cs < 0 && cur != nil && optname != "" {
				if val := cur.vals[optname]; val != nil {
					parts[val] = append(parts[val], "")
				}
			}
			continue
		}
		indent := strings.IndexFunc(line, func(r rune) bool { return !pyIsSpace(r) })
		if indent < 0 {
			indent = 0
		} else {
			indent = utf8.RuneCountInString(line[:indent])
		}
		if cur != nil && optname != "" && indent > indentLevel {
			val := cur.vals[optname]
			parts[val] = append(parts[val], v)
			continue
		}
		indentLevel = indent
		pos := Pos{name, lineno}
		if h, ok := header(v); ok {
			switch {
			case p.byName[h] != nil:
				cur = p.byName[h]
			case h == "DEFAULT":
				cur = p.defaults
			default:
				cur = newSection(h, pos)
				p.sections = append(p.sections, cur)
				p.byName[h] = cur
			}
			optname = ""
			continue
		}
		if cur == nil {
			return errorf(pos, "", "no [section] header before this line: %q", strings.TrimRight(line, "\n"))
		}
		key, val, ok := option(v)
		if !ok || key == "" {
			if firstErr == nil {
				firstErr = errorf(pos, "", "not a 'key = value' line: %q", strings.TrimRight(line, "\n"))
			}
			continue
		}
		optname = strings.ToLower(key)
		nv := &value{text: val, pos: pos}
		cur.set(optname, nv)
		parts[nv] = []string{val}
	}
	for val, ps := range parts {
		val.text = strings.TrimRightFunc(strings.Join(ps, "\n"), pyIsSpace)
	}
	return firstErr
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
