package launcher

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/testapp/report"
	"golang.org/x/sys/unix"
)

// spec describes one launcher run.
type spec struct {
	Args    []string // options of `sdlaunch run`, before "--"; the fixture adds the --listen ones
	Command []string // COMMAND [ARG...] after "--"; the testapp when nil
	Env     []string // extra environment of the launcher (workers inherit it)
	Notify  bool     // give the launcher a test NOTIFY_SOCKET
	Dir     string   // working directory

	// Port is the TCP port on 127.0.0.1 the launcher serves on (launcher.url
	// and launcher.client use it); a free one when 0.
	Port int
	// Listen are the --listen values; when nil, one: 127.0.0.1:Port.
	Listen []string
	// ClientTimeout bounds one request of launcher.client; 10s when 0.
	ClientTimeout time.Duration

	// Wrap runs the launcher through another program: the argv is
	// Wrap + [sdlaunch run ARGS -- COMMAND].
	Wrap []string
	// ID is the marker value; a fresh one when empty. Tests whose wrapper
	// passes an explicit environment (systemd-socket-activate -E) make it
	// with newID and put the marker into Wrap themselves.
	ID string
	// NotifyListener is a test NOTIFY_SOCKET the test made itself (and
	// passed through Wrap); it is only recorded for the failure dump.
	NotifyListener *notifyListener
	// ExtraFiles are inherited by the launcher as fds 3, 4, ... (without
	// LISTEN_FDS: stray descriptors, like a CI agent's).
	ExtraFiles []*os.File

	// Tap sees every line of the launcher's stdout and stderr (from two
	// goroutines) before it is kept; false drops the line. For floods of
	// output that the test checks as they come instead of keeping them.
	Tap func(line string) bool
	// StderrPipeSize is the capacity of the launcher's stderr pipe
	// (F_SETPIPE_SZ); the kernel's default (64 KiB) when 0.
	StderrPipeSize int
}

// launcher is one `sdlaunch run` process under test.
type launcher struct {
	t      *testing.T
	id     string
	cmd    *exec.Cmd
	pid    int          // the process the test started: the launcher, or its guardian
	main   int          // the launcher proper, once mainPid found it
	port   int          // the TCP port it serves on (spec.Port)
	client *http.Client // one connection per request, spec.ClientTimeout
	notify *notifyListener
	stderr *feed[string]
	stdout *feed[string]
	outEOF chan struct{} // both pipes reached EOF: nobody holds them any more
	exited chan struct{}
	state  *os.ProcessState
}

// newID returns a marker value unique to this test run.
func newID(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	return name + "-" + hex.EncodeToString(b[:])
}

// cleanEnv is the test's environment without anything that would change the
// launcher's behaviour behind the test's back.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "LISTEN_"), strings.HasPrefix(k, "WATCHDOG_"),
			strings.HasPrefix(k, "SDLAUNCH_"), strings.HasPrefix(k, "TESTAPP_"),
			strings.HasPrefix(k, "WERKZEUG_"),
			k == "NOTIFY_SOCKET", k == "JOURNAL_STREAM", k == "INVOCATION_ID":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// start starts a launcher and registers its cleanup: SIGKILL of its process
