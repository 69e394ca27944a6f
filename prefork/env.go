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
	// stopSignal sends a worker's main process its stop signal (nil: kill).
	stopSignal func(pid int, sig syscall.Signal) error
	// notify sends one datagram to systemd (nil error when there is no
	// systemd to tell).
	notify func(lines ...string) error
	// priority lowers the CPU priority of group pgid while it boots beside
	// a serving worker (booting) or gives it the launcher's back; nil:
	// successors boot at the launcher's priority.
	priority func(pgid int, booting bool)
	// serving reports whether a process of group pgid still holds a
	// listening socket or a connection it accepted (true when it cannot
	// tell); retire gives group pgid the lowest CPU priority
	// for its teardown. nil: retired workers tear down at the priority
	// they served at.
	serving func(pgid int) bool
	retire  func(pgid int)
	// jitter returns a random duration in [0, max].
	jitter func(max time.Duration) time.Duration
	log    logger

	// observe looks at process group pgid: does one of its processes wait
	// for connections on a listening socket? nil: the launcher cannot look.
	observe func(pgid int) observation
	// freeze stops every process of group pgid (SIGSTOP) and returns once
	// they have all stopped; busy then counts the accepted connections its
	// processes hold with a request in progress; thaw continues the group.
	// A freeze error wrapping observe.ErrNotStopped (a thread did not stop
	// in time; the group is thawed) is worth another try. A nil freeze
	// means stops cannot be made lossless here.
	freeze func(pgid int) error
	busy   func(pgid int) (n int, detail string, err error)
	thaw   func(pgid int)
	// alive reports whether any process is left in group pgid.
	alive func(pgid int) bool
	// forget drops what was remembered of group pgid between looks.
	forget func(pgid int)
	// At a stop the standalone launcher has nobody to hand the sockets it
	// bound to (systemd's are systemd's, and none of this touches them):
	// hold makes them admit no new connection while what is queued can
	// still be accepted, queued counts what waits in their queues, and
	// unlisten closes the launcher's copies, so that each is gone (and a
	// connection refused) once the last worker lets go of it.
	hold     func()
	queued   func() int
	unlisten func()
	// relisten sets the sockets' listen(2) backlog back to --backlog: a
	// booting worker may have called listen(2) with its own (gunicorn
	// does, at every boot). nil: leave the backlog as it is.
	relisten func()

	// catches reports whether process pid handles sig itself; parked
	// whether a thread of the frozen process pid will resume a wait for
	// connections on a listening socket.
	catches func(pid int, sig syscall.Signal) bool
	parked  func(pid int) bool
}

// observation is what the launcher saw of a worker's process group.
type observation struct {
	accepting bool
	pid       int    // the process seen waiting
	detail    string // who waits, where ("pid 42 in epoll_wait on tcp 127.0.0.1:8000")
	unknown   string // why the launcher could not see; "" when it could
}

// logger is where the supervisor's own messages go (the logSink).
type logger interface {
	Logf(prio journal.Priority, format string, a ...any)
}
