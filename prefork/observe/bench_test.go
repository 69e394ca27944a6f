package observe

import (
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// countingProc counts the /proc reads an operation makes.
type countingProc struct {
	proc
	files, links, dirs, mems int
	cpu0                     time.Duration
}

func (c *countingProc) readFile(rel string) ([]byte, error) { c.files++; return c.proc.readFile(rel) }
func (c *countingProc) readlink(rel string) (string, error) { c.links++; return c.proc.readlink(rel) }
func (c *countingProc) readDir(rel string) ([]string, error) {
	c.dirs++
	return c.proc.readDir(rel)
}
func (c *countingProc) readMem(pid int, addr uint64, n int) ([]byte, error) {
	c.mems++
	return c.proc.readMem(pid, addr, n)
}

// cpu is this process's user+system CPU time so far: under the load of a
// shared 2-core machine, wall time per op mostly measures waiting.
func cpu(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *countingProc) report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(cpu(b)-c.cpu0)/n/1e3, "cpu-µs/op")
	b.ReportMetric(float64(c.files)/n, "files/op")
	b.ReportMetric(float64(c.links)/n, "readlinks/op")
	b.ReportMetric(float64(c.dirs)/n, "dirs/op")
	b.ReportMetric(float64(c.mems)/n, "memreads/op")
}

func benchAccepting(b *testing.B, sc scenario) {
	s, l, _ := sc.run(b)
	ls := []Listener{l}
	pids := s.group(b)
	cp := &countingProc{proc: Live().proc(), cpu0: cpu(b)}
	threads := 0
	for _, pid := range pids {
		tids, _ := os.ReadDir("/proc/" + itoa(pid) + "/task")
		threads += len(tids)
	}
	accepted := 0
	for b.Loop() {
		if accepting(cp, Live().arch(), pids, ls, false, false).Accepting {
			accepted++
		}
	}
	cp.report(b)
	b.ReportMetric(float64(threads), "threads")
	b.ReportMetric(float64(accepted)/float64(b.N), "accepting/op")
}

// One look at a gunicorn group: arbiter and two sync workers.
func BenchmarkAcceptingGunicorn(b *testing.B) {
	benchAccepting(b, scenario{name: "gunicorn", argv: argv(gunicorn, "-w", "2", "wsgiapp:app"), needs: []string{gunicorn}})
}

// One look at a Go net/http server with 64 extra threads blocked in read:
// the thread in epoll_pwait may be any of them.
func BenchmarkAcceptingGo64Threads(b *testing.B) {
	benchAccepting(b, scenario{name: "go64", argv: target("http", "64")})
}

// The worst case, every thread looked at: a 64-thread process that holds
// the listener and waits on it nowhere.
func BenchmarkAcceptingGo64ThreadsNotAccepting(b *testing.B) {
	fd, l := tcpListener(b)
	s := startServer(b, fd, startOpts{stdin: true}, targetBin(b), "conn")
	s.await(b, "waiting")
	s.send(b, "threads 64", "threads")
	ls := []Listener{l}
	pids := s.group(b)
	cp := &countingProc{proc: Live().proc(), cpu0: cpu(b)}
	b.ResetTimer()
	for b.Loop() {
		if accepting(cp, Live().arch(), pids, ls, false, false).Accepting {
			b.Fatal("accepting")
		}
	}
	cp.report(b)
}

func BenchmarkGroupGunicorn(b *testing.B) {
	s, _, _ := scenario{name: "gunicorn", argv: argv(gunicorn, "-w", "2", "wsgiapp:app"), needs: []string{gunicorn}}.run(b)
	cp := &countingProc{proc: Live().proc(), cpu0: cpu(b)}
	b.ResetTimer()
	for b.Loop() {
		if _, err := group(cp, os.Getpid(), s.pgid); err != nil {
			b.Fatal(err)
		}
	}
	cp.report(b)
}

// Connections of a process holding 100 accepted connections, each read
// with pidfd_getfd and its socket options.
func BenchmarkConnections100(b *testing.B) {
	fd, l := tcpListener(b)
	ls := []Listener{l}
	s := startServer(b, fd, startOpts{stdin: true}, targetBin(b), "conn")
	s.await(b, "waiting")
	for range 100 {
		if _, err := io.WriteString(s.stdin, "accept\n"); err != nil {
			b.Fatal(err)
		}
		c := dial(b, l)
		s.await(b, "accepted")
		io.WriteString(c, "x")
	}
	pids := s.group(b)
	cp := &countingProc{proc: Live().proc(), cpu0: cpu(b)}
	b.ResetTimer()
	for b.Loop() {
		cs, err := connections(cp, pids, ls, LiveSockets())
		if err != nil || len(cs) != 100 {
			b.Fatalf("%d connections, %v", len(cs), err)
		}
	}
	cp.report(b)
	b.ReportMetric(100, "sockets/op")
}

// Freeze and Thaw of a gunicorn group (arbiter and two workers).
func BenchmarkFreezeThawGunicorn(b *testing.B) {
	s, _, _ := scenario{name: "gunicorn", argv: argv(gunicorn, "-w", "2", "wsgiapp:app"), needs: []string{gunicorn}}.run(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Live().Freeze(os.Getpid(), s.pgid, time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := Thaw(s.pgid); err != nil {
			b.Fatal(err)
		}
	}
}
