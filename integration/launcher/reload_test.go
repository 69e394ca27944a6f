package launcher

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/testapp/report"
)

// A reload (SIGHUP, then `sdlaunch reload-wait`) under constant load starts
// a new generation from the command re-read from disk and completes with 0
// failed requests; RELOADING=1 carries MONOTONIC_USEC= in the same
// datagram and READY=1 follows.
func TestReloadUnderLoadZeroFailures(t *testing.T) {
	l, script, ri, old := startScripted(t, "-w", "2", "--ready", "notify", "--graceful-timeout", "10s")
	n := l.notify

	ld := startLoad(l.client, l.url("/pid"), 4)
	waitUntil(t, 30*time.Second, "load runs", func() bool { return ld.ok.Load() > 20 })

	// Reload by SIGHUP.
	appScript(t, script, "2")
	l.signal(syscall.SIGHUP)
	rl, m := n.waitField(t, ri+1, "RELOADING=1", 10*time.Second)
	if v, ok := m.get("MONOTONIC_USEC"); !ok || v == "" {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC= in the same datagram: %s", m)
	}
	ri, _ = n.waitField(t, rl+1, "READY=1", 30*time.Second)
	gen2 := expectGeneration(t, l, 2, "2", "2")
	for _, p := range gen2 {
		if contains(old, p) {
			t.Errorf("worker %d of generation 1 still serves", p)
		}
	}

	// Reload by reload-wait (what ExecReload= runs).
	appScript(t, script, "3")
	if code, out := reloadWait(t, l.pid); code != 0 {
		t.Errorf("reload-wait: exit status %d, want 0: %s", code, out)
	}
	expectGeneration(t, l, 2, "3", "3")
	if n.waitStatus(ri+1, regexp.MustCompile(`generation 3`), 10*time.Second) < 0 {
		t.Errorf(`no STATUS= with "generation 3" after the second reload`)
	}
	ld.finish(t, 100)
	if !l.running() {
		t.Fatal("launcher exited")
	}
}

// A reload to a command that cannot boot rolls back: the old workers (the
// same processes) keep serving with 0 failed requests, reload-wait exits
// non-zero, READY=1 comes back with a STATUS= saying the reload failed, and
// the service stays up; a fixed deploy then reloads fine.
func TestReloadToBrokenCommandRollsBack(t *testing.T) {
	l, script, ri, old := startScripted(t, "-w", "2", "--ready", "notify", "--boot-retries", "2", "--graceful-timeout", "10s")
	n := l.notify
	ld := startLoad(l.client, l.url("/pid"), 4)
	waitUntil(t, 30*time.Second, "load runs", func() bool { return ld.ok.Load() > 20 })

	appScript(t, script, "broken")
	logFrom := l.stderr.len()
	code, out := reloadWait(t, l.pid)
	if code == 0 {
		t.Errorf("reload-wait exit status 0 for a deploy that cannot boot: %s", out)
	}
	t.Logf("reload-wait said (status %d): %s", code, out)
	if !l.running() {
		t.Fatalf("launcher exited (status %d) instead of rolling back", l.state.ExitCode())
	}
	rl, _ := n.waitField(t, ri+1, "RELOADING=1", 10*time.Second)
	_, ready := n.waitField(t, rl+1, "READY=1", 10*time.Second)
	failRe := regexp.MustCompile(`(?i)fail|roll`)
	status, _ := ready.get("STATUS")
	if !failRe.MatchString(status) {
		// The STATUS may come in its own datagram right after.
		if n.waitStatus(rl+1, failRe, 10*time.Second) < 0 {
			t.Errorf("no STATUS= saying the reload failed; READY=1 came with %q", status)
		}
	}
	if i, _ := l.stderr.waitFor(logFrom, 10*time.Second, regexp.MustCompile(`^sdlaunch: .*(?i:reload|roll)`).MatchString); i < 0 {
		t.Errorf("no `sdlaunch: ` line about the failed reload")
	}
	// The old generation still serves: the very same processes.
	now := expectGeneration(t, l, 2, "1", "1")
	if fmt.Sprint(now) != fmt.Sprint(old) {
		t.Errorf("workers %v after the rollback, want the old ones %v", now, old)
	}

	// A fixed deploy goes through.
	appScript(t, script, "2")
	if code, out := reloadWait(t, l.pid); code != 0 {
		t.Errorf("reload-wait after the fix: exit status %d, want 0: %s", code, out)
	}
	waitUntil(t, 30*time.Second, "the fixed version serves", func() bool {
		var r report.Env
		return l.getJSON("/env", &r) == nil && r.Env["TESTAPP_VERSION"] == "2"
	})
	ld.finish(t, 100)
}