// group if it still runs, then a check that no process with the test's marker
// survives it (the leftovers are killed and the test fails).
func start(t *testing.T, s spec) *launcher {
	t.Helper()
	l := &launcher{
		t:      t,
		id:     s.ID,
		port:   s.Port,
		stderr: newFeed[string](),
		stdout: newFeed[string](),
		outEOF: make(chan struct{}),
		exited: make(chan struct{}),
	}
	if l.id == "" {
		l.id = newID(t)
	}
	if l.port == 0 {
		l.port = freePort(t)
	}
	timeout := s.ClientTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	l.client = client(timeout)
	command := s.Command
	if command == nil {
		command = []string{bin.testapp}
	}
	listen := s.Listen
	if listen == nil {
		listen = []string{listenArg(l.port)}
	}
	argv := append([]string{}, s.Wrap...)
	argv = append(argv, bin.sdlaunch, "run")
	argv = append(argv, s.Args...)
	for _, a := range listen {
		argv = append(argv, "-l", a)
	}
	argv = append(argv, "--")
	argv = append(argv, command...)

	env := append(cleanEnv(), l.markerAssignment())
	l.notify = s.NotifyListener
	if s.Notify {
		l.notify = listenNotify(t)
		env = append(env, "NOTIFY_SOCKET="+l.notify.path)
	}
	env = append(env, s.Env...)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if s.StderrPipeSize > 0 {
		// On the write end, which exec hands to the launcher (and makes
		// blocking) anyway.
		if _, err := unix.FcntlInt(errW.Fd(), unix.F_SETPIPE_SZ, s.StderrPipeSize); err != nil {
			t.Fatalf("F_SETPIPE_SZ %d: %v", s.StderrPipeSize, err)
		}
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.ExtraFiles = s.ExtraFiles
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	outW.Close()
	errW.Close()
	l.cmd, l.pid = cmd, cmd.Process.Pid
	t.Logf("started launcher pid %d (%s=%s): %s", l.pid, markerVar, l.id, strings.Join(argv, " "))

	outDone, errDone := make(chan struct{}), make(chan struct{})
	go readLines(outR, l.stdout, s.Tap, outDone)
	go readLines(errR, l.stderr, s.Tap, errDone)
	go func() {
		<-outDone
		<-errDone
		close(l.outEOF)
	}()
	go func() {
		_ = cmd.Wait()
		l.state = cmd.ProcessState
		close(l.exited)
	}()
	t.Cleanup(l.cleanup)
	return l
}

// startServing starts a launcher of the testapp with n workers, waits until
// the launcher has seen all n ready and n distinct workers have answered
// /pid, and returns their pids. An answer alone is not readiness: the
// launcher's look may come later, and a worker stopped or killed before it
// is a boot failure, not the stuck or crashed worker a test meant (CI run
// 21: TestWorkerWatchdogReplacesStuckWorker's SIGSTOP came first, and
// --start-timeout, not the watchdog, ended the worker).
func startServing(t *testing.T, s spec, n int) (*launcher, map[int]bool) {
	t.Helper()
	l := start(t, s)
	l.waitStderr(0, fmt.Sprintf(`^sdlaunch: ready: %d/%d ready`, n, n), time.Minute)
	l.waitServing("/pid", 20*time.Second)
	return l, l.distinctPids("/pid", n, 20*time.Second)
}

// markerAssignment is "SDLAUNCH_TEST_ID=<id>".
func (l *launcher) markerAssignment() string { return markerVar + "=" + l.id }

func (l *launcher) cleanup() {
	t := l.t
	select {
	case <-l.exited:
	default:
		_ = syscall.Kill(-l.pid, syscall.SIGKILL)
		select {
		case <-l.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("launcher pid %d did not die of SIGKILL within 10s", l.pid)
		}
	}
	assertNoLeftovers(t, l.id, 10*time.Second)
	if t.Failed() {
		l.dumpLogs()
	}
}

func (l *launcher) dumpLogs() {
	t := l.t
	max := 80
	// CI sets it: the lines that say why are often before a stack dump's.
	if os.Getenv("SDLAUNCH_TEST_FULL_LOGS") != "" {
		max = 1 << 30
	}
	for _, s := range []struct {
		name string
		f    *feed[string]
	}{{"stderr", l.stderr}, {"stdout", l.stdout}} {
		lines := s.f.snapshot()
		if len(lines) == 0 {
			continue
		}
		skipped := 0
		if len(lines) > max {
			skipped = len(lines) - max
			lines = lines[skipped:]
		}
		var b strings.Builder
		for _, ln := range lines {
			if len(ln) > 160 {
				ln = ln[:160] + fmt.Sprintf("...(%d bytes)", len(ln))
			}
			b.WriteString("    " + ln + "\n")
		}
		t.Logf("launcher %s (%d earlier lines skipped):\n%s", s.name, skipped, b.String())
	}
	if l.notify != nil {
		t.Logf("NOTIFY_SOCKET datagrams:\n%s", l.notify.dump())
	}
}

// running reports whether the launcher process is still alive.
func (l *launcher) running() bool {
	select {
	case <-l.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the launcher process (not its group).
func (l *launcher) signal(sig syscall.Signal) {
	l.t.Helper()
	if err := syscall.Kill(l.pid, sig); err != nil {
		l.t.Fatalf("kill -%d %d: %v", sig, l.pid, err)
	}
}

// waitExit waits for the launcher to exit and returns its exit status
// (-1 when a signal ended it).
func (l *launcher) waitExit(timeout time.Duration) int {
	l.t.Helper()
	select {
	case <-l.exited:
		return l.state.ExitCode()
	case <-time.After(timeout):
		l.t.Fatalf("launcher pid %d still running after %s", l.pid, timeout)
		return -1
	}
}

// waitOutput waits until both of the launcher's pipes reached EOF: every
// line anyone wrote to them is in l.stdout and l.stderr.
func (l *launcher) waitOutput(timeout time.Duration) {
	l.t.Helper()
	select {
	case <-l.outEOF:
	case <-time.After(timeout):
		l.t.Fatalf("the launcher's stdout/stderr still open %s later", timeout)
	}
}

// waitStderr waits for a stderr line at index >= from matching re.
func (l *launcher) waitStderr(from int, re string, timeout time.Duration) (int, string) {
	l.t.Helper()
	rx := regexp.MustCompile(re)
	i, line := l.stderr.waitFor(from, timeout, rx.MatchString)
	if i < 0 {
		l.t.Fatalf("no stderr line matching %q within %s", re, timeout)
	}
	return i, line
}

// countStderr counts the stderr lines so far that contain s.
func (l *launcher) countStderr(s string) int {
	n := 0
	for _, ln := range l.stderr.snapshot() {
		if strings.Contains(ln, s) {
			n++
		}
	}
	return n
}

// waitTestappsServing waits for n more "serving" lines of the testapp after
// stderr index from (logged once its signal handling is in place), and
// returns the index after the last one.
func (l *launcher) waitTestappsServing(from, n int, timeout time.Duration) int {
	l.t.Helper()
	for range n {
		i, _ := l.waitStderr(from, `testapp: w=\d+ pid=\d+ serving on`, timeout)
		from = i + 1
	}
	return from
}

// mainPid is the launcher proper: pid itself when it runs under systemd
// (or systemd-socket-activate), else the child of pid, its guardian, which
// the operator started and which forwards its signals (prefork.Guard).
func (l *launcher) mainPid() int {
	l.t.Helper()
	if l.main != 0 {
		return l.main
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", l.pid))
	if err != nil {
		l.t.Fatalf("launcher %d: %v", l.pid, err)
	}
	for _, kv := range strings.Split(string(env), "\x00") {
		for _, k := range []string{"NOTIFY_SOCKET=", "LISTEN_FDS=", "INVOCATION_ID="} {
			if strings.HasPrefix(kv, k) {
				l.main = l.pid
				return l.main
			}
		}
	}
	waitUntil(l.t, 30*time.Second, "the launcher started", func() bool {
		for _, p := range markerProcs(l.id) {
			st, err := readStat(p.pid)
			if err != nil || st.ppid != l.pid {
				continue
			}
			if strings.Contains(p.cmdline, " run ") {
				l.main = p.pid // the guardian's child
			} else {
				l.main = l.pid // a worker: a launcher without a guardian (an older build)
			}
			return true
		}
		return false
	})
	return l.main
}

// workerPids returns the launcher's live children that carry the marker
// (the exec'd workers; grandchildren are not included).
func (l *launcher) workerPids() []int {
	var pids []int
	main := l.mainPid()
	for _, p := range markerProcs(l.id) {
		if st, err := readStat(p.pid); err == nil && st.ppid == main && st.state != 'Z' {
			pids = append(pids, p.pid)
		}
	}
	sort.Ints(pids)
	return pids
}

// waitWorkers waits until the launcher has exactly n live worker children.
func (l *launcher) waitWorkers(n int, timeout time.Duration) []int {
	l.t.Helper()
	var pids []int
	waitUntil(l.t, timeout, fmt.Sprintf("launcher has %d workers", n), func() bool {
		pids = l.workerPids()
		return len(pids) == n
	})
	return pids
}

// assertGone checks that nothing of an exited launcher is left: no process
// with its marker, and its port free again.
func (l *launcher) assertGone() {
	l.t.Helper()
	assertNoLeftovers(l.t, l.id, 5*time.Second)
	waitUntil(l.t, 5*time.Second, "the port is free", func() bool { return portFree(l.port) })
}

// HTTP on the launcher's port, with its client.

// url is http://127.0.0.1:PORT followed by path.
func (l *launcher) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", l.port, path)
}

func (l *launcher) get(path string) (int, string, error) { return get(l.client, l.url(path)) }

func (l *launcher) mustGet(path string) string {
	l.t.Helper()
	return mustGet(l.t, l.client, l.url(path))
}

func (l *launcher) getJSON(path string, v any) error { return getJSON(l.client, l.url(path), v) }

func (l *launcher) waitServing(path string, timeout time.Duration) {
	l.t.Helper()
	waitServing(l.t, l.client, l.url(path), timeout)
}

func (l *launcher) distinctPids(path string, n int, timeout time.Duration) map[int]bool {
	l.t.Helper()
	return distinctPids(l.t, l.client, l.url(path), n, timeout)
}

// collectEnv GETs /env until every pid in pids has answered.
func (l *launcher) collectEnv(pids map[int]bool, timeout time.Duration) map[int]report.Env {
	l.t.Helper()
	return collectEnv(l.t, l.client, l.url(""), pids, timeout)
}
