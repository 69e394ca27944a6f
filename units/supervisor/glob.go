package supervisor

import (
	"os"
	"path/filepath"
	"strings"
)

// Python's glob.glob (recursive=False), which supervisord uses for
// [include] files=: "*", "?" and "[...]" ("[!...]" negates) per path
// component, no escapes, "**" is "*", and a wildcard never matches a name
// starting with "." unless the pattern component does.

func hasMagic(s string) bool { return strings.ContainsAny(s, "*?[") }

// pyGlob returns the paths matching pattern, unsorted (supervisord sorts).
func pyGlob(pattern string) []string {
	if !hasMagic(pattern) {
		if _, err := os.Lstat(pattern); err == nil {
			return []string{pattern}
		}
		return nil
	}
	dir, base := filepath.Split(pattern)
	if dir != "" && dir != string(filepath.Separator) {
		dir = strings.TrimRight(dir, "/")
		if dir == "" {
			dir = "/"
		}
	}
	var dirs []string
	switch {
	case dir == "":
		dirs = []string{""}
	case hasMagic(dir):
		dirs = pyGlob(dir)
	default:
		dirs = []string{dir}
	}
	var out []string
	for _, d := range dirs {
		if !hasMagic(base) {
			p := filepath.Join(d, base)
			if base == "" {
				if fi, err := os.Stat(d); err == nil && fi.IsDir() {
					out = append(out, d+"/")
				}
				continue
			}
			if _, err := os.Lstat(p); err == nil {
				out = append(out, p)
			}
			continue
		}
		list := d
		if list == "" {
			list = "."
		}
		entries, err := os.ReadDir(list)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".") {
				continue
			}
			if fnmatch(name, base) {
				if d == "" {
					out = append(out, name)
				} else {
					out = append(out, filepath.Join(d, name))
				}
			}
		}
	}
	return out
}

// fnmatch is Python's fnmatch.fnmatchcase.
func fnmatch(name, pat string) bool {
	return matchRunes([]rune(name), []rune(pat))
}

func matchRunes(name, pat []rune) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case '*':
			for len(pat) > 0 && pat[0] == '*' {
				pat = pat[1:]
			}
			if len(pat) == 0 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchRunes(name[i:], pat) {
					return true
				}
			}
			return false
		case '?':
			if len(name) == 0 {
				return false
			}
			name, pat = name[1:], pat[1:]
		case '[':
			set, n, ok := charClass(pat)
			if !ok { // no closing "]": a literal "["
				if len(name) == 0 || name[0] != '[' {
					return false
				}
				name, pat = name[1:], pat[1:]
				continue
			}
			if len(name) == 0 || !set(name[0]) {
				return false
			}
			name, pat = name[1:], pat[n:]
		default:
			if len(name) == 0 || name[0] != pat[0] {
				return false
			}
			name, pat = name[1:], pat[1:]
		}
	}
	return len(name) == 0
}

// charClass parses "[...]" at the start of pat as fnmatch.translate does:
// a "]" right after "[" or "[!" is literal, "a-z" is a range (an empty
// range matches nothing). It returns the matcher and the pattern length.
func charClass(pat []rune) (func(rune) bool, int, bool) {
	j := 1
	if j < len(pat) && pat[j] == '!' {
		j++
	}
	if j < len(pat) && pat[j] == ']' {
		j++
	}
	for j < len(pat) && pat[j] != ']' {
		j++
	}
	if j >= len(pat) {
		return nil, 0, false
	}
	body := pat[1:j]
	negate := len(body) > 0 && body[0] == '!'
	if negate {
		body = body[1:]
	}
	type span struct{ lo, hi rune }
	var spans []span
	for k := 0; k < len(body); k++ {
		if k+2 < len(body) && body[k+1] == '-' {
			if body[k] <= body[k+2] {
				spans = append(spans, span{body[k], body[k+2]})
			}
			k += 2
			continue
		}
		spans = append(spans, span{body[k], body[k]})
	}
	return func(r rune) bool {
		in := false
		for _, s := range spans {
			if r >= s.lo && r <= s.hi {
				in = true
				break
			}
		}
		return in != negate
	}, j + 1, true
}
