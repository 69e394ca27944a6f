package launcher

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/testapp/report"
)

// The exec shim hands every worker its sockets with LISTEN_PID equal to the
// worker's own pid (the testapp, a go-systemd activation.Listeners() app,
// refuses to start otherwise), and the worker environment is exactly the
// contract: slots, generation, Werkzeug's variables, and none of the
// launcher's own NOTIFY_SOCKET/WATCHDOG_*.
func TestShimListenPIDAndWorkerEnv(t *testing.T) {
	l, pids := startServing(t, spec{
		Args:   []string{"-w", "2", "--ready-after", "200ms"},
		Notify: true,
		Env:    []string{"WATCHDOG_USEC=60000000"},
	}, 2)
	reports := l.collectEnv(pids, 15*time.Second)

	slots := map[string]bool{}
	for pid, r := range reports {
		e := r.Env
		if e["LISTEN_PID"] != strconv.Itoa(pid) {
			t.Errorf("worker %d: LISTEN_PID=%q, want its own pid", pid, e["LISTEN_PID"])
		}
		if e["LISTEN_FDS"] != "1" {
			t.Errorf("worker %d: LISTEN_FDS=%q, want 1", pid, e["LISTEN_FDS"])
		}
		if _, ok := e["LISTEN_FDNAMES"]; !ok {
			t.Errorf("worker %d: no LISTEN_FDNAMES", pid)
		}
		if e["SDLAUNCH_GENERATION"] != "1" {
			t.Errorf("worker %d: SDLAUNCH_GENERATION=%q, want 1", pid, e["SDLAUNCH_GENERATION"])
		}
		slots[e["SDLAUNCH_WORKER"]] = true
		if e["WERKZEUG_RUN_MAIN"] != "true" || e["WERKZEUG_SERVER_FD"] != "3" {
			t.Errorf("worker %d: WERKZEUG_RUN_MAIN=%q WERKZEUG_SERVER_FD=%q, want true and 3", pid, e["WERKZEUG_RUN_MAIN"], e["WERKZEUG_SERVER_FD"])
		}
		if ns, ok := e["NOTIFY_SOCKET"]; ok && ns == l.notify.path {
			t.Errorf("worker %d inherited the launcher's NOTIFY_SOCKET %q", pid, ns)
		}
		if v, ok := e["WATCHDOG_USEC"]; ok {
			t.Errorf("worker %d sees WATCHDOG_USEC=%q without --worker-watchdog (the launcher's is 60000000)", pid, v)
		}
		if v, ok := e["WATCHDOG_PID"]; ok {
			t.Errorf("worker %d sees WATCHDOG_PID=%q without --worker-watchdog", pid, v)
		}
		if r.PPID != l.mainPid() {
			t.Errorf("worker %d: parent is %d, want the launcher %d", pid, r.PPID, l.mainPid())
		}
		if r.PGID != pid {
			t.Errorf("worker %d: process group %d, want its own (%d)", pid, r.PGID, pid)
		}
	}
	if !slots["0"] || !slots["1"] || len(slots) != 2 {
		t.Errorf("SDLAUNCH_WORKER values %v, want 0 and 1", slots)
	}
}

// N workers answer requests, each a child of the launcher in its own
// process group.
func TestFourWorkersServe(t *testing.T) {
	l, pids := startServing(t, spec{Args: []string{"-w", "4", "--ready-after", "200ms"}}, 4)
	children := l.waitWorkers(4, 10*time.Second)
	for _, p := range children {
		if !pids[p] {
			t.Errorf("worker child %d never answered; answering pids %v", p, keys(pids))
		}
		st, err := readStat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.pgid != p {
			t.Errorf("worker %d is in process group %d, want its own", p, st.pgid)
		}
	}
	if len(pids) != 4 {
		t.Errorf("%d distinct pids answered, want 4: %v", len(pids), keys(pids))
	}
}

