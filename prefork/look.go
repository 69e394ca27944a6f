package prefork

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sdlaunch/sdlaunch/activation"
	"github.com/sdlaunch/sdlaunch/prefork/observe"
)

// freezeTimeout bounds how long a stop waits for a frozen group's threads
// to actually stop (one in an uninterruptible sleep stops only when it
// leaves it); past it the group is thawed and signalled without a look.
const freezeTimeout = 200 * time.Millisecond

// looker is the real env's eyes: the launcher's listening sockets as the
// kernel knows them, and, for each group being stopped, its connections at
// the previous look (an idle keep-alive connection is told from one that
// is still moving by comparing two looks). Only the supervisor loop calls
// it.
type looker struct {
	fs     observe.FS
	self   int
	ls     []observe.Listener
	socks  *observe.Fallback
	logf   func(prio journal.Priority, format string, a ...any)
	warned bool   // the fallback to /proc/PID/net was logged
	blind  string // why nothing can be observed at all ("" when it can)
	frozen map[int][]int
	prev   map[int]map[uint64]observe.SockInfo
	// blindAt: when each group's held connections were last read from
	// /proc/PID/net (pidfd_getfd refused), to read those big tables for
	// readiness at most once per blindEvery.
	blindAt map[int]time.Time
}

// blindEvery spaces out the readiness looks that read /proc/PID/net: its
// tcp tables list every socket of the network namespace, TIME_WAIT ones
// too (36 ms for 14,000 lines under a connection-per-request load).
const blindEvery = time.Second

func newLooker(socks []*activation.Socket, logf func(prio journal.Priority, format string, a ...any)) *looker {
	fs := observe.Live()
	l := &looker{fs: fs, self: os.Getpid(), logf: logf,
		frozen: map[int][]int{}, prev: map[int]map[uint64]observe.SockInfo{}, blindAt: map[int]time.Time{}}
	var skipped []string
	for _, s := range socks {
		d, err := observe.Describe(s.FD())
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", s, err))
			continue
		}
		l.ls = append(l.ls, d)
	}
	l.socks = observe.FallbackSockets(fs, l.ls)
	if len(l.ls) == 0 {
		l.blind = "no listening stream socket to watch: " + strings.Join(skipped, "; ")
	}
	return l
}

func (l *looker) observe(pgid int) observation {
	if l.blind != "" {
		return observation{unknown: l.blind}
	}
	pids, err := l.fs.Group(l.self, pgid)
	if err != nil {
		return observation{unknown: err.Error()}
	}
	w := l.fs.Accepting(pids, l.ls)
	if w.Accepting {
		delete(l.blindAt, pgid) // no more readiness looks at it
	} else if w.Unknown == "" {
		if c, ok := l.holding(pgid, pids); ok {
			delete(l.blindAt, pgid)
			return observation{accepting: true, pid: c.PID, detail: fmt.Sprintf("%s: it holds a connection it accepted", c)}
		}
	}
	return observation{accepting: w.Accepting, pid: w.PID, detail: w.Detail, unknown: w.Unknown}
}

// holding finds a connection accepted from a listener that a process of
// the group holds: the group has accepted, though it may never be seen
// waiting (a saturated sync server, such as gunicorn's worker with a full
// backlog, goes from one connection to the next: in the bench, restarted
// under load, one was not seen waiting in 60 s). Where pidfd_getfd is
// refused, the look reads sock_diag, and /proc/PID/net (where AF_NETLINK
// is refused too) at most once per blindEvery.
func (l *looker) holding(pgid int, pids []int) (observe.Conn, bool) {
	if l.socks.Slow() {
		if at, ok := l.blindAt[pgid]; ok && time.Since(at) < blindEvery {
			return observe.Conn{}, false
		}
		l.blindAt[pgid] = time.Now()
	}
	c, ok, err := l.fs.Holding(pids, l.ls, l.socks)
	l.warnDegraded()
	return c, ok && err == nil
}

// serving: a process of group pgid still holds a listening socket (it may
// accept again) or a connection accepted from one. True when the look
// cannot tell, or would need /proc/PID/net's big tables (see holding).
// Not "waits for connections": a saturated sync worker told to stop goes
// on from one connection to the next until it sees the signal, and a look
// between two of them saw it neither waiting nor holding one; lowered
// then, it served its next requests at nice 19 (make bench, systemd open
// loop: retired gunicorn workers runnable at nice 19 while requests timed
// out).
func (l *looker) serving(pgid int) bool {
	if l.blind != "" || l.socks.Slow() {
		return true
	}
	pids, err := l.fs.Group(l.self, pgid)
	if err != nil {
		return true
	}
	if held, err := l.fs.HoldsListener(pids, l.ls); held || err != nil {
		return true
	}
	_, ok, err := l.fs.Holding(pids, l.ls, l.socks)
	return ok || err != nil
}

// parked: a thread of the frozen process pid will resume a wait for
// connections.
func (l *looker) parked(pid int) bool {
	return l.blind == "" && l.fs.Parked([]int{pid}, l.ls).Accepting
}

func (l *looker) freeze(pgid int) error {
	if l.blind != "" {
		return fmt.Errorf("%s", l.blind)
	}
	pids, err := l.fs.Freeze(l.self, pgid, freezeTimeout)
	if err != nil {
		_ = observe.Thaw(pgid)
		return err
	}
	l.frozen[pgid] = pids
	return nil
}

// busy counts the connections of a frozen group that may have a request in
// progress, and names a few of them.
func (l *looker) busy(pgid int) (int, string, error) {
	conns, err := l.fs.Connections(l.frozen[pgid], l.ls, l.socks)
	if err != nil {
		return 0, "", err
	}
	prev, next := l.prev[pgid], make(map[uint64]observe.SockInfo, len(conns))
	n := 0
	var why []string
	for _, c := range conns {
		busy, reason := observe.InProgress(prev, c)
		if !busy && observe.Idle(c) {
			// Idle by the kernel's times, yet no thread waits for its next
			// request: its server thread may have sent the headers and been
			// frozen before the body (seen: Werkzeug's threads, 1 request in
			// ~5,000 cut during reloads, "200 with unexpected EOF").
			if w := l.fs.AwaitsInput(l.frozen[pgid], c); !w.Accepting && w.Unknown == "" {
				busy, reason = true, reason+", but no thread waits for its next request: its response may be half written"
			}
		}
		next[c.Inode] = c.Info
		if busy {
			n++
			if len(why) < 3 {
				why = append(why, c.Info.Peer+": "+reason)
			}
		}
	}
	l.prev[pgid] = next
	l.warnDegraded()
	return n, strings.Join(why, "; "), nil
}

// warnDegraded logs, once, that the workers' sockets are read from
// /proc/PID/net because pidfd_getfd is refused.
func (l *looker) warnDegraded() {
	if d := l.socks.Degraded(); d != "" && !l.warned {
		l.warned = true
		l.logf(prioWarning, "cannot duplicate workers' sockets (%s): stops wait for a worker to hold no connection at all, without the kernel's traffic times (allow pidfd_getfd in the seccomp filter, e.g. systemd-nspawn --system-call-filter=pidfd_getfd)", d)
	}
}

func (l *looker) thaw(pgid int) {
	delete(l.frozen, pgid)
	_ = observe.Thaw(pgid)
}

func (l *looker) forget(pgid int) {
	delete(l.frozen, pgid)
	delete(l.prev, pgid)
	delete(l.blindAt, pgid)
}
