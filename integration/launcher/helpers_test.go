package launcher

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// markerVar is set, with a value unique to the test, in the environment of
// every launcher a test starts; the workers inherit it. Scanning
// /proc/*/environ for it finds every process a test left behind.
const markerVar = "SDLAUNCH_TEST_ID"

// ---------------------------------------------------------------------------
// waitable journals

// journal is an append-only list that can be waited on.
type journal[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{}
	closed  bool
}

func newJournal[T any]() *journal[T] {
	return &journal[T]{changed: make(chan struct{})}
}

func (j *journal[T]) add(v T) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.items = append(j.items, v)
	close(j.changed)
	j.changed = make(chan struct{})
}

// close marks the end of the journal (EOF): waiters stop waiting.
func (j *journal[T]) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.closed {
		j.closed = true
		close(j.changed)
		j.changed = make(chan struct{})
	}
}

func (j *journal[T]) snapshot() []T {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]T(nil), j.items...)
}

// waitFor returns the index of the first item at index >= from that satisfies
// pred, waiting up to timeout for it; -1 if none came (or the journal ended).
func (j *journal[T]) waitFor(from int, timeout time.Duration, pred func(T) bool) (int, T) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		j.mu.Lock()
		for i := from; i < len(j.items); i++ {
			if pred(j.items[i]) {
				v := j.items[i]
				j.mu.Unlock()
				return i, v
			}
		}
		if from < len(j.items) {
			from = len(j.items)
		}
		closed, ch := j.closed, j.changed
		j.mu.Unlock()
		var zero T
		if closed {
			return -1, zero
		}
		select {
		case <-ch:
		case <-deadline.C:
			return -1, zero
		}
	}
}

// readLines feeds r's lines (without the newline) into j until EOF.
func readLines(r io.ReadCloser, j *journal[string], done chan<- struct{}) {
	defer close(done)
	defer j.close()
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			j.add(strings.TrimSuffix(line, "\n"))
		}
		if err != nil {
			return
		}
	}
}

// ---------------------------------------------------------------------------
// a test NOTIFY_SOCKET

// notifyMsg is one datagram received on the test NOTIFY_SOCKET.
type notifyMsg struct {
	PID    int // sender, from SCM_CREDENTIALS
	Fields []string
	At     time.Time
}

func (m notifyMsg) String() string {
	return fmt.Sprintf("pid %d: %q", m.PID, strings.Join(m.Fields, "\\n"))
}

// has reports whether the datagram carries exactly the field kv ("READY=1").
func (m notifyMsg) has(kv string) bool {
	for _, f := range m.Fields {
		if f == kv {
			return true
		}
	}
	return false
}

// get returns the value of the field key ("STATUS").
func (m notifyMsg) get(key string) (string, bool) {
	for _, f := range m.Fields {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// notifyListener plays systemd's side of NOTIFY_SOCKET.
type notifyListener struct {
	path string
	conn *net.UnixConn
	msgs *journal[notifyMsg]
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "notify.sock")
	if len(path) >= 100 { // sun_path is 108 bytes
		d, err := os.MkdirTemp("", "sdn")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		path = filepath.Join(d, "n.sock")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on test NOTIFY_SOCKET: %v", err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_PASSCRED: %v %v", err, serr)
	}
	n := &notifyListener{path: path, conn: conn, msgs: newJournal[notifyMsg]()}
	done := make(chan struct{})
	go n.read(done)
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return n
}

func (n *notifyListener) read(done chan<- struct{}) {
	defer close(done)
	defer n.msgs.close()
	buf := make([]byte, 64*1024)
	oob := make([]byte, 1024)
	for {
		nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		m := notifyMsg{PID: -1, At: time.Now()}
		if cmsgs, err := syscall.ParseSocketControlMessage(oob[:noob]); err == nil {
			for _, c := range cmsgs {
				if cred, err := syscall.ParseUnixCredentials(&c); err == nil {
					m.PID = int(cred.Pid)
				}
			}
		}
		for _, f := range strings.Split(string(buf[:nb]), "\n") {
			if f != "" {
				m.Fields = append(m.Fields, f)
			}
		}
		n.msgs.add(m)
	}
}

// waitField waits for a datagram at index >= from carrying kv (exact field,
// or any value of the key when kv ends in "="). It fails the test on timeout.
func (n *notifyListener) waitField(t *testing.T, from int, kv string, timeout time.Duration) (int, notifyMsg) {
	t.Helper()
	i, m := n.msgs.waitFor(from, timeout, func(m notifyMsg) bool { return m.matches(kv) })
	if i < 0 {
		t.Fatalf("no %q on NOTIFY_SOCKET within %s; got:\n%s", kv, timeout, n.dump())
	}
	return i, m
}

