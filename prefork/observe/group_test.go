package observe

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func statOf(t *testing.T, pid int) procStat {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseStat(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A daemonised grandchild is re-parented to the launcher (a subreaper) and
// stays in the group: Group finds it, and it is what accepts.
func TestGroupFindsReparentedOrphan(t *testing.T) {
	need(t, py)
	fd, l := tcpListener(t)
	s := startServer(t, fd, startOpts{dir: appsDir(t)}, "/bin/sh", "-c", "("+py+" blocking.py &); exec sleep 1000")
	s.await(t, "waiting")
	w := awaitWait(t, s, []Listener{l}, "orphan accepting", isAccepting)
	pids := s.group(t)
	var orphan int
	for _, pid := range pids {
		if st := statOf(t, pid); pid != s.pgid && st.PPID == os.Getpid() {
			orphan = pid
		}
	}
	if orphan == 0 || !slices.Contains(pids, s.pgid) {
		t.Fatalf("group %v: want the sh leader and an orphan re-parented to %d", pids, os.Getpid())
	}
	if want := fmt.Sprintf("pid %d ", orphan); w.Detail[:len(want)] != want {
		t.Errorf("Detail %q, want the orphan %d", w.Detail, orphan)
	}
}

// Zombies of the group are not members: they hold nothing.
func TestGroupSkipsZombies(t *testing.T) {
	need(t, py)
	fd, _ := tcpListener(t)
	s := startServer(t, fd, startOpts{dir: appsDir(t)}, py, "blocking.py", "zombie")
	s.await(t, "waiting")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", s.pgid, s.pgid))
	if err != nil {
		t.Fatal(err)
	}
	var zombie int
	if _, err := fmt.Sscan(string(b), &zombie); err != nil {
		t.Fatalf("no child of %d: %q", s.pgid, b)
	}
	end := time.Now().Add(deadline)
	for st := statOf(t, zombie); st.State != 'Z' || st.PGID != s.pgid; st = statOf(t, zombie) {
		if time.Now().After(end) {
			t.Fatalf("child %d: %+v, want a zombie of group %d", zombie, st, s.pgid)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if pids := s.group(t); !slices.Equal(pids, []int{s.pgid}) {
		t.Errorf("Group = %v, want only %d (not the zombie %d)", pids, s.pgid, zombie)
	}
}

// pathsProc records the paths a walk reads.
type pathsProc struct {
	proc
	read []string
}

func (p *pathsProc) readFile(rel string) ([]byte, error) {
	p.read = append(p.read, rel)
	return p.proc.readFile(rel)
}

func (p *pathsProc) readDir(rel string) ([]string, error) {
	p.read = append(p.read, rel)
	return p.proc.readDir(rel)
}

// A look at one worker does not walk another's processes: each worker's
// main process leads a group of its own, and what is under it is its own.
func TestGroupDoesNotWalkAnotherWorker(t *testing.T) {
	fd, _ := tcpListener(t)
	forked := "sleep 1000 & echo waiting; wait"
	a := startServer(t, fd, startOpts{}, "/bin/sh", "-c", forked)
	a.await(t, "waiting")
	b := startServer(t, fd, startOpts{}, "/bin/sh", "-c", forked)
	b.await(t, "waiting")
	bPids := b.group(t)
	if len(bPids) != 2 {
		t.Fatalf("group %d = %v, want sh and its sleep", b.pgid, bPids)
	}
	pp := &pathsProc{proc: Live().proc()}
	pids, err := group(pp, os.Getpid(), a.pgid)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 2 || pids[0] != a.pgid {
		t.Errorf("group %d = %v, want sh and its sleep", a.pgid, pids)
	}
	for _, rel := range pp.read {
		for _, p := range bPids {
			if rel != fmt.Sprintf("%d/stat", b.pgid) && strings.HasPrefix(rel, fmt.Sprintf("%d/", p)) {
				t.Errorf("the look at group %d read %s, of group %d", a.pgid, rel, b.pgid)
			}
		}
	}
}