// A SIGKILLed worker is replaced; the other workers are not disturbed and
// keep serving meanwhile.
func TestKilledWorkerIsReplaced(t *testing.T) {
	l, _ := startServing(t, spec{Args: []string{"-w", "4", "--ready-after", "200ms"}}, 4)
	before := l.waitWorkers(4, 10*time.Second)
	victim := before[1]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The others keep serving, right away (the socket is shared: nothing queued is lost).
	for i := 0; i < 30; i++ {
		body := l.mustGet("/pid")
		if pidOf(body) == victim {
			t.Fatalf("request %d answered by the killed worker %d", i, victim)
		}
	}
	var after []int
	waitUntil(t, 15*time.Second, "the killed worker is replaced", func() bool {
		after = l.workerPids()
		return len(after) == 4 && !contains(after, victim)
	})
	for _, p := range before {
		if p != victim && !contains(after, p) {
			t.Errorf("worker %d was disturbed by the death of %d: workers before %v, after %v", p, victim, before, after)
		}
	}
	var fresh int
	for _, p := range after {
		if !contains(before, p) {
			fresh = p
		}
	}
	// The replacement accepts: with the others stopped, nobody else can
	// answer. (Waiting for it to win a request by chance depends on the
	// kernel's accept race, which favours the worker that is already
	// running: a replacement won 2 of 60 sequential requests here.)
	// Frozen for good (every thread stopped), and asked on a new
	// connection: one kept alive would reach the worker it was accepted by.
	for _, p := range after {
		if p != fresh {
			freeze(t, p)
			defer syscall.Kill(p, syscall.SIGCONT)
		}
	}
	fresh1 := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	code, body, err := get(fresh1, l.url("/pid"))
	if err != nil || code != 200 {
		t.Fatalf("/pid with every worker but the replacement %d stopped: %d %v", fresh, code, err)
	}
	if got := pidOf(body); got != fresh {
		t.Fatalf("answered by %d with every worker but the replacement %d stopped", got, fresh)
	}
	for _, p := range after {
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
	if !l.running() {
		t.Fatal("launcher exited")
	}
}

// A worker that never boots ends the launcher with 69 in bounded time, with
// one line naming the last exit status and the tail of the worker's output;
// it does not respawn forever (seed 002). (--ready notify: a worker that
// exits at boot is never ready, however slow the machine; in alive mode it
// would have to exit within --ready-after.)
func TestBootFailureExits69(t *testing.T) {
	l := start(t, spec{
		Args: []string{"-w", "2", "--boot-retries", "3", "--ready", "notify"},
		Env:  []string{"TESTAPP_MODE=exit-at-boot"},
	})
	if code := l.waitExit(60 * time.Second); code != 69 {
		t.Fatalf("exit status %d, want 69", code)
	}
	l.waitOutput(30 * time.Second)
	lines := l.stderr.snapshot()
	statusRe := regexp.MustCompile(`(?i)(exit(ed)?|status|code)\D{0,20}\b3\b`)
	retryRe := regexp.MustCompile(`^sdlaunch: .*before it was ready .*, retrying in (\S+); `)
	found := false
	attempts := 0
	var waited time.Duration // the retry delays the launcher planned, in all
	for _, ln := range lines {
		if strings.Contains(ln, "testapp: w=") && strings.HasSuffix(ln, " starting") {
			attempts++
		}
		if strings.HasPrefix(ln, "sdlaunch: ") && strings.Contains(ln, "cannot load configuration") && statusRe.MatchString(ln) {
			found = true
		}
		if m := retryRe.FindStringSubmatch(ln); m != nil {
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Errorf("retry delay %q: %v", m[1], err)
			}
			waited += d
		}
	}
	if !found {
		t.Errorf("no single `sdlaunch: ` line names the exit status 3 and the output tail (\"cannot load configuration\")")
	}
	if attempts < 3 || attempts > 2*3 {
		t.Errorf("%d boot attempts, want between 3 (--boot-retries) and 6 (--boot-retries per slot)", attempts)
	}
	// Bounded time, in the launcher's own terms (wall time would measure
	// the machine): the delays it planned between attempts.
	if waited > 5*time.Second {
		t.Errorf("the launcher planned %s of retry delays before giving up, want a bounded time (3 retries from a 100ms backoff)", waited)
	}
	l.assertGone()
}

