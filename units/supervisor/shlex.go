package supervisor

import (
	"errors"
	"strings"
)

// Python's shlex, in the two modes supervisord uses: shlex.split (POSIX
// mode) for command=, and a non-POSIX shlex with extra word characters for
// environment= (datatypes.dict_of_key_value_pairs).

var (
	errNoClosingQuote = errors.New("no closing quotation")
	errNoEscaped      = errors.New("no escaped character after a backslash")
)

const shlexSpace = " \t\r\n"

// shlexSplit is shlex.split(s): POSIX rules, no comments. A backslash
// escapes any character outside quotes, only \ and " inside double quotes,
// nothing inside single quotes.
func shlexSplit(s string) ([]string, error) {
	var (
		out    []string
		tok    strings.Builder
		quoted bool
		inTok  bool
		state  rune = ' ' // ' ', 'a' (word), '\'' or '"' (quoted), '\\' (escape)
		escSt  rune
	)
	emit := func() {
		out = append(out, tok.String())
		tok.Reset()
		quoted, inTok = false, false
	}
	for _, c := range s {
		switch state {
		case ' ', 'a':
			switch {
			case strings.ContainsRune(shlexSpace, c):
				if inTok || quoted {
					emit()
				}
				state = ' '
			case c == '\\':
				escSt, state = 'a', '\\'
				inTok = true
			case c == '\'' || c == '"':
				state = c
				inTok = true
			default:
				tok.WriteRune(c)
				state, inTok = 'a', true
			}
		case '\'', '"':
			quoted = true
			switch {
			case c == state:
				state = 'a'
			case c == '\\' && state == '"':
				escSt, state = state, '\\'
			default:
				tok.WriteRune(c)
			}
		case '\\':
			// inside double quotes only the quote and the backslash are
			// escaped; elsewhere the backslash is kept
			if escSt == '"' && c != '\\' && c != '"' {
				tok.WriteByte('\\')
			}
			tok.WriteRune(c)
			state = escSt
		}
	}
	switch state {
	case '\'', '"':
		return nil, errNoClosingQuote
	case '\\':
		return nil, errNoEscaped
	}
	if inTok || quoted {
		emit()
	}
	return out, nil
}

// envWordChars are the word characters of supervisord's environment
// lexer: shlex's non-POSIX defaults plus "/.+-():".
const envWordChars = "abcdfeghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.+-():"

// envTokens is list(shlex.shlex(s)) with those word characters: non-POSIX
// mode keeps quotes in their token, "#" starts a comment to the end of the
// line, and any other character that is not a word character is a token
// of its own.
func envTokens(s string) ([]string, error) {
	r := []rune(s)
	var out []string
	var tok []rune
	state := ' '
	isWord := func(c rune) bool { return strings.ContainsRune(envWordChars, c) }
	skipLine := func(i int) int {
		for i < len(r) && r[i] != '\n' {
			i++
		}
		return i // the loop's i++ steps over the newline
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch state {
		case ' ':
			switch {
			case strings.ContainsRune(shlexSpace, c):
			case c == '#':
				i = skipLine(i)
			case isWord(c):
				tok, state = []rune{c}, 'a'
			case c == '\'' || c == '"':
				tok, state = []rune{c}, c
			default:
				out = append(out, string(c))
			}
		case 'a':
			switch {
			case strings.ContainsRune(shlexSpace, c):
				out, tok, state = append(out, string(tok)), nil, ' '
			case c == '#':
				// non-POSIX shlex drops the rest of the line and goes on
				// with the same word
				i = skipLine(i)
			case isWord(c) || c == '\'' || c == '"':
				tok = append(tok, c)
			default:
				out, tok, state = append(out, string(tok), string(c)), nil, ' '
			}
		default: // in quotes
			tok = append(tok, c)
			if c == state {
				out, tok, state = append(out, string(tok)), nil, ' '
			}
		}
	}
	switch state {
	case 'a':
		out = append(out, string(tok))
	case '\'', '"':
		return nil, errNoClosingQuote
	}
	return out, nil
}

// kv is one environment variable, in the order supervisord keeps them.
type kv struct{ key, val string }

// parseEnvironment is datatypes.dict_of_key_value_pairs: tokens in threes
// KEY = VALUE, the value's quotes stripped, and the token after each
// triple skipped whatever it is (it should be a comma). skipped returns
// what was skipped that is not a comma.
func parseEnvironment(s string) (vars []kv, skipped []string, err error) {
	toks, err := envTokens(s)
	if err != nil {
		return nil, nil, err
	}
	index := map[string]int{}
	for i := 0; i < len(toks); i += 4 {
		if i+3 > len(toks) || toks[i+1] != "=" {
			return nil, nil, errors.New("unexpected end of KEY=VALUE pairs")
		}
		k, v := toks[i], strings.Trim(toks[i+2], `'"`)
		if j, ok := index[k]; ok {
			vars[j].val = v
		} else {
			index[k] = len(vars)
			vars = append(vars, kv{k, v})
		}
		if i+3 < len(toks) && toks[i+3] != "," {
			skipped = append(skipped, toks[i+3])
		}
	}
	return vars, skipped, nil
}
