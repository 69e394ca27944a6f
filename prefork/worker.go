package prefork

import (
	"time"
)

type wstate int

const (
	wStarting wstate = iota // not ready yet
	wReady                  // serving
	wStopping               // stop signal sent; SIGKILL at deadline
	wDying                  // SIGABRT/SIGKILL sent (hung, or no boot by the deadline)
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
}

func (w *worker) pid() int { return w.id.pid }