// A worker that crashes after it became ready is replaced (with backoff) and
// never counts as a boot failure, even with --boot-retries 1.
func TestCrashAfterReadyIsRestartedNotBootFailure(t *testing.T) {
	l := start(t, spec{
		Args:   []string{"-w", "1", "--boot-retries", "1", "--ready-after", "200ms", "--backoff-max", "400ms"},
		Notify: true,
	})
	n := l.notify
	n.waitField(t, 0, "READY=1", 20*time.Second)
	// Each worker crashes (exit 4) only once the launcher has said it is
	// ready ("1/1 ready ... N restarts"): after ready by construction.
	seen := map[int]bool{}
	from := 0
	for crashes := 0; ; crashes++ {
		ready := regexp.MustCompile(fmt.Sprintf(`^1/1 ready, generation 1, %d restarts\b`, crashes))
		i := n.waitStatus(from, ready, 30*time.Second)
		if i < 0 {
			t.Fatalf("no STATUS= %q (launcher running: %v):\n%s", ready, l.running(), n.dump())
		}
		from = i + 1
		seen[pidOf(l.mustGet("/pid"))] = true
		if len(seen) >= 4 {
			break
		}
		l.mustGet("/exit?code=4")
	}
	if len(seen) != 4 || !l.running() {
		t.Fatalf("launcher running %v after %d successive workers %v", l.running(), len(seen), keys(seen))
	}
	l.signal(syscall.SIGTERM)
	if code := l.waitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// SIGTERM: in-flight requests complete, the launcher exits 0 as soon as its
// workers are done, and nothing is left behind (processes, the port).
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	// A --graceful-timeout far beyond the wait below: exiting within it
	// means the launcher did not wait the timeout out.
	const graceful = 10 * time.Minute
	l := start(t, spec{
		Args:          []string{"-w", "2", "--ready-after", "200ms", "--graceful-timeout", graceful.String()},
		Notify:        true,
		ClientTimeout: time.Minute,
	})
	l.notify.waitField(t, 0, "READY=1", 20*time.Second)
	l.waitTestappsServing(0, 2, 10*time.Second)

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	release := filepath.Join(t.TempDir(), "release")
	go func() {
		// In flight during the stop by construction: it ends only once the
		// test saw the launcher begin to stop and releases it.
		code, body, err := l.get("/slow?ms=500&id=drain1&until_file=" + release)
		res <- result{code, body, err}
	}()
	l.waitStderr(0, `slow begin id=drain1\b`, 10*time.Second)
	l.signal(syscall.SIGTERM)
	l.notify.waitField(t, 0, "STOPPING=1", 30*time.Second)
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	r := <-res
	if r.err != nil || r.code != http.StatusOK || !strings.Contains(r.body, "slow done id=drain1") {
		t.Fatalf("in-flight request: status %d body %q err %v, want 200 slow done", r.code, r.body, r.err)
	}
	if code := l.waitExit(time.Minute); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	l.waitOutput(30 * time.Second)
	if n := l.countStderr("got signal SIGTERM"); n != 2 {
		t.Errorf("%d workers got SIGTERM, want 2 (the default --stop-signal)", n)
	}
	if n := l.countStderr("after the stop signal: SIGKILL"); n != 0 {
		t.Errorf("%d workers were SIGKILLed: the launcher waited --graceful-timeout out", n)
	}
	l.notify.waitField(t, 0, "STOPPING=1", 5*time.Second)
	l.assertGone()
}

