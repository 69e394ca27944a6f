package prefork

import (
	"time"
)

type wstate int

const (
	wStarting wstate = iota // not ready yet
	wReady                  // serving
	wStopping               // asked to stop: waiting for a clean moment, then for its exit; SIGKILL at deadline
	wDying                  // SIGABRT/SIGKILL sent (hung, no boot by its deadline, fast stop)
)

func (s wstate) String() string {
	return [...]string{"starting", "ready", "stopping", "dying"}[s]
}

// workerIO is what a running worker owns besides its process: the pipe its
// output comes through and its private notify socket. The real one is made
// by the spawner; tests use a fake.
type workerIO interface {
	// tail returns the worker's last output lines, joined with " | ".
	tail() string
	// settle waits, at most d, until the output pipe reached EOF, so that
	// tail holds what the worker wrote last.
	settle(d time.Duration)
	// close closes the notify socket.
	close()
}

// worker is one worker process (the leader of its process group). Only the
// supervisor loop touches it.
type worker struct {
	id       *workerID
	state    wstate
	started  time.Time
	readyAt  time.Time
	deadline time.Time // starting: boot deadline; stopping/dying: SIGKILL time
	lastPing time.Time // worker watchdog
	expires  time.Time // max lifetime (zero: never)
	status   string    // the worker's own STATUS=
	errno    string    // the worker's own ERRNO=
	selfStop bool      // the worker sent STOPPING=1
	io       workerIO

	// readiness
	gotReady bool      // READY=1 arrived
	blind    bool      // its group cannot be observed: timer (accept) or READY=1 alone (notify)
	unknowns int       // consecutive looks that could not see (blind after unknownLooks)
	acceptor int       // the process seen waiting for connections when it became ready
	timedOut bool      // the launcher killed it at its start timeout
	lowered  bool      // boots at a lower CPU priority (env.priority) until ready
	nextLook time.Time // next observation (starting) or inspection (stopping)
	looks    int       // observations or inspections so far, for their backoff

	// stopping
	cleanBy   time.Time // stop signal sent by then even with requests in progress
	signalled bool      // the stop signal went out (to the main process, or to the group once it exited)
	mainGone  bool      // the main process exited; the rest of its group is being stopped
	busy      int       // requests in progress at the last inspection
	retired   bool      // tears down at the lowest priority (env.retire)
	busyWhy   string
}

// unknownLooks is how many looks in a row must fail to see before a worker
// is taken for unobservable: one can be passing (a wait resumed after a
// signal shows as restart_syscall, whose arguments /proc does not show).
const unknownLooks = 3

// lookDelay spaces out the observations of a booting worker: 5 ms, doubling
// to 50 ms, so a fast app is ready within a few ms and a slow import costs
// little.
func lookDelay(looks int) time.Duration {
	return min(5*time.Millisecond<<min(looks, 10), 50*time.Millisecond)
}

// inspectDelay spaces out the inspections of a worker being stopped while
// it has requests in progress: 2 ms, doubling to 50 ms.
func inspectDelay(looks int) time.Duration {
	return min(2*time.Millisecond<<min(looks, 10), 50*time.Millisecond)
}

func (w *worker) pid() int { return w.id.pid }
