package observe

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// deadline bounds a hang; no verdict depends on it.
const deadline = 60 * time.Second

// tcpListener makes a blocking, close-on-exec listening socket on
// 127.0.0.1:0 and describes it.
func tcpListener(t testing.TB) (int, Listener) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		t.Fatal(err)
	}
	l, err := Describe(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, l
}

// server is a process group started like sdlaunch starts a worker: the
// listener as fd 3, LISTEN_FDS=1, LISTEN_PID its own pid, its own group.
type server struct {
	cmd   *exec.Cmd
	pgid  int
	lines chan string
	stdin io.WriteCloser
	mu    sync.Mutex
	out   []string
}

type startOpts struct {
	env   []string
	dir   string
	creds *syscall.Credential
	stdin bool
}

func startServer(t testing.TB, lfd int, o startOpts, argv ...string) *server {
	t.Helper()
	shArgs := append([]string{"-c", `LISTEN_PID=$$ exec "$@"`, "sh"}, argv...)
	cmd := exec.Command("/bin/sh", shArgs...)
	cmd.Env = append(append(os.Environ(), "LISTEN_FDS=1", "PYTHONUNBUFFERED=1"), o.env...)
	cmd.Dir = o.dir
	// A duplicate for the child: an *os.File closes its fd when collected,
	// so it must not wrap lfd, which tcpListener's cleanup closes. (Fd() on
	// this test's own listener only makes it blocking, as it is.)
	dup, err := unix.FcntlInt(uintptr(lfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	lf := os.NewFile(uintptr(dup), "listener")
	defer lf.Close()
	cmd.ExtraFiles = []*os.File{lf}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: o.creds}
	s := &server{cmd: cmd, lines: make(chan string, 1024)}
	if o.stdin {
		if s.stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	s.pgid = cmd.Process.Pid
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.out = append(s.out, sc.Text())
			s.mu.Unlock()
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		unix.Kill(-s.pgid, unix.SIGKILL)
		unix.Kill(-s.pgid, unix.SIGCONT)
		cmd.Wait()
		pr.Close()
	})
	return s
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.out, "\n")
}

// await reads lines until one contains want.
func (s *server) await(t testing.TB, want string) string {
	t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("server exited before printing %q; output:\n%s", want, s.output())
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-timer.C:
			t.Fatalf("no %q within %v; output:\n%s", want, deadline, s.output())
		}
	}
}

// send writes a command line to the server and waits for its answer.
func (s *server) send(t testing.TB, cmd, answer string) string {
	t.Helper()
	if _, err := io.WriteString(s.stdin, cmd+"\n"); err != nil {
		t.Fatal(err)
	}
	return s.await(t, answer)
}

// group is the server's live process group seen from this test process.
func (s *server) group(t testing.TB) []int {
	t.Helper()
	pids, err := Live().Group(os.Getpid(), s.pgid)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// awaitWait looks until the verdict satisfies ok, and returns it.
func awaitWait(t testing.TB, s *server, ls []Listener, what string, ok func(Wait) bool) Wait {
	t.Helper()
	end := time.Now().Add(deadline)
	var w Wait
	for time.Now().Before(end) {
		w = Live().Accepting(s.group(t), ls)
		if ok(w) {
			return w
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not seen within %v; last verdict %+v; output:\n%s", what, deadline, w, s.output())
	return w
}

func isAccepting(w Wait) bool { return w.Accepting }

// awaitSyscall waits until thread tid of pid is blocked in the named syscall.
func awaitSyscall(t testing.TB, pid, tid int, name string) {
	t.Helper()
	end := time.Now().Add(deadline)
	last := ""
	for time.Now().Before(end) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
		if err != nil {
			t.Fatal(err)
		}
		if sc, err := parseSyscall(b); err == nil && !sc.running && sc.nr >= 0 {
			e, _ := lookupSys(Live().arch(), sc.nr)
			if e.name == name {
				return
			}
			last = e.name
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("thread %d of %d never in %s (last %s)", tid, pid, name, last)
}

var targetOnce struct {
	sync.Once
	path string
	err  error
}

// targetBin builds testdata/target once per test binary, into a directory
// every user can read (the unprivileged tests run it as nobody).
func targetBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("OBSERVE_TARGET"); p != "" { // in a helper process
		return p
	}
	targetOnce.Do(func() {
		dir, err := os.MkdirTemp("", "observe-target-")
		if err != nil {
			targetOnce.err = err
			return
		}
		os.Chmod(dir, 0o755)
		targetOnce.path = filepath.Join(dir, "target")
		out, err := exec.Command("go", "build", "-o", targetOnce.path, "./testdata/target").CombinedOutput()
		if err != nil {
			targetOnce.err = fmt.Errorf("go build ./testdata/target: %v\n%s", err, out)
		}
	})
	if targetOnce.err != nil {
		t.Fatal(targetOnce.err)
	}
	return targetOnce.path
}

func need(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s not installed (scripts/deps.sh installs it)", p)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
