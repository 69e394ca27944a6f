package observe

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// threadStates reads every thread's state of pids.
func threadStates(t *testing.T, pids []int) map[string]byte {
	t.Helper()
	out := map[string]byte{}
	for _, pid := range pids {
		tids, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, tid := range tids {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, tid.Name()))
			if err != nil {
				t.Fatal(err)
			}
			st, err := parseStat(b)
			if err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%d/%s", pid, tid.Name())] = st.State
		}
	}
	return out
}

// Freeze stops every thread of a multi-threaded Go server and of a
// gunicorn arbiter with two workers; while frozen nothing is accepted;
// Thaw lets the queued request through.
func TestFreezeThaw(t *testing.T) {
	for _, sc := range []scenario{
		{name: "go-nethttp-16threads", argv: target("http", "16"), want: "accepting"},
		{name: "gunicorn-2workers", argv: argv(gunicorn, "-w", "2", "wsgiapp:app"), needs: []string{gunicorn}, want: "accepting"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			s, l, _ := sc.run(t)
			pids := s.group(t)
			frozen, err := Live().Freeze(os.Getpid(), s.pgid, deadline)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(frozen) != fmt.Sprint(pids) {
				t.Errorf("Freeze returned %v, group is %v", frozen, pids)
			}
			states := threadStates(t, frozen)
			for th, st := range states {
				if st != 'T' && st != 't' {
					t.Errorf("thread %s in state %c after Freeze", th, st)
				}
			}
			if len(states) < len(frozen) {
				t.Fatalf("no threads seen")
			}
			// A stopped thread still shows the syscall it will resume.
			if w := Live().Accepting(frozen, []Listener{l}); w.Accepting || !strings.Contains(w.Detail, "stopped in ") {
				t.Errorf("Accepting on the frozen group = %+v, want not accepting, threads stopped", w)
			}
			got := make(chan string, 1)
			go func() {
				c, err := net.Dial("tcp", l.Addr.String()) // completes in the backlog
				if err != nil {
					got <- err.Error()
					return
				}
				defer c.Close()
				io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					line = err.Error()
				}
				got <- line
			}()
			// While frozen, nobody takes the connection off the backlog.
			cs, err := Live().Connections(frozen, []Listener{l}, LiveSockets())
			if err != nil || len(cs) != 0 {
				t.Errorf("frozen group holds %v (%v)", cs, err)
			}
			if err := Thaw(s.pgid); err != nil {
				t.Fatal(err)
			}
			select {
			case line := <-got:
				if !strings.HasPrefix(line, "HTTP/1.") || !strings.Contains(line, "200") {
					t.Errorf("after Thaw: %q", line)
				}
			case <-time.After(deadline):
				t.Fatal("no answer after Thaw")
			}
			if !GroupAlive(s.pgid) {
				t.Error("GroupAlive = false for a live group")
			}
		})
	}
}

// A thread that never stops (here: a fixture that says so) makes Freeze
// fail at its timeout naming the thread, on a real group it did stop.
func TestFreezeTimeoutNamesTheThread(t *testing.T) {
	fd, _ := tcpListener(t)
	s := startServer(t, fd, startOpts{}, targetBin(t), "hold")
	s.await(t, "waiting")
	root := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1/task/1/children", fmt.Sprintf("%d ", s.pgid))
	write(fmt.Sprintf("%d/stat", s.pgid), fmt.Sprintf("%d (tar get) D 1 %d %d 0", s.pgid, s.pgid, s.pgid))
	write(fmt.Sprintf("%d/task/%d/stat", s.pgid, s.pgid), fmt.Sprintf("%d (tar get) D 1 %d %d 0", s.pgid, s.pgid, s.pgid))
	write(fmt.Sprintf("%d/task/%d/children", s.pgid, s.pgid), "")
	_, err := FS{Root: root}.Freeze(1, s.pgid, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d thread %d (state D) not stopped", s.pgid, s.pgid)) {
		t.Errorf("Freeze = %v, want a timeout naming the thread", err)
	}
	if err := Thaw(s.pgid); err != nil {
		t.Fatal(err)
	}
}

func TestGroupAliveEmpty(t *testing.T) {
	fd, _ := tcpListener(t)
	s := startServer(t, fd, startOpts{}, "/bin/true")
	s.cmd.Wait()
	if GroupAlive(s.pgid) {
		t.Errorf("GroupAlive(%d) = true after its only process was reaped", s.pgid)
	}
}
