package units

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseSignal accepts a signal name with or without the SIG prefix, in any
// case (TERM, sigint, SIGQUIT), and returns its canonical "SIGXXX" name.
func ParseSignal(s string) (string, error) {
	if err := checkText(s); err != nil {
		return "", fmt.Errorf("signal %q: %w", s, err)
	}
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if n := unix.SignalNum(name); n != 0 {
		return unix.SignalName(n), nil
	}
	if _, err := strconv.Atoi(s); err == nil {
		return "", fmt.Errorf("signal %q: give a name (TERM, INT, ...), not a number", s)
	}
	return "", fmt.Errorf("unknown signal %q", s)
}