func (m notifyMsg) matches(kv string) bool {
	if key, ok := strings.CutSuffix(kv, "="); ok {
		_, has := m.get(key)
		return has
	}
	return m.has(kv)
}

func (n *notifyListener) dump() string {
	var b strings.Builder
	for i, m := range n.msgs.snapshot() {
		fmt.Fprintf(&b, "  %d %s %s\n", i, m.At.Format("15:04:05.000"), m)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// the launcher under test

// spec describes one launcher run.
type spec struct {
	Args    []string // options of `sdlaunch run`, before "--"
	Command []string // COMMAND [ARG...] after "--"; the testapp when nil
	Env     []string // extra environment of the launcher (workers inherit it)
	Notify  bool     // give the launcher a test NOTIFY_SOCKET
	Dir     string   // working directory
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
}

type launcher struct {
	t      *testing.T
	id     string
	cmd    *exec.Cmd
	pid    int
	notify *notifyListener
	stderr *journal[string]
	stdout *journal[string]
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
		stderr: newJournal[string](),
		stdout: newJournal[string](),
		outEOF: make(chan struct{}),
		exited: make(chan struct{}),
	}
	if l.id == "" {
		l.id = newID(t)
	}
	command := s.Command
	if command == nil {
		command = []string{bin.testapp}
	}
	argv := append([]string{}, s.Wrap...)
	argv = append(argv, bin.sdlaunch, "run")
	argv = append(argv, s.Args...)
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
	go readLines(outR, l.stdout, outDone)
	go readLines(errR, l.stderr, errDone)
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

// markerAssignment is "SDLAUNCH_TEST_ID=<id>".
func (l *launcher) markerAssignment() string { return markerVar + "=" + l.id }

// procAge is how long ago pid started (10ms resolution).
func procAge(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat: %w", err)
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("malformed stat")
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64) // field 22, starttime
	if err != nil {
		return 0, fmt.Errorf("starttime: %w", err)
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("read uptime: %w", err)
	}
	secs, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	if err != nil {
		return 0, fmt.Errorf("uptime: %w", err)
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(secs*float64(time.Second)) - time.Duration(ticks)*time.Second/clkTck, nil
}

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
	const max = 80
	for _, s := range []struct {
		name string
		j    *journal[string]
	}{{"stderr", l.stderr}, {"stdout", l.stdout}} {
		lines := s.j.snapshot()
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

// workerPids returns the launcher's live children that carry the marker
// (the exec'd workers; grandchildren are not included).
func (l *launcher) workerPids() []int {
	var pids []int
	for _, p := range markerProcs(l.id) {
		if st, err := readStat(p.pid); err == nil && st.ppid == l.pid && st.state != 'Z' {
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

// ---------------------------------------------------------------------------
// processes

type markerProc struct {
	pid     int
	cmdline string
}

// markerProcs lists the live (non-zombie) processes whose environment holds
// the marker id.
func markerProcs(id string) []markerProc {
	want := []byte(markerVar + "=" + id + "\x00")
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []markerProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		if !bytes.HasPrefix(env, want) && !bytes.Contains(env, append([]byte{0}, want...)) {
			continue
		}
		if st, err := readStat(pid); err == nil && st.state == 'Z' {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, markerProc{pid: pid, cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))})
	}
	return out
}

// assertNoLeftovers waits up to timeout for every process with the marker to
// assertGone checks that nothing of an exited launcher is left: no process
// with its marker, and its port free again.
func assertGone(t *testing.T, l *launcher, port int) {
	t.Helper()
	assertNoLeftovers(t, l.id, 5*time.Second)
	waitUntil(t, 5*time.Second, "the port is free", func() bool { return portFree(port) })
}

// be gone; survivors fail the test and are SIGKILLed.
func assertNoLeftovers(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		procs := markerProcs(id)
		if len(procs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, p := range procs {
				st, _ := readStat(p.pid)
				fmt.Fprintf(&b, "  pid %d (ppid %d, pgid %d, state %c): %s\n", p.pid, st.ppid, st.pgid, st.state, p.cmdline)
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
			t.Errorf("%d process(es) outlived the launcher (killed now):\n%s", len(procs), b.String())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type procStat struct {
	state      byte
	ppid, pgid int
}

// readStat parses /proc/PID/stat (the command name may hold spaces and parens).
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("read stat: %w", err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return procStat{}, errors.New("malformed stat")
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	return procStat{state: f[0][0], ppid: ppid, pgid: pgid}, nil
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z'
}

// zombieChildren counts pid's zombie children.
func zombieChildren(pid int) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(p); err == nil && st.ppid == pid && st.state == 'Z' {
			n++
		}
	}
	return n
}

// openFDs lists /proc/PID/fd with link targets.
func openFDs(pid int) (map[int]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list fds: %w", err)
	}
	out := map[int]string{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out[fd] = target
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// polling

// waitUntil polls cond every 20ms until it holds, failing the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(timeout, cond) {
		t.Fatalf("timed out after %s waiting until %s", timeout, what)
	}
}

// pollUntil polls cond every 20ms; false if it did not hold within timeout.
func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// sockets and HTTP

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// portFree reports whether 127.0.0.1:port can be bound (nobody listens).
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// client makes one connection per request: requests spread over the
// workers and a client never retries on a pooled connection.
func client(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
		},
	}
}

// unixClient is client for an HTTP server on a unix socket.
func unixClient(path string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}

// get does one GET and returns the status and body.
func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, string(b), fmt.Errorf("GET %s: read body: %w", url, err)
	}
	return resp.StatusCode, string(b), nil
}

