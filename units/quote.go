package units

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Quoting for systemd unit files (systemd.syntax(7), systemd.service(7)
// "Command lines"). The load-time pipeline of an ExecStart= value is:
//  1. specifier expansion over the whole value: "%%" -> "%";
//  2. word splitting with double/single quotes and C escapes;
//  3. at exec time, environment expansion in arguments: "$$" -> "$".
// We render every word so that the pipeline gives it back unchanged.

// escapeSpecifiers doubles '%' so specifier expansion gives s back. Every
// value we write from operator input goes through it: systemd expands
// specifiers in nearly every setting we emit (verified for Description=,
// ExecStart=, Environment=, EnvironmentFile=, WorkingDirectory=, User=,
// Group=, ListenStream=, SocketUser=, FileDescriptorName=).
func escapeSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

func isBareSafe(r byte) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.IndexByte("_-+=:,./@%$", r) >= 0
}

// quoteWord renders one already specifier/dollar-escaped word for the
// splitter: bare when that is unambiguous, otherwise double-quoted with C
// escapes.
func quoteWord(w string) string {
	bare := w != ""
	for i := 0; i < len(w); i++ {
		if !isBareSafe(w[i]) {
			bare = false
			break
		}
	}
	if bare {
		return w
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// errNUL is returned for values systemd cannot carry.
var errNUL = errors.New("contains a NUL byte")

func checkWord(w string) error {
	if strings.IndexByte(w, 0) >= 0 {
		return errNUL
	}
	if !utf8.ValidString(w) {
		return errors.New("is not valid UTF-8")
	}
	return nil
}

// ExecLine renders a command line for ExecStart=/ExecReload=: exe is the
// absolute executable path (not subject to "$" expansion, so it may not
// contain '$'), args are passed as argv[1:] exactly.
func ExecLine(exe string, args ...string) (string, error) {
	if err := checkWord(exe); err != nil {
		return "", fmt.Errorf("executable %q %w", exe, err)
	}
	if !strings.HasPrefix(exe, "/") {
		return "", fmt.Errorf("executable %q is not an absolute path", exe)
	}
	if strings.Contains(exe, "$") {
		return "", fmt.Errorf("executable %q contains '$'", exe)
	}
	words := []string{quoteWord(escapeSpecifiers(exe))}
	for _, a := range args {
		if err := checkWord(a); err != nil {
			return "", fmt.Errorf("argument %q %w", a, err)
		}
		words = append(words, quoteWord(strings.ReplaceAll(escapeSpecifiers(a), "$", "$$")))
	}
	return strings.Join(words, " "), nil
}

// EnvAssignment renders one Environment= value (K=V). Environment= does
// specifier expansion and word splitting but no "$" expansion.
func EnvAssignment(key, value string) (string, error) {
	if !validEnvKey(key) {
		return "", fmt.Errorf("environment variable name %q: want [A-Za-z_][A-Za-z0-9_]*", key)
	}
	if err := checkWord(value); err != nil {
		return "", fmt.Errorf("environment value %q %w", value, err)
	}
	return quoteWord(escapeSpecifiers(key + "=" + value)), nil
}

func validEnvKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// SplitExec parses an ExecStart= value the way systemd 252 does and returns
// the executable path and argv[1:] after specifier ("%%") and environment
// ("$$") unescaping. It accepts only what systemd accepts without warnings,
// and refuses specifiers other than %% and variable references, which this
// package never writes.
func SplitExec(value string) (exe string, args []string, err error) {
	s, err := unescapeSpecifiers(value)
	if err != nil {
		return "", nil, err
	}
	words, err := splitWords(s, true)
	if err != nil {
		return "", nil, err
	}
	if len(words) == 0 {
		return "", nil, errors.New("empty command line")
	}
	exe = words[0]
	for _, w := range words[1:] {
		a, err := unescapeDollars(w)
		if err != nil {
			return "", nil, err
		}
		args = append(args, a)
	}
	return exe, args, nil
}

// SplitEnvironment parses an Environment= value into its assignments.
func SplitEnvironment(value string) ([]string, error) {
	s, err := unescapeSpecifiers(value)
	if err != nil {
		return nil, err
	}
	return splitWords(s, false)
}

func unescapeSpecifiers(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		return "", fmt.Errorf("specifier %q at byte %d", s[i:min(i+2, len(s))], i)
	}
	return b.String(), nil
}

func unescapeDollars(w string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '$' {
			b.WriteByte(w[i])
			continue
		}
		if i+1 < len(w) && w[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 < len(w) && (w[i+1] == '{' || w[i+1] == '_' || w[i+1] >= 'A' && w[i+1] <= 'Z' || w[i+1] >= 'a' && w[i+1] <= 'z') {
			return "", fmt.Errorf("variable reference in %q", w)
		}
		b.WriteByte('$') // a lone '$' stays literal
	}
	return b.String(), nil
}

const whitespace = " \t\n\r"

// splitWords follows systemd's extract_first_word() with
// EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE and, for command lines, the special
// tokens ";" (command separator, refused here) and "\;" (a literal ";").
func splitWords(s string, command bool) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(whitespace, s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return words, nil
		}
		atEnd := func(j int) bool { return j >= len(s) || strings.IndexByte(whitespace, s[j]) >= 0 }
		if command && s[i] == ';' && atEnd(i+1) {
			return nil, errors.New("unquoted ';' separates commands")
		}
		if command && s[i] == '\\' && i+1 < len(s) && s[i+1] == ';' && atEnd(i+2) {
			words = append(words, ";")
			i += 2
			continue
		}
		var b strings.Builder
		var quote byte
		for {
			if i >= len(s) {
				if quote != 0 {
					return nil, errors.New("unbalanced quoting")
				}
				break
			}
			c := s[i]
			if quote == 0 && strings.IndexByte(whitespace, c) >= 0 {
				break
			}
			switch {
			case c == '\\':
				n, consumed, err := cunescapeOne(s[i+1:])
				if err != nil {
					return nil, err
				}
				b.WriteString(n)
				i += 1 + consumed
				continue
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote != 0 && c == quote:
				quote = 0
			default:
				b.WriteByte(c)
			}
			i++
		}
		words = append(words, b.String())
	}
}

