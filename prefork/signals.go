package prefork

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// stopSignals are the signals --stop-signal accepts: those whose default
// action ends a process and that neither the kernel nor job control sends
// with another meaning, so an app either handles one as "finish and exit"
// or dies of it. Refused, with the reason:
//   - KILL, STOP: cannot be caught, so nothing drains.
//   - CHLD, CONT, URG, WINCH: ignored by default; an app that does not
//     handle them would never stop (WINCH is Apache's graceful stop, but a
//     terminal sends it on every resize).
//   - TSTP, TTIN, TTOU: job control; they suspend a process, and TTIN/TTOU
//     are the launcher's own scaling signals.
//   - SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT: faults and abort(3); an app's
//     handler for them means "crashed", not "stop".
//   - ALRM, VTALRM, PROF, PIPE, XCPU, XFSZ, IO, PWR, STKFLT: sent by the
//     kernel or init for timers, pipes, limits and power events.
func stopSignals() []syscall.Signal {
	return []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2}
}

// StopSignalNames lists the accepted --stop-signal names, for help texts.
func StopSignalNames() string {
	sigs := stopSignals()
	names := make([]string, len(sigs))
	for i, s := range sigs {
		names[i] = signalName(s)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// ParseStopSignal is the one parser of --stop-signal, for run, generate and
// install: a name with or without the SIG prefix, in any case (TERM,
// sigint, SIGQUIT), from stopSignals. Numbers are refused: they differ
// between architectures (USR1 is 10 on x86, 30 on alpha) and say nothing
// in a unit file.
func ParseStopSignal(s string) (syscall.Signal, error) {
	if _, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return 0, fmt.Errorf("signal %q: give a name (%s), not a number", s, StopSignalNames())
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q: use %s", s, StopSignalNames())
	}
	for _, ok := range stopSignals() {
		if sig == ok {
			return sig, nil
		}
	}
	return 0, fmt.Errorf("signal %q does not ask a process to stop: use %s", s, StopSignalNames())
}

// SignalName renders SIGTERM as "TERM".
func SignalName(sig syscall.Signal) string { return signalName(sig) }

// signalName renders SIGTERM as "TERM".
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}