// mustGet does one GET that must answer 200.
func mustGet(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	code, body, err := get(c, url)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, code, body)
	}
	return body
}

// getJSON GETs url into v.
func getJSON(c *http.Client, url string, v any) error {
	code, body, err := get(c, url)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// waitServing polls url until it answers 200.
func waitServing(t *testing.T, c *http.Client, url string, timeout time.Duration) {
	t.Helper()
	var last error
	ok := pollUntil(timeout, func() bool {
		code, body, err := get(c, url)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d: %s", code, body)
		}
		last = err
		return err == nil
	})
	if !ok {
		t.Fatalf("%s did not answer 200 within %s: %v", url, timeout, last)
	}
}

var pidRe = regexp.MustCompile(`pid[ =](\d+)|^(\d+)\s*$`)

// pidOf extracts the pid from a body like "4242\n", "hello from pid 4242"
// or "... pid=4242".
func pidOf(body string) int {
	m := pidRe.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	s := m[1]
	if s == "" {
		s = m[2]
	}
	n, _ := strconv.Atoi(s)
	return n
}

// distinctPids requests url from 4 concurrent clients until n distinct pids
// have answered (parsed with pidOf), failing the test after timeout.
func distinctPids(t *testing.T, c *http.Client, url string, n int, timeout time.Duration) map[int]bool {
	t.Helper()
	var (
		mu      sync.Mutex
		seen    = map[int]bool{}
		lastErr error
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				code, body, err := get(c, url)
				mu.Lock()
				switch {
				case err != nil:
					lastErr = err
				case code != http.StatusOK:
					lastErr = fmt.Errorf("GET %s: status %d", url, code)
				default:
					if p := pidOf(body); p > 0 {
						seen[p] = true
					}
				}
				enough := len(seen) >= n
				mu.Unlock()
				if enough {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < n {
		t.Fatalf("only %d distinct pids answered %s within %s (want %d): %v; last error: %v", len(seen), url, timeout, n, keys(seen), lastErr)
	}
	return seen
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// runLauncher runs `sdlaunch ARGS` to completion (for usage errors) and
// returns its exit status, stdout and stderr.
func runLauncher(t *testing.T, env []string, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	return runCmdEnv(t, env, timeout, bin.sdlaunch, args...)
}

// runCmd runs a program to completion and returns its exit status, stdout
// and stderr.
func runCmd(t *testing.T, timeout time.Duration, name string, args ...string) (int, string, string) {
	t.Helper()
	return runCmdEnv(t, nil, timeout, name, args...)
}

func runCmdEnv(t *testing.T, env []string, timeout time.Duration, name string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s; stderr:\n%s", name, args, timeout, stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// worker reports of the testapp

type envReport struct {
	PID  int               `json:"pid"`
	PPID int               `json:"ppid"`
	PGID int               `json:"pgid"`
	Env  map[string]string `json:"env"`
}

type fdInfo struct {
	FD       int    `json:"fd"`
	Target   string `json:"target"`
	SockName string `json:"sockname"`
	SockType string `json:"socktype"`
	Listen   bool   `json:"listening"`
	CloExec  bool   `json:"cloexec"`
}

type fdsReport struct {
	PID     int      `json:"pid"`
	Startup []fdInfo `json:"startup"`
	Now     []fdInfo `json:"now"`
}

// inherited returns the descriptors the worker received across execve.
func (r fdsReport) inherited() []fdInfo {
	var out []fdInfo
	for _, f := range r.Startup {
		if !f.CloExec {
			out = append(out, f)
		}
	}
	return out
}