// cunescapeOne decodes the escape after a backslash (systemd cunescape_one).
func cunescapeOne(s string) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("trailing backslash")
	}
	simple := map[byte]string{'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t",
		'v': "\v", '\\': "\\", '"': "\"", '\'': "'", 's': " "}
	if v, ok := simple[s[0]]; ok {
		return v, 1, nil
	}
	hexN := map[byte]int{'x': 2, 'u': 4, 'U': 8}
	if n, ok := hexN[s[0]]; ok {
		if len(s) < 1+n {
			return "", 0, fmt.Errorf("short \\%c escape", s[0])
		}
		v, err := strconv.ParseUint(s[1:1+n], 16, 32)
		if err != nil || v == 0 {
			return "", 0, fmt.Errorf("bad \\%c escape %q", s[0], s[:1+n])
		}
		if s[0] == 'x' {
			return string([]byte{byte(v)}), 1 + n, nil
		}
		if !utf8.ValidRune(rune(v)) {
			return "", 0, fmt.Errorf("bad \\%c escape %q", s[0], s[:1+n])
		}
		return string(rune(v)), 1 + n, nil
	}
	if s[0] >= '0' && s[0] <= '3' {
		if len(s) < 3 {
			return "", 0, errors.New("short octal escape")
		}
		v, err := strconv.ParseUint(s[:3], 8, 8)
		if err != nil || v == 0 {
			return "", 0, fmt.Errorf("bad octal escape %q", s[:3])
		}
		return string([]byte{byte(v)}), 3, nil
	}
	return "", 0, fmt.Errorf("unknown escape \\%c", s[0])
}
