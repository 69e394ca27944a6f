package prefork

import (
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// env is the supervisor's window on the world: everything it does to
// processes and to systemd goes through it, and time comes in as an
// argument of every call, so the state machine runs against a fake in tests
// (as tableflip's env seam does). New builds the real one.
type env struct {
	// spawn starts a worker for slot in generation gen.
	spawn func(slot, gen int) (*worker, error)
	// kill sends sig to pid, or to the process group -pid when pid < 0.
	kill func(pid int, sig syscall.Signal) error
	// notify sends one datagram to systemd (nil error when there is no
	// systemd to tell).
	notify func(lines ...string) error
	// jitter returns a random duration in [0, max].
	jitter func(max time.Duration) time.Duration
	log    logger
}

// logger is where the supervisor's own messages go (the logSink).
type logger interface {
	Logf(prio journal.Priority, format string, a ...any)
}