// reload-wait refuses a pid that is not a launcher, without signalling it.
func TestReloadWaitNotALauncher(t *testing.T) {
	sleeper := exec.Command("/bin/sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
	}()
	code, out := reloadWait(t, sleeper.Process.Pid)
	if code == 0 {
		t.Errorf("reload-wait of a sleep process: exit status 0: %s", out)
	}
	if lines := nonEmptyLines(out); len(lines) != 1 || !strings.HasPrefix(lines[0], "sdlaunch: ") {
		t.Errorf("want one `sdlaunch: ` line, got %q", out)
	}
	if st, err := readStat(sleeper.Process.Pid); err != nil || st.state == 'Z' {
		t.Errorf("reload-wait killed the process it was pointed at (a SIGHUP to a non-launcher)")
	}
	if code, out := reloadWait(t, 0x3fffffff); code == 0 {
		t.Errorf("reload-wait of a missing pid: exit status 0: %s", out)
	}
}

// SIGTTIN adds a worker, SIGTTOU removes one; STATUS= follows.
func TestScaleWithTTINAndTTOU(t *testing.T) {
	l := start(t, spec{
		Args:   []string{"-w", "2", "--ready-after", "200ms", "--graceful-timeout", "5s"},
		Notify: true,
	})
	n := l.notify
	n.waitField(t, 0, "READY=1", 20*time.Second)
	ld := startLoad(l.client, l.url("/pid"), 2)

	statusSays := func(from int, s string) {
		t.Helper()
		if n.waitStatus(from, regexp.MustCompile(regexp.QuoteMeta(s)), 30*time.Second) < 0 {
			t.Errorf("no STATUS= with %q", s)
		}
	}
	mark := n.msgs.len()
	l.signal(syscall.SIGTTIN)
	l.waitWorkers(3, 15*time.Second)
	l.signal(syscall.SIGTTIN)
	four := l.waitWorkers(4, 15*time.Second)
	statusSays(mark, "4/4")
	got := l.distinctPids("/pid", 4, 20*time.Second)
	for _, p := range four {
		if !got[p] {
			t.Errorf("worker %d never answered", p)
		}
	}
	mark = n.msgs.len()
	l.signal(syscall.SIGTTOU)
	three := l.waitWorkers(3, 15*time.Second)
	statusSays(mark, "3/3")
	for _, p := range three {
		if !contains(four, p) {
			t.Errorf("scaling down started a new worker %d", p)
		}
	}
	ld.finish(t, 20)
}

// --max-lifetime recycles workers through the rolling path without failed
// requests.
func TestMaxLifetimeRecyclesWorkers(t *testing.T) {
	l := start(t, spec{Args: []string{"-w", "2", "--ready-after", "200ms", "--max-lifetime", "2s", "--graceful-timeout", "5s"}})
	l.waitServing("/pid", 20*time.Second)
	first := l.waitWorkers(2, 10*time.Second)
	ld := startLoad(l.client, l.url("/pid"), 2)
	waitUntil(t, time.Minute, "both first workers are recycled", func() bool {
		return !alive(first[0]) && !alive(first[1]) && len(l.workerPids()) >= 2
	})
	ld.finish(t, 20)
}

