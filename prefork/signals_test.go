package prefork

import (
	"strings"
	"syscall"
	"testing"
)

func TestParseStopSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "sigint": syscall.SIGINT, "SIGQUIT": syscall.SIGQUIT,
		"hup": syscall.SIGHUP, "Usr1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2} {
		if got, err := ParseStopSignal(in); err != nil || got != want {
			t.Errorf("ParseStopSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"": "unknown", "FOO": "unknown", "SIG": "unknown", "TERM ": "unknown",
		"0": "not a number", "9": "not a number", "15": "not a number", "19": "not a number", "-1": "not a number",
		"KILL": "does not ask", "STOP": "does not ask", "CHLD": "does not ask", "CONT": "does not ask", "TSTP": "does not ask",
		"TTIN": "does not ask", "TTOU": "does not ask", "URG": "does not ask", "WINCH": "does not ask", "SEGV": "does not ask",
		"ABRT": "does not ask", "ALRM": "does not ask", "PIPE": "does not ask", "SIGBUS": "does not ask", "pwr": "does not ask",
	} {
		if got, err := ParseStopSignal(in); err == nil {
			t.Errorf("ParseStopSignal(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "TERM, INT, QUIT, HUP, USR1 or USR2") {
			t.Errorf("ParseStopSignal(%q) error %q, want %q and the accepted names", in, err, why)
		}
	}
}
