package observe

import (
	"fmt"
	"strconv"
	"strings"
)

// Wait is the verdict of one look at whether a group waits for connections.
type Wait struct {
	// PID is the process seen waiting, when Accepting.
	PID int
	// Accepting: some thread of the pids is blocked waiting for connections
	// on a listener (in accept, or in poll/select/epoll with it in the set).
	Accepting bool
	// Detail says which thread and how, or, when not accepting, what the
	// threads of the processes holding a listener were doing.
	Detail string
	// Unknown is non-empty when, and only when, Accepting is false and
	// something could not be seen (a permission problem, a wait the kernel
	// does not expose such as io_uring): "not accepting" cannot be told
	// then, and the caller must not treat it as such.
	Unknown string
}

// Accepting looks at every thread of pids and reports whether one of them
// waits for connections on one of ls. Only processes holding a listener fd
// are looked into (accept and poll need the fd), in pid order, and the
// first thread seen waiting ends the look. It is a snapshot: a busy worker
// handling a request right now is not waiting, so readiness is "seen
// accepting once", and a negative answer only means "not at this instant".
// A stopped thread (a frozen group) is not waiting, though /proc still
// shows the syscall it will resume.
func (fs FS) Accepting(pids []int, ls []Listener) Wait {
	return accepting(fs.proc(), fs.arch(), pids, ls, false, false)
}

// Parked is Accepting for a frozen group: whether a thread of pids, stopped,
// will resume a wait for connections on one of ls. A process whose app
// handles its stop signal late (Python raises KeyboardInterrupt at its next
// step) must be stopped while it is parked there: caught mid-loop, between
// poll and accept, it would accept more before it stops.
func (fs FS) Parked(pids []int, ls []Listener) Wait {
	return accepting(fs.proc(), fs.arch(), pids, ls, true, false)
}

// AwaitsInput reports whether a thread of the frozen pids will resume a
// wait for input on the accepted connection c: blocked in read or recv on
// it, or in poll, select or epoll with it in the set. A connection that
// looks idle (its last response sent, nothing received since) and that no
// thread waits on may be one whose response is half written: its server
// thread sent the headers and was frozen before the body.
func (fs FS) AwaitsInput(pids []int, c Conn) Wait {
	l := Listener{Inode: c.Inode, Network: c.Info.Network}
	return accepting(fs.proc(), fs.arch(), pids, []Listener{l}, true, true)
}

type unknowns struct {
	first string
	n     int
}

func (u *unknowns) add(format string, a ...any) {
	if u.n == 0 {
		u.first = fmt.Sprintf(format, a...)
	}
	u.n++
}

func (u unknowns) String() string {
	switch u.n {
	case 0:
		return ""
	case 1:
		return u.first
	}
	return fmt.Sprintf("%s (and %d more)", u.first, u.n-1)
}

func accepting(p proc, arch string, pids []int, ls []Listener, parked, reads bool) Wait {
	if _, ok := lookupSys(arch, 0); !ok {
		return Wait{Unknown: "observation not supported on GOARCH " + arch}
	}
	if len(ls) == 0 {
		return Wait{Unknown: "no listeners to look for"}
	}
	byIno := make(map[uint64]int, len(ls))
	for i, l := range ls {
		byIno[l.Inode] = i
	}
	var unk unknowns
	var seen []string // "pid 42: select, running"
	for _, pid := range pids {
		fds, err := readFDs(p, pid)
		if err != nil {
			if gone(err) {
				continue
			}
			unk.add("%v", err)
			continue
		}
		held := map[int]int{} // fd -> listener index
		for fd, ino := range fds.sock {
			if li, ok := byIno[ino]; ok {
				held[fd] = li
			}
		}
		if len(held) == 0 {
			continue // without a listener fd a process cannot accept on it
		}
		w, waits := pidAccepting(p, arch, pid, fds, held, byIno, ls, &unk, parked, reads)
		if w != nil {
			return *w
		}
		seen = append(seen, fmt.Sprintf("pid %d: %s", pid, strings.Join(waits, ", ")))
	}
	w := Wait{Unknown: unk.String()}
	if len(seen) == 0 {
		w.Detail = "no process holds a listener"
	} else {
		w.Detail = "no thread waits on a listener; " + strings.Join(seen, "; ")
	}
	return w
}