// --stop-signal INT reaches the workers as SIGINT (the Flask dev server's
// stop signal).
func TestStopSignalINT(t *testing.T) {
	l := start(t, spec{Args: []string{"-w", "2", "--ready-after", "200ms", "--stop-signal", "INT", "--graceful-timeout", "10s"}})
	l.waitTestappsServing(0, 2, 20*time.Second)
	l.signal(syscall.SIGTERM)
	if code := l.waitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	l.waitOutput(30 * time.Second)
	if n := l.countStderr("got signal SIGINT"); n != 2 {
		t.Errorf("%d workers got SIGINT, want 2", n)
	}
}

// A launcher started with SIGINT and SIGQUIT ignored (a background job of a
// non-interactive shell, e.g. `sdlaunch run ... &` in a script) still gives
// its workers default dispositions: a worker relying on the default action
// of its stop signal (like Werkzeug's KeyboardInterrupt) stops on it.
// (Today the launcher catches INT/QUIT/TERM itself, so execve resets them;
// this guards the contract against a launcher that stops doing so.)
func TestWorkersGetDefaultSignalDispositions(t *testing.T) {
	// Far beyond the wait for the exit below: exiting within it means the
	// workers died of SIGINT, not of the SIGKILL at the deadline.
	const graceful = 10 * time.Minute
	l := start(t, spec{
		Wrap:    []string{"/bin/sh", "-c", `trap "" INT QUIT; exec "$@"`, "sh"},
		Args:    []string{"-w", "2", "--ready-after", "200ms", "--stop-signal", "INT", "--graceful-timeout", graceful.String()},
		Command: []string{"/bin/sleep", "1000"},
	})
	workers := l.waitWorkers(2, 10*time.Second)
	for _, w := range workers {
		waitUntil(t, 5*time.Second, fmt.Sprintf("worker %d runs sleep", w), func() bool {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", w))
			return strings.HasPrefix(string(cmd), "/bin/sleep\x00")
		})
		ign, err := sigIgnored(w)
		if err != nil {
			t.Fatal(err)
		}
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM} {
			if ign&(1<<(sig-1)) != 0 {
				t.Errorf("worker %d ignores %v (SigIgn %#x)", w, sig, ign)
			}
		}
	}
	l.signal(syscall.SIGTERM)
	if code := l.waitExit(time.Minute); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	l.waitOutput(30 * time.Second)
	if n := l.countStderr("after the stop signal: SIGKILL"); n != 0 {
		t.Errorf("%d workers did not die of SIGINT and were SIGKILLed at --graceful-timeout", n)
	}
}

// SIGQUIT is a fast stop: the workers are killed at once (an in-flight
// request is cut), the launcher exits 0 promptly and leaves nothing behind.
func TestSIGQUITFastStop(t *testing.T) {
	// The request and the graceful timeout both last far beyond the wait
	// for the exit below: exiting within it means nothing was waited for.
	const graceful = 10 * time.Minute
	l := start(t, spec{
		Args:          []string{"-w", "2", "--ready-after", "200ms", "--graceful-timeout", graceful.String()},
		ClientTimeout: 2 * graceful,
	})
	l.waitTestappsServing(0, 2, 20*time.Second)
	res := make(chan error, 1)
	go func() {
		_, _, err := l.get(fmt.Sprintf("/slow?ms=%d&id=quit1", graceful.Milliseconds()))
		res <- err
	}()
	l.waitStderr(0, `slow begin id=quit1\b`, 10*time.Second)
	l.signal(syscall.SIGQUIT)
	if code := l.waitExit(time.Minute); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	select {
	case err := <-res:
		if err == nil {
			t.Errorf("the in-flight request completed: SIGQUIT waited for it")
		}
	case <-time.After(time.Minute):
		t.Errorf("the in-flight request is still open a minute after the launcher exited")
	}
	l.assertGone()
}

