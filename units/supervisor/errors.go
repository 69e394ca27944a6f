package supervisor

import "fmt"

// Pos is where a value was written: the file as the operator named it (an
// included file relative to the including file's name) and a 1-based line.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Error is bad input: one line naming the file, line and key.
type Error struct {
	Pos Pos
	Key string // the option (or "[section]"), empty when the file itself is at fault
	Msg string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Key, e.Msg)
}

func errorf(pos Pos, key, format string, a ...any) *Error {
	return &Error{Pos: pos, Key: key, Msg: fmt.Sprintf(format, a...)}
}

// Note says what happened to an option that is not carried over as it is:
// what it means under sdlaunch, or why it has no equivalent.
type Note struct {
	Pos  Pos
	Key  string // "key=value" as written, "[section]", or "(key)" for an option that is absent
	Text string
}

func (n Note) String() string {
	if n.Key == "" {
		return fmt.Sprintf("%s: %s", n.Pos, n.Text)
	}
	return fmt.Sprintf("%s: %s: %s", n.Pos, n.Key, n.Text)
}
