package supervisor

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// supervisord expands option values with Python's `value % mapping`: each
// "%(name)s" (any conversion: %(process_num)02d) is replaced, "%%" is "%".
// Anything else after a "%" is an error to Python, or (a bare "%s") the
// whole mapping's repr, which no configuration means: both are refused.

// names are the expansions available to one option; a value is a string or
// an int (process_num, numprocs).
type names map[string]any

func (n names) with(more names) names {
	out := make(names, len(n)+len(more))
	for k, v := range n {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// expandError is a %-expansion that Python refuses.
type expandError struct{ msg string }

func (e *expandError) Error() string { return e.msg }

// expand returns s with its %-expansions done and the names it used.
func expand(s string, n names) (string, []string, error) {
	if !strings.Contains(s, "%") {
		return s, nil, nil
	}
	var b strings.Builder
	var used []string
	r := []rune(s)
	for i := 0; i < len(r); i++ {
		if r[i] != '%' {
			b.WriteRune(r[i])
			continue
		}
		start := i
		i++
		if i >= len(r) {
			return "", used, &expandError{fmt.Sprintf("%q: a lone %% at the end (write %%%% for a percent sign)", s)}
		}
		if r[i] == '%' {
			b.WriteByte('%')
			continue
		}
		if r[i] != '(' {
			return "", used, &expandError{fmt.Sprintf("%q: %q is not a %%(name)s expansion (write %%%% for a percent sign)", s, string(r[start:min(i+1, len(r))]))}
		}
		depth, j := 1, i+1
		for j < len(r) && depth > 0 {
			switch r[j] {
			case '(':
				depth++
			case ')':
				depth--
			}
			j++
		}
		if depth > 0 {
			return "", used, &expandError{fmt.Sprintf("%q: unterminated %%(name", s)}
		}
		key := string(r[i+1 : j-1])
		i = j
		spec, conv, next, err := parseSpec(r, i)
		if err != nil {
			return "", used, &expandError{fmt.Sprintf("%q: %v", s, err)}
		}
		i = next - 1 // the loop steps past the conversion character
		v, ok := n[key]
		if !ok {
			return "", used, &expandError{fmt.Sprintf("%%(%s)s cannot be expanded: no such name (there are %s)", key, available(n))}
		}
		used = append(used, key)
		out, err := format(v, spec, conv)
		if err != nil {
			return "", used, &expandError{fmt.Sprintf("%%(%s)%s%c: %v", key, spec.raw, conv, err)}
		}
		b.WriteString(out)
	}
	return b.String(), used, nil
}

// available lists the names for an error message, ENV_* folded into one.
func available(n names) string {
	var ks []string
	env := false
	for k := range n {
		if strings.HasPrefix(k, "ENV_") {
			env = true
			continue
		}
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if env {
		ks = append(ks, "ENV_ and the name of an environment variable")
	}
	return strings.Join(ks, ", ")
}

type fmtSpec struct {
	raw       string
	left      bool // -
	plus      bool // +
	space     bool // ' '
	alt       bool // #
	zero      bool // 0
	width     int
	precision int // -1: none
}

// parseSpec reads Python's conversion flags, width, precision, length
// modifier and conversion type from r[i:].
func parseSpec(r []rune, i int) (fmtSpec, rune, int, error) {
	sp := fmtSpec{precision: -1}
	start := i
flags:
	for ; i < len(r); i++ {
		switch r[i] {
		case '-':
			sp.left = true
		case '+':
			sp.plus = true
		case ' ':
			sp.space = true
		case '#':
			sp.alt = true
		case '0':
			sp.zero = true
		default:
			break flags
		}
	}
	digits := func() (int, bool) {
		j := i
		for i < len(r) && r[i] >= '0' && r[i] <= '9' {
			i++
		}
		if j == i {
			return 0, false
		}
		n, _ := strconv.Atoi(string(r[j:i]))
		return n, true
	}
	if i < len(r) && r[i] == '*' {
		return sp, 0, i, fmt.Errorf("a '*' width needs a positional argument")
	}
	sp.width, _ = digits()
	if i < len(r) && r[i] == '.' {
		i++
		if i < len(r) && r[i] == '*' {
			return sp, 0, i, fmt.Errorf("a '*' precision needs a positional argument")
		}
		sp.precision, _ = digits()
	}
	for i < len(r) && (r[i] == 'h' || r[i] == 'l' || r[i] == 'L') {
		i++
	}
	if i >= len(r) {
		return sp, 0, i, fmt.Errorf("incomplete format after %%(name)")
	}
	sp.raw = string(r[start:i])
	return sp, r[i], i + 1, nil
}

// format renders one value as Python's %-operator does for the
// conversions a configuration can mean.
func format(v any, sp fmtSpec, conv rune) (string, error) {
	var body string
	numeric := false
	switch conv {
	case 's', 'r', 'a':
		switch x := v.(type) {
		case string:
			body = x
			if conv != 's' {
				body = pyRepr(x)
			}
		case int:
			body = strconv.Itoa(x)
		}
		if sp.precision >= 0 && sp.precision < len([]rune(body)) {
			body = string([]rune(body)[:sp.precision])
		}
	case 'd', 'i', 'u', 'x', 'X', 'o':
		x, ok := v.(int)
		if !ok {
			return "", fmt.Errorf("%%%c needs a number, and this is text", conv)
		}
		numeric = true
		neg := x < 0
		if neg {
			x = -x
		}
		base := map[rune]int{'d': 10, 'i': 10, 'u': 10, 'x': 16, 'X': 16, 'o': 8}[conv]
		body = strconv.FormatInt(int64(x), base)
		if conv == 'X' {
			body = strings.ToUpper(body)
		}
		if sp.precision > len(body) {
			body = strings.Repeat("0", sp.precision-len(body)) + body
		}
		if sp.alt {
			switch conv {
			case 'x':
				body = "0x" + body
			case 'X':
				body = "0X" + body
			case 'o':
				body = "0o" + body
			}
		}
		switch {
		case neg:
			body = "-" + body
		case sp.plus:
			body = "+" + body
		case sp.space:
			body = " " + body
		}
	default:
		return "", fmt.Errorf("conversion %%%c is not supported here (use s or d)", conv)
	}
	pad := sp.width - len([]rune(body))
	if pad <= 0 {
		return body, nil
	}
	switch {
	case sp.left:
		return body + strings.Repeat(" ", pad), nil
	case sp.zero && numeric:
		sign := ""
		if strings.ContainsAny(body[:1], "+- ") {
			sign, body = body[:1], body[1:]
		}
		prefix := ""
		if sp.alt && len(body) > 1 && body[0] == '0' && strings.ContainsRune("xXo", rune(body[1])) {
			prefix, body = body[:2], body[2:]
		}
		return sign + prefix + strings.Repeat("0", pad) + body, nil
	}
	return strings.Repeat(" ", pad) + body, nil
}

// pyRepr is Python's repr of a str, for the printable ASCII a
// configuration holds.
func pyRepr(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	var b strings.Builder
	b.WriteString(q)
	for _, c := range s {
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case string(c) == q:
			b.WriteString(`\` + q)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteString(q)
	return b.String()
}