// pidAccepting looks at each thread of pid. It returns the verdict when a
// thread accepts, else what the threads were doing (compressed: "futex x3").
func pidAccepting(p proc, arch string, pid int, fds fdTable, held map[int]int, byIno map[uint64]int, ls []Listener, unk *unknowns, parked, reads bool) (*Wait, []string) {
	tids, err := p.readDir(strconv.Itoa(pid) + "/task")
	if err != nil {
		if !gone(err) {
			unk.add("%v", err)
		}
		return nil, []string{"gone"}
	}
	var waits []string
	for _, t := range tids {
		tid, err := strconv.Atoi(t)
		if err != nil {
			continue
		}
		rel := strconv.Itoa(pid) + "/task/" + t + "/syscall"
		b, err := p.readFile(rel)
		if err != nil {
			if !gone(err) {
				unk.add("%v", err)
				waits = append(waits, "unreadable")
			}
			continue
		}
		sc, err := parseSyscall(b)
		if err != nil {
			unk.add("%s: %v", p.path(rel), err)
			waits = append(waits, "unparsable")
			continue
		}
		if sc.running {
			waits = append(waits, "running")
			continue
		}
		if sc.nr < 0 {
			waits = append(waits, "not in a syscall")
			continue
		}
		e, _ := lookupSys(arch, sc.nr)
		var hit *Wait
		found := func(li, fd int, how string) {
			hit = &Wait{Accepting: true, PID: pid, Detail: fmt.Sprintf("pid %d thread %d in %s on %s (fd %d%s)", pid, tid, e.name, ls[li], fd, how)}
		}
		switch e.kind {
		case sysAccept:
			if li, ok := held[int(sc.args[0])]; ok {
				found(li, int(sc.args[0]), "")
			}
		case sysRead:
			if li, ok := held[int(sc.args[0])]; ok && reads {
				found(li, int(sc.args[0]), "")
			}
		case sysPoll:
			set, err := pollSet(p, pid, sc.args[0], sc.args[1])
			if err != nil {
				unk.add("pid %d thread %d in %s: %v", pid, tid, e.name, err)
				break
			}
			for _, fd := range set {
				if li, ok := held[fd]; ok {
					found(li, fd, "")
					break
				}
			}
		case sysSelect:
			set, err := selectSet(p, pid, sc.args[0], sc.args[1], sortedKeys(held))
			if err != nil {
				unk.add("pid %d thread %d in %s: %v", pid, tid, e.name, err)
				break
			}
			if len(set) > 0 {
				found(held[set[0]], set[0], "")
			}
		case sysEpoll:
			epfd := int(sc.args[0])
			h, err := epollWatch(p, pid, epfd, fds, byIno, 0)
			if err != nil {
				unk.add("pid %d thread %d in %s: %v", pid, tid, e.name, err)
				break
			}
			if h != nil {
				via := ", epoll fd " + strconv.Itoa(epfd)
				for _, v := range h.via {
					via += " -> " + strconv.Itoa(v)
				}
				found(h.listener, h.tfd, via)
			}
		case sysOpaque:
			unk.add("pid %d thread %d waits in %s, which /proc does not show into", pid, tid, e.name)
		case sysRestart:
			unk.add("pid %d thread %d is in restart_syscall (a wait resumed after a stop), whose arguments /proc does not show", pid, tid)
		}
		if hit != nil {
			// A stopped thread (SIGSTOP, a frozen group) still shows the
			// syscall it will resume: it is not waiting now.
			stopped := false
			if st, err := threadState(p, pid, t); err == nil && (st == 'T' || st == 't') {
				stopped = true
			}
			if stopped != parked {
				waits = append(waits, map[bool]string{true: "stopped in ", false: "not stopped, in "}[stopped]+e.name)
				continue
			}
			return hit, nil
		}
		waits = append(waits, e.name)
	}
	return nil, compress(waits)
}

func sortedKeys(m map[int]int) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortInts(out)
	return out
}

// compress turns [a a b a] into [a x3, b] (first-seen order).
func compress(names []string) []string {
	count := map[string]int{}
	var order []string
	for _, n := range names {
		if count[n] == 0 {
			order = append(order, n)
		}
		count[n]++
	}
	out := make([]string, len(order))
	for i, n := range order {
		if count[n] > 1 {
			out[i] = fmt.Sprintf("%s x%d", n, count[n])
		} else {
			out[i] = n
		}
	}
	return out
}

func threadState(p proc, pid int, tid string) (byte, error) {
	b, err := p.readFile(strconv.Itoa(pid) + "/task/" + tid + "/stat")
	if err != nil {
		return 0, err
	}
	st, err := parseStat(b)
	return st.State, err
}
