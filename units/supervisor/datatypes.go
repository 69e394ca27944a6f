package supervisor

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// supervisor.datatypes: how supervisord reads each kind of value. Each
// returns an error phrased for the operator when supervisord would refuse
// the value.

// pyInt is Python's int(str): surrounding whitespace, a sign, and "_"
// between digits are allowed.
func pyInt(s string) (int, error) {
	t := pyStrip(s)
	digits := strings.TrimLeft(t, "+-")
	if len(t)-len(digits) > 1 || digits == "" || strings.HasPrefix(digits, "_") || strings.HasSuffix(digits, "_") || strings.Contains(digits, "__") {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(t, "_", ""), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return int(n), nil
}

// pyBool is datatypes.boolean.
func pyBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true/false, yes/no, on/off, 1/0)", s)
}

// restartMode is datatypes.auto_restart.
type restartMode string

const (
	restartAlways     restartMode = "true"
	restartNever      restartMode = "false"
	restartUnexpected restartMode = "unexpected"
)

func autoRestart(s string) (restartMode, error) {
	v := strings.ToLower(s)
	if b, err := pyBool(v); err == nil {
		if b {
			return restartAlways, nil
		}
		return restartNever, nil
	}
	if v == "unexpected" {
		return restartUnexpected, nil
	}
	return "", fmt.Errorf("%q is not true, false or unexpected", s)
}

// signalName is datatypes.signal_number, returning the name without SIG
// (INT) that --stop-signal takes.
func signalName(s string) (string, error) {
	if n, err := pyInt(s); err == nil {
		if name := unix.SignalName(unix.Signal(n)); name != "" {
			return strings.TrimPrefix(name, "SIG"), nil
		}
		return "", fmt.Errorf("%q is not a signal number", s)
	}
	name := strings.ToUpper(pyStrip(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if unix.SignalNum(name) == 0 {
		return "", fmt.Errorf("%q is not a signal name", s)
	}
	return strings.TrimPrefix(name, "SIG"), nil
}

// byteSize is datatypes.byte_size: bytes, or a KB, MB or GB suffix (any
// case). "20M" is not one of them.
func byteSize(s string) (int, error) {
	v := strings.ToLower(s)
	for suffix, mult := range map[string]int{"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30} {
		if strings.HasSuffix(v, suffix) {
			n, err := pyInt(v[:len(v)-2])
			if err != nil {
				return 0, fmt.Errorf("%q is not a byte size (a number, optionally with KB, MB or GB)", s)
			}
			return n * mult, nil
		}
	}
	n, err := pyInt(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a byte size (a number, optionally with KB, MB or GB: %sB?)", s, strings.TrimSpace(s))
	}
	return n, nil
}

// exitCodes is datatypes.list_of_exitcodes.
func exitCodes(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := pyInt(f)
		if err != nil || n < 0 || n > 255 {
			return nil, fmt.Errorf("%q is not a list of exit codes (0-255, separated by commas)", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// octal is datatypes.octal_type.
func octal(s string) (int, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(pyStrip(s), "0o"), "0O")
	n, err := strconv.ParseInt(strings.ReplaceAll(t, "_", ""), 8, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an octal number", s)
	}
	return int(n), nil
}

// processName is datatypes.process_or_group_name.
func processName(s string) (string, error) {
	t := pyStrip(s)
	if strings.ContainsAny(t, " :/") {
		return "", fmt.Errorf("%q: a process or group name cannot contain a space, ':' or '/'", s)
	}
	return t, nil
}

// logfile classifies a *_logfile value as datatypes.logfile_name does
// (without checking that the directory exists).
type logfile struct {
	kind string // "none", "auto", "syslog" or "path"
	path string
}

func logfileName(s string) logfile {
	switch strings.ToLower(s) {
	case "none", "off":
		return logfile{kind: "none"}
	case "auto":
		return logfile{kind: "auto"}
	case "syslog":
		return logfile{kind: "syslog"}
	}
	return logfile{kind: "path", path: s}
}