// Workers that ignore the stop signal are SIGKILLed after --graceful-timeout;
// the launcher still exits 0 and leaves nothing behind.
func TestGracefulTimeoutEscalatesToSIGKILL(t *testing.T) {
	l := start(t, spec{
		Args: []string{"-w", "2", "--ready-after", "200ms", "--graceful-timeout", "1s"},
		Env:  []string{"TESTAPP_MODE=ignore-term"},
	})
	l.waitTestappsServing(0, 2, 20*time.Second)
	begin := time.Now()
	l.signal(syscall.SIGTERM)
	code := l.waitExit(time.Minute)
	elapsed := time.Since(begin)
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if elapsed < 900*time.Millisecond {
		t.Errorf("exited after %s: did not give the workers --graceful-timeout 1s", elapsed)
	}
	l.waitOutput(30 * time.Second)
	if n := l.countStderr("still running 1s after the stop signal: SIGKILL"); n != 2 {
		t.Errorf("%d workers SIGKILLed at --graceful-timeout 1s, want 2", n)
	}
	l.assertGone()
}

// A grandchild in a worker's process group that ignores SIGTERM (seed 000's
// orphan that kept the port) does not outlive a stop.
func TestStopKillsGrandchildren(t *testing.T) {
	l := start(t, spec{
		Args: []string{"-w", "2", "--ready-after", "200ms", "--graceful-timeout", "2s"},
		Env:  []string{"TESTAPP_MODE=grandchild"},
	})
	l.waitServing("/pid", 20*time.Second)
	// Logged by each grandchild once it ignores SIGTERM and SIGINT.
	i, _ := l.waitStderr(0, `grandchild pid=\d+ waiting forever`, 10*time.Second)
	l.waitStderr(i+1, `grandchild pid=\d+ waiting forever`, 10*time.Second)
	l.signal(syscall.SIGTERM)
	if code := l.waitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	l.assertGone()
}

// SIGKILL of the launcher takes the workers down too (Pdeathsig) and frees
// the port.
func TestLauncherSIGKILLKillsWorkers(t *testing.T) {
	l := start(t, spec{Args: []string{"-w", "2", "--ready-after", "200ms"}})
	l.waitServing("/pid", 20*time.Second)
	workers := l.waitWorkers(2, 10*time.Second)
	l.signal(syscall.SIGKILL)
	l.waitExit(5 * time.Second)
	if !pollUntil(5*time.Second, func() bool { return !alive(workers[0]) && !alive(workers[1]) }) {
		t.Errorf("workers %v survived the launcher's SIGKILL", workers)
	}
	l.assertGone()
}