// Nothing leaks across 50 reloads: the launcher's descriptors and zombie
// children stay flat, and the last generation's workers inherit nothing more
// than the first's.
func TestNoLeaksAcross50Reloads(t *testing.T) {
	l := start(t, spec{
		Args:   []string{"-w", "2", "--ready-after", "100ms", "--graceful-timeout", "5s"},
		Notify: true,
	})
	l.notify.waitField(t, 0, "READY=1", 20*time.Second)
	l.waitServing("/pid", 10*time.Second)
	l.waitWorkers(2, 10*time.Second)
	// Warm up once (a first reload may open things kept for good).
	if code, out := reloadWait(t, l.pid); code != 0 {
		t.Fatalf("reload-wait: exit status %d: %s", code, out)
	}
	l.waitWorkers(2, 15*time.Second)
	before, err := openFDs(l.mainPid())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if code, out := reloadWait(t, l.pid); code != 0 {
			t.Fatalf("reload %d: reload-wait exit status %d: %s", i+1, code, out)
		}
	}
	l.waitWorkers(2, 15*time.Second)
	var after map[int]string
	ok := pollUntil(30*time.Second, func() bool {
		after, err = openFDs(l.mainPid())
		return err == nil && len(after) <= len(before)
	})
	if !ok {
		var extra []string
		for fd, target := range after {
			if _, had := before[fd]; !had {
				extra = append(extra, fmt.Sprintf("%d -> %s", fd, target))
			}
		}
		t.Errorf("launcher fds grew from %d to %d across 50 reloads; new: %v", len(before), len(after), extra)
	}
	if !pollUntil(30*time.Second, func() bool { return zombieChildren(l.mainPid()) == 0 }) {
		t.Errorf("launcher has %d zombie children after 50 reloads", zombieChildren(l.mainPid()))
	}
	var r report.Env
	if err := l.getJSON("/env", &r); err != nil {
		t.Fatal(err)
	}
	if g, _ := strconv.Atoi(r.Env["SDLAUNCH_GENERATION"]); g < 52 {
		t.Errorf("generation %q after 51 reloads, want 52", r.Env["SDLAUNCH_GENERATION"])
	}
	var fds report.FDs
	if err := l.getJSON("/fds", &fds); err != nil {
		t.Fatal(err)
	}
	if inh := fds.Inherited(); len(inh) != 4 {
		t.Errorf("a worker of generation 52 inherited %d fds, want 4 (0, 1, 2, the socket): %+v", len(inh), inh)
	}
}

// A worker added (SIGTTIN) while a reload rolls belongs to the new
// generation once the reload is done: after the verdict every worker runs
// the new code.
//
// The roll is in progress when SIGTTIN comes by construction: the workers
// are ready only when the test makes them send READY=1 (--ready notify,
// GET /notify?state=READY=1 on whichever worker answers).
func TestScaleUpDuringReloadEndsInNewGeneration(t *testing.T) {
	script := filepath.Join(t.TempDir(), "app.sh")
	appScript(t, script, "1")
	l := start(t, spec{
		Args:    []string{"-w", "2", "--ready", "notify", "--start-timeout", "10m", "--graceful-timeout", "5s"},
		Command: []string{script},
		Notify:  true,
	})
	n := l.notify
	readyAfter := func(from int) int {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			if i, _ := n.msgs.waitFor(from, 100*time.Millisecond, func(m notifyMsg) bool { return m.has("READY=1") }); i >= 0 {
				return i
			}
			if time.Now().After(deadline) {
				t.Fatalf("no READY=1 after datagram %d:\n%s", from, n.dump())
			}
			_, _, _ = l.get("/notify?state=READY=1")
		}
	}
	ri := readyAfter(0)
	appScript(t, script, "2")
	l.signal(syscall.SIGHUP)
	rl, _ := n.waitField(t, ri+1, "RELOADING=1", 10*time.Second)
	l.signal(syscall.SIGTTIN)        // the new generation cannot be ready yet
	l.waitWorkers(5, 30*time.Second) // 2 old, 2 successors, the new slot
	readyAfter(rl + 1)
	// Wait out the stop of the old workers, then every worker must be new.
	expectGeneration(t, l, 3, "2", "2")
}

