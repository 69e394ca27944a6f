package prefork

import (
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// A worker that logs one line per request (Werkzeug's and uvicorn's access
// logs, gunicorn's with --access-logfile -) wakes its forwarder once per
// line, and a wakeup is what a line costs the launcher: the netpoll wakeup,
// the Go scheduler's threads woken to spin and put back to sleep, a read,
// and a read that finds the pipe empty. A Werkzeug worker under a
// standalone launcher, closed loop at about 1,100 req/s on 2 CPUs: 44-56 µs
// of launcher CPU per line in 10 runs, beside some 700 µs for the request
// itself; 26-43 µs in 7 with the pause below, 30-54 µs in 7 with
// time.Sleep instead of a thread's nanosleep (a Go timer wakes the
// scheduler again).
//
// pacedReader pauses the forwarder's thread for paceDelay before it reads
// again after a read that emptied the pipe (it brought less than it asked
// for) and brought less than paceBelow bytes, so that lines that come one
// at a time are read a few at a time. It never slows a worker: in
// paceDelay a writer fills its empty pipe (pipeSize, or Linux's default 64
// KiB where F_SETPIPE_SZ is refused) only above 13 MB/s (130,000 lines of
// 100 bytes a second), and a read that brings paceBelow or more is
// followed by the next one at once. A line reaches the journal or the
// terminal at most paceDelay later; a pipe that is idle costs no thread
// (the read waits in Go's poller, the pause only follows a read that
// brought something).
const (
	paceDelay = 5 * time.Millisecond
	paceBelow = 16 * 1024
)

type pacedReader struct {
	r     io.Reader
	sleep func(time.Duration) // threadSleep; a fake in tests
	pause bool                // the previous read emptied the pipe, and brought little
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.pause {
		p.sleep(paceDelay)
	}
	n, err := p.r.Read(b)
	p.pause = n > 0 && n < len(b) && n < paceBelow
	return n, err
}

// threadSleep blocks the calling goroutine's thread in nanosleep(2): one
// wakeup when it ends, where a Go timer would go through the scheduler.
func threadSleep(d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