// Workers inherit fds 0, 1, 2 and the sockets as 3, 4, ... and nothing else
// of the launcher — not its pipes, notify sockets or control socket, not a
// stray descriptor the launcher itself inherited (here a pipe as fd 3, as a
// CI agent or a shell may leave), and not in a worker started later as a
// replacement either.
func TestNoFDLeaksIntoWorkers(t *testing.T) {
	port := freePort(t)
	sock := t.TempDir() + "/admin.sock"
	strayR, strayW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer strayR.Close()
	defer strayW.Close()
	l := start(t, spec{
		Args:       []string{"-w", "4", "--ready-after", "200ms"},
		Port:       port,
		Listen:     []string{"web=" + listenArg(port), "admin=unix:" + sock},
		ExtraFiles: []*os.File{strayW},
	})
	l.waitServing("/pid", 20*time.Second)
	uc := unixClient(sock, 10*time.Second)
	mustGet(t, uc, "http://unix/pid")
	workers := l.waitWorkers(4, 10*time.Second)

	check := func(r report.FDs) {
		t.Helper()
		inh := r.Inherited()
		var fds []int
		for _, f := range inh {
			fds = append(fds, f.FD)
		}
		if fmt.Sprint(fds) != "[0 1 2 3 4]" {
			var b strings.Builder
			for _, f := range inh {
				fmt.Fprintf(&b, "  %d -> %s %s\n", f.FD, f.Target, f.SockName)
			}
			t.Errorf("worker %d inherited fds %v, want [0 1 2 3 4]:\n%s", r.PID, fds, b.String())
			return
		}
		if f := inh[3]; !f.Listen || f.SockType != "stream" || f.SockName != listenArg(port) {
			t.Errorf("worker %d fd 3: %+v, want the listening socket %s", r.PID, f, listenArg(port))
		}
		if f := inh[4]; !f.Listen || f.SockType != "stream" || f.SockName != "unix:"+sock {
			t.Errorf("worker %d fd 4: %+v, want the listening socket unix:%s", r.PID, f, sock)
		}
	}
	fdsOf := func(pids []int) {
		t.Helper()
		want := map[int]bool{}
		for _, p := range pids {
			want[p] = true
		}
		got := map[int]report.FDs{}
		waitUntil(t, 20*time.Second, fmt.Sprintf("workers %v answered /fds", pids), func() bool {
			var r report.FDs
			if err := l.getJSON("/fds", &r); err == nil && want[r.PID] {
				got[r.PID] = r
			}
			return len(got) == len(want)
		})
		for _, r := range got {
			check(r)
		}
	}
	fdsOf(workers)

	var env report.Env
	if err := l.getJSON("/env", &env); err != nil {
		t.Fatal(err)
	}
	if env.Env["LISTEN_FDS"] != "2" || env.Env["LISTEN_FDNAMES"] != "web:admin" {
		t.Errorf("LISTEN_FDS=%q LISTEN_FDNAMES=%q, want 2 and web:admin", env.Env["LISTEN_FDS"], env.Env["LISTEN_FDNAMES"])
	}

	// A replacement started after the others must not inherit their pipes.
	if err := syscall.Kill(workers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var after []int
	waitUntil(t, 15*time.Second, "the killed worker is replaced", func() bool {
		after = l.workerPids()
		return len(after) == 4 && !contains(after, workers[0])
	})
	for _, p := range after {
		if !contains(workers, p) {
			fdsOf([]int{p})
		}
	}
}

// Sockets inherited from systemd-socket-activate (exactly what systemd
// passes: fd 3, LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) are served by the
// workers; --listen is then ignored with a notice.
func TestInheritedSocketsFromSystemdSocketActivate(t *testing.T) {
	activate := requireTool(t, "/usr/bin/systemd-socket-activate", "systemd")
	port, unused := freePort(t), freePort(t)
	n := listenNotify(t)
	id := newID(t)
	l := start(t, spec{
		ID:             id,
		NotifyListener: n,
		Wrap: []string{activate, "-l", listenArg(port), "--fdname=web",
			"-E", markerVar + "=" + id, "-E", "NOTIFY_SOCKET=" + n.path},
		Args: []string{"-w", "2", "--ready-after", "200ms"},
		// The launcher serves the socket systemd-socket-activate passes
		// (port); its own --listen (unused) is to be ignored.
		Port:   port,
		Listen: []string{listenArg(unused)},
		// systemd-socket-activate execs the launcher on the first connection,
		// which then waits in the backlog until a worker accepts it.
		ClientTimeout: 20 * time.Second,
	})
	l.waitServing("/pid", 30*time.Second)
	pids := l.distinctPids("/pid", 2, 15*time.Second)
	for pid, r := range l.collectEnv(pids, 15*time.Second) {
		if r.Env["LISTEN_FDNAMES"] != "web" || r.Env["LISTEN_FDS"] != "1" || r.Env["LISTEN_PID"] != strconv.Itoa(pid) {
			t.Errorf("worker %d: LISTEN_FDS=%q LISTEN_FDNAMES=%q LISTEN_PID=%q, want 1, web, %d",
				pid, r.Env["LISTEN_FDS"], r.Env["LISTEN_FDNAMES"], r.Env["LISTEN_PID"], pid)
		}
		if r.PPID != l.mainPid() {
			t.Errorf("worker %d: parent %d, want the launcher %d", pid, r.PPID, l.mainPid())
		}
		if ns := r.Env["NOTIFY_SOCKET"]; ns == n.path {
			t.Errorf("worker %d inherited the launcher's NOTIFY_SOCKET", pid)
		}
	}
	var fds report.FDs
	if err := l.getJSON("/fds", &fds); err != nil {
		t.Fatal(err)
	}
	if inh := fds.Inherited(); len(inh) != 4 || inh[3].SockName != listenArg(port) || !inh[3].Listen {
		t.Errorf("worker fds %+v, want 0, 1, 2 and the inherited listener %s as 3", inh, listenArg(port))
	}
	if !portFree(unused) {
		t.Errorf("something listens on %d, the --listen address that should have been ignored", unused)
	}
	notice := regexp.MustCompile(`(?i)^sdlaunch: .*ignor.*listen|^sdlaunch: .*listen.*ignor`)
	if i, _ := l.stderr.waitFor(0, 5*time.Second, notice.MatchString); i < 0 {
		t.Errorf("no `sdlaunch: ` notice that --listen was ignored")
	}
	n.waitField(t, 0, "READY=1", 10*time.Second)

	l.signal(syscall.SIGTERM)
	if code := l.waitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	l.assertGone()
}

// Notify messages arrive in order on the launcher's NOTIFY_SOCKET: READY=1
// only once all workers are ready, a STATUS= summary, STOPPING=1 at stop;
// only the launcher talks to it (a worker that sends its own READY=1 must
// not reach it).
func TestNotifyMessagesInOrder(t *testing.T) {
	const readyAfter = 700 * time.Millisecond
	begin := time.Now()
	l := start(t, spec{
		Args:   []string{"-w", "2", "--ready", "alive", "--ready-after", readyAfter.String()},
		Notify: true,
		Env:    []string{"TESTAPP_MODE=notify"},
	})
	ri, ready := l.notify.waitField(t, 0, "READY=1", 20*time.Second)
	if d := ready.At.Sub(begin); d < readyAfter {
		t.Errorf("READY=1 %s after start, before --ready-after %s", d, readyAfter)
	}
	workers := l.workerPids()
	if len(workers) != 2 {
		t.Errorf("at READY=1 the launcher has workers %v, want 2", workers)
	}
	for _, p := range workers {
		if age, err := procAge(p); err == nil && age < readyAfter-50*time.Millisecond {
			t.Errorf("at READY=1 worker %d is only %s old, less than --ready-after %s", p, age, readyAfter)
		}
	}
	if l.notify.waitStatus(0, regexp.MustCompile(`\b2/2\b.*ready`), 5*time.Second) < 0 {
		t.Errorf(`no STATUS= like "2/2 ready, ..." after READY=1`)
	}

	l.signal(syscall.SIGTERM)
	si, _ := l.notify.waitField(t, ri+1, "STOPPING=1", 10*time.Second)
	if code := l.waitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	msgs := l.notify.msgs.snapshot()
	for i, m := range msgs {
		if m.PID != l.pid {
			t.Errorf("datagram %d from pid %d, not the launcher %d: %s", i, m.PID, l.pid, m)
		}
		if m.has("READY=1") && i != ri {
			t.Errorf("datagram %d: a second READY=1 (first was %d): %s", i, ri, m)
		}
		if s, ok := m.get("STATUS"); ok && strings.HasPrefix(s, "testapp") {
			t.Errorf("datagram %d is a worker's own message: %s", i, m)
		}
		if i > si && m.has("READY=1") {
			t.Errorf("READY=1 after STOPPING=1: %s", m)
		}
	}
	if ri > si {
		t.Errorf("READY=1 (datagram %d) after STOPPING=1 (datagram %d)", ri, si)
	}
}