// After a rolled-back reload the broken code is still what is on disk. When
// an old worker then crashes, its replacement cannot boot either; the
// service must stay up on the remaining old workers (it may retry with
// backoff, but exiting 69 would make systemd give up on a service that is
// serving).
func TestCrashAfterRollbackKeepsServiceUp(t *testing.T) {
	l, script, _, old := startScripted(t, "-w", "2", "--ready", "notify", "--boot-retries", "2", "--backoff-max", "400ms", "--graceful-timeout", "5s")
	appScript(t, script, "broken")
	if code, out := reloadWait(t, l.pid); code == 0 {
		t.Fatalf("reload-wait exit status 0 for a broken deploy: %s", out)
	}
	if err := syscall.Kill(old[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	from := 0
	// Three failed boots of the replacement (generation 1, unlike the
	// rolled-back workers of generation 2) (more than --boot-retries 2,
	// backoff capped at 400ms) take a few seconds; or the launcher gives up.
	failedBoots := func() int {
		n := 0
		for _, ln := range l.stderr.snapshot()[from:] {
			// The worker's own line, not the launcher's quote of it.
			if strings.HasPrefix(ln, "[w") && strings.Contains(ln, "broken deploy, generation 1)") {
				n++
			}
		}
		return n
	}
	waitUntil(t, time.Minute, "3 failed boots of the replacement, or the launcher's exit", func() bool { return !l.running() || failedBoots() >= 3 })
	if !l.running() {
		t.Fatalf("launcher exited with status %d after %d failed boots: one crash after a rolled-back reload took the whole service down", l.state.ExitCode(), failedBoots())
	}
	for range 10 {
		if body := l.mustGet("/pid"); pidOf(body) != old[1] {
			t.Errorf("answered by %q, want the surviving old worker %d", body, old[1])
		}
	}
}

// The complement of TestCrashAfterRollbackKeepsServiceUp: once no worker
// serves at all and none can boot, the launcher still gives up with 69
// instead of respawning forever.
func TestNoWorkerServingAndNoneBootsExits69(t *testing.T) {
	l, script, _, old := startScripted(t, "-w", "2", "--ready", "notify", "--boot-retries", "2", "--backoff-max", "400ms", "--graceful-timeout", "5s")
	appScript(t, script, "broken")
	for _, p := range old {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	if code := l.waitExit(time.Minute); code != 69 {
		t.Fatalf("launcher exit status %d with no worker serving and none booting, want 69", code)
	}
	l.waitOutput(30 * time.Second)
	l.waitStderr(0, `workers could not boot: .*broken deploy`, time.Second)
}

// A Capistrano-style deploy: releases in their own directories and a
// `current` symlink flipped atomically. With --chdir current, each worker
// start resolves the symlink anew, so a reload serves the new release (a
// working directory resolved once, like WorkingDirectory= alone, would keep
// serving the old one while the reload reported success), and a broken
// release is rolled back.
func TestReloadFollowsFlippedCurrentSymlink(t *testing.T) {
	root := t.TempDir()
	current := filepath.Join(root, "current")
	release := func(name, version string) string {
		dir := filepath.Join(root, "releases", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		appScript(t, filepath.Join(dir, "app.sh"), version)
		return dir
	}
	flip := func(dir string) {
		tmp := current + ".new"
		_ = os.Remove(tmp)
		if err := os.Symlink(dir, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, current); err != nil {
			t.Fatal(err)
		}
	}
	flip(release("r1", "1"))
	l := start(t, spec{
		// --ready notify: a broken release never becomes ready, however slow the machine.
		Args:    []string{"-w", "2", "--ready", "notify", "--graceful-timeout", "5s", "--chdir", current},
		Command: []string{"./app.sh"},
		Dir:     current, // the launcher itself starts in release 1
		Notify:  true,
		Env:     []string{"TESTAPP_MODE=notify"},
	})
	l.notify.waitField(t, 0, "READY=1", 20*time.Second)
	expectGeneration(t, l, 2, "1", "1")

	flip(release("r2", "2"))
	if code, out := reloadWait(t, l.pid); code != 0 {
		t.Fatalf("reload-wait after flipping to release 2: exit %d: %s", code, out)
	}
	expectGeneration(t, l, 2, "2", "2")

	flip(release("r3", "broken"))
	if code, out := reloadWait(t, l.pid); code == 0 {
		t.Fatalf("reload-wait exit status 0 for a broken release: %s", out)
	}
	expectGeneration(t, l, 2, "2", "2")

	// A release directory that vanished is a boot failure too: rolled back,
	// not retried forever.
	flip(filepath.Join(root, "releases", "missing"))
	if code, out := reloadWait(t, l.pid); code == 0 {
		t.Fatalf("reload-wait exit status 0 for a missing release directory: %s", out)
	}
	expectGeneration(t, l, 2, "2", "2")
}

// A reload's successor boots at --reload-nice (10 here) below the
// launcher while the old worker serves at full priority, and gets the
// launcher's priority back once it is ready. The successor reads a line
// from a FIFO before it execs the testapp, so the test sees it booting.
func TestReloadSuccessorBootsAtLowerPriority(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("raising a worker's priority back needs CAP_SYS_NICE or an RLIMIT_NICE that allows it (root here)")
	}
	gate := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	// Held open for writing from the start: the successor's open never
	// blocks, its read waits for the line.
	w, err := os.OpenFile(gate, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	script := fmt.Sprintf(`[ "$SDLAUNCH_GENERATION" = 1 ] || read _ < %s; exec %s`, gate, bin.testapp)
	l := start(t, spec{Args: []string{"-w", "1", "--reload-nice", "10"}, Command: []string{"/bin/sh", "-c", script}})
	l.waitServing("/pid", time.Minute)
	base := niceOf(t, l.mainPid())
	old := l.waitWorkers(1, time.Minute)[0]
	from := l.stderr.len()
	l.signal(syscall.SIGHUP)
	var succ int
	waitUntil(t, time.Minute, "the successor boots", func() bool {
		for _, p := range l.workerPids() {
			if p != old {
				succ = p
			}
		}
		return succ != 0
	})
	waitUntil(t, time.Minute, fmt.Sprintf("successor %d at nice %d", succ, base+10), func() bool {
		return niceOf(t, succ) == base+10
	})
	if n := niceOf(t, old); n != base {
		t.Errorf("the serving worker %d at nice %d, want the launcher's %d", old, n, base)
	}
	if _, err := w.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	l.waitStderr(from, `^sdlaunch: reload done: generation 2 ready`, time.Minute)
	if n := niceOf(t, succ); n != base {
		t.Errorf("the ready successor %d at nice %d, want the launcher's %d", succ, n, base)
	}
	l.waitStderr(from, `^sdlaunch: reloading: rolling generation 2 \(surge 1\), booting at nice \+10 until ready$`, time.Minute)
}

// A reload's old worker whose exit takes time (atexit handlers, an
// interpreter's teardown: here the testapp lingers after draining) spends
// it at nice 19 once it serves no more, so that it takes only the CPU the
// new generation leaves. While it still answers a request, or still holds
// the listening socket (a saturated sync server accepts again before it
// notices its stop signal: the testapp keeps a duplicate), it keeps the
// launcher's priority. Lowering needs no privilege.
func TestRetiredWorkerTearsDownAtLowestPriority(t *testing.T) {
	dir := t.TempDir()
	hold, listener, release := filepath.Join(dir, "hold"), filepath.Join(dir, "listener"), filepath.Join(dir, "release")
	l, _ := startServing(t, spec{Args: []string{"-w", "1"}, Env: []string{"TESTAPP_MODE=serve,hold-listener=" + listener + ",linger=" + release}}, 1)
	base := niceOf(t, l.mainPid())
	old := l.waitWorkers(1, time.Minute)[0]
	from := l.stderr.len()
	answered := make(chan error, 1)
	go func() {
		code, _, err := l.get("/slow?ms=0&id=held&until_file=" + hold)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d", code)
		}
		answered <- err
	}()
	l.waitStderr(from, fmt.Sprintf(`pid=%d slow begin id=held`, old), time.Minute)
	l.signal(syscall.SIGHUP)
	l.waitStderr(from, `^sdlaunch: reload done: generation 2 ready`, time.Minute)
	var succ int
	for _, p := range l.workerPids() {
		if p != old {
			succ = p
		}
	}
	if n := niceOf(t, old); n != base {
		t.Errorf("the old worker %d, still answering a request, at nice %d; want the launcher's %d", old, n, base)
	}
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("the request the old worker held: %v", err)
	}
	// Drained, but holding the listening socket: the launcher looks every
	// 50 ms at most; a lowering would show within this wait (a slower
	// machine may look fewer times, which can only hide a fault).
	l.waitStderr(from, fmt.Sprintf(`pid=%d drained, holding 1 listening socket`, old), time.Minute)
	time.Sleep(500 * time.Millisecond)
	if n := niceOf(t, old); n != base {
		t.Errorf("the old worker %d, holding the listening socket, at nice %d; want the launcher's %d", old, n, base)
	}
	if err := os.WriteFile(listener, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l.waitStderr(from, fmt.Sprintf(`pid=%d drained, lingering`, old), time.Minute)
	waitUntil(t, time.Minute, fmt.Sprintf("old worker %d at nice 19", old), func() bool { return niceOf(t, old) == 19 })
	if succ == 0 || niceOf(t, succ) != base {
		t.Errorf("the new worker %d is not at the launcher's nice %d", succ, base)
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l.waitStderr(from, fmt.Sprintf(`^sdlaunch: worker 0 \(pid %d, generation 1\) exited with status 0`, old), time.Minute)
}

// niceOf is field 19 of /proc/PID/stat.
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(f[16])
	if err != nil {
		t.Fatalf("/proc/%d/stat: %v", pid, err)
	}
	return n
}

// A launcher that cannot raise a lowered priority back (a user's shell:
// RLIMIT_NICE 0 and no CAP_SYS_NICE) keeps the default --reload-nice's
// "off" off its terminal: nobody asked for it. Given --reload-nice, it says
// once, before it starts its workers, that the option is off and why.
func TestReloadNiceOffIsSaidOnlyWhenAsked(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dropping CAP_SYS_NICE from the launcher needs root's setpriv")
	}
	noNice := []string{"setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice", "prlimit", "--nice=0:0"}
	for _, c := range []struct {
		args []string
		said bool
	}{{nil, false}, {[]string{"--reload-nice", "10"}, true}} {
		l := start(t, spec{Args: append([]string{"-w", "1"}, c.args...), Wrap: noNice})
		at, _ := l.stderr.waitFor(0, time.Minute, func(s string) bool { return strings.Contains(s, "starting 1 workers") })
		if at < 0 {
			t.Fatalf("sdlaunch run %q: no \"starting 1 workers\" within a minute", c.args)
		}
		said := false
		for _, ln := range l.stderr.snapshot()[:at] {
			said = said || strings.Contains(ln, "--reload-nice 10: off, successors boot at the launcher's priority") && strings.Contains(ln, "RLIMIT_NICE 0 and no CAP_SYS_NICE")
		}
		if said != c.said {
			t.Errorf("sdlaunch run %q without CAP_SYS_NICE: said --reload-nice is off: %v, want %v; stderr:\n%s", c.args, said, c.said, strings.Join(l.stderr.snapshot(), "\n"))
		}
		l.signal(syscall.SIGTERM)
		if st := l.waitExit(time.Minute); st != 0 {
			t.Errorf("sdlaunch run %q: exit status %d after SIGTERM", c.args, st)
		}
	}
}
