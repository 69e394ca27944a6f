package prefork

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/prefork/observe"
)

func acceptConfig() Config {
	cfg := testConfig()
	cfg.Ready = ReadyAccept
	return cfg
}

// In accept mode a worker is ready once the launcher sees a process of its
// group wait for connections; looks are spaced 5 ms doubling to 50 ms.
func TestAcceptModeIsReadyWhenSeenAccepting(t *testing.T) {
	h := newHarness(t, acceptConfig(), 0)
	w := h.cur(0)
	h.seen[w.pid()] = observation{}
	h.seen[h.cur(1).pid()] = observation{}
	var gaps []time.Duration
	last := h.now
	for range 6 {
		h.toWake()
		gaps = append(gaps, h.now.Sub(last))
		last = h.now
	}
	want := []time.Duration{5, 10, 20, 40, 50, 50}
	for i := range want {
		if gaps[i] != want[i]*time.Millisecond {
			t.Fatalf("looks spaced %v, want %v ms", gaps, want)
		}
	}
	if w.state != wStarting {
		t.Fatal("ready although nothing accepted")
	}
	delete(h.seen, w.pid())
	h.toWake()
	if w.state != wReady {
		t.Fatal("not ready once seen accepting")
	}
	h.mustLog("is ready: pid 101 in accept on tcp 127.0.0.1:8000")
}

func TestAcceptModeIgnoresREADYAlone(t *testing.T) {
	h := newHarness(t, acceptConfig(), 0)
	w := h.cur(0)
	h.seen[w.pid()] = observation{}
	h.ready(w)
	h.advance(time.Second)
	if w.state != wStarting {
		t.Fatal("READY=1 made a worker ready that nobody saw accept")
	}
}

// Seed 002 without --preload: gunicorn's arbiter lives, its worker cannot
// import the app, nothing ever accepts: a boot failure at --start-timeout,
// exit 69 then, and no retry.
func TestNothingEverAcceptsExits69AtStartTimeout(t *testing.T) {
	cfg := acceptConfig()
	cfg.Workers = 1
	h := newHarness(t, cfg, 0)
	w := h.cur(0)
	h.seen[w.pid()] = observation{}
	for !contains(h.killsTo(w, 0), syscall.SIGKILL) {
		h.toWake()
	}
	if d := h.now.Sub(w.started); d != time.Minute {
		t.Fatalf("killed after %s, want --start-timeout 1m", d)
	}
	h.killed(w, syscall.SIGKILL)
	be := h.bootError()
	if want := "worker 0 did not become ready within --start-timeout 1m0s (no process of its group waited for connections on the listening sockets)"; !strings.Contains(be.Msg, want) {
		t.Fatalf("BootError %q lacks %q", be.Msg, want)
	}
	if len(h.spawned) != 1 {
		t.Fatalf("%d workers started", len(h.spawned))
	}
}

// Where the launcher cannot look (a /proc it may not read, io_uring), it
// says so once in the log and in STATUS=, and the timer decides.
func TestAcceptModeFallsBackToTheTimerWhenBlind(t *testing.T) {
	cfg := acceptConfig()
	cfg.ReadyAfter = 300 * time.Millisecond
	h := newHarness(t, cfg, 0)
	for i := range 2 {
		h.seen[h.cur(i).pid()] = observation{unknown: "thread 43 waits in io_uring_enter"}
	}
	for range unknownLooks {
		h.toWake()
	}
	if h.cur(0).state != wStarting || !h.cur(0).blind {
		t.Fatalf("after %d looks that could not see: state %s, blind %v", unknownLooks, h.cur(0).state, h.cur(0).blind)
	}
	h.advance(300*time.Millisecond - h.now.Sub(h.cur(0).started))
	if h.cur(0).state != wReady || h.cur(1).state != wReady {
		t.Fatal("not ready at --ready-after")
	}
	warned := 0
	for _, l := range h.logs {
		if strings.Contains(l, "cannot see whether") {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("%d warnings, want one", warned)
	}
	if st := h.status(); !strings.Contains(st, "readiness not observable (thread 43 waits in io_uring_enter): the --ready-after 300ms timer decides") {
		t.Errorf("status %q does not say readiness is a timer", st)
	}
}

// In notify mode READY=1 alone is not enough: gunicorn's arbiter sends it
// before its worker imported the app.
func TestNotifyModeNeedsREADYAndAccepting(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	w := h.cur(0)
	h.seen[w.pid()] = observation{}
	h.ready(w)
	h.toWake()
	h.toWake()
	if w.state != wStarting {
		t.Fatal("ready on READY=1 alone")
	}
	delete(h.seen, w.pid())
	h.toWake()
	if w.state != wReady {
		t.Fatal("not ready with READY=1 and accepting")
	}
}

func TestNotifyModeTrustsREADYWhereBlind(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	w := h.cur(0)
	h.seen[w.pid()] = observation{unknown: "permission denied"}
	h.ready(w)
	for range unknownLooks - 1 {
		h.toWake()
	}
	if w.state != wReady {
		t.Fatal("READY=1 not trusted where the launcher cannot look")
	}
}

// A stop waits for a moment when the worker holds no request in progress:
// frozen, looked at, thawed while busy; then the stop signal goes to its
// main process only (its children are its own to stop), with SIGCONT.
func TestStopSignalsAtAMomentWithNoRequestInProgress(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	w := h.cur(0)
	h.busyConns[w.pid()] = 2
	k := len(h.kills)
	h.signal(syscall.SIGTERM)
	if got := h.killsTo(w, k); contains(got, syscall.SIGTERM) {
		t.Fatalf("stop signal sent with 2 requests in progress: %v", got)
	}
	if h.frozen[w.pid()] {
		t.Fatal("left frozen while it has requests to finish")
	}
	h.toWake()
	h.toWake()
	if got := h.killsTo(w, k); contains(got, syscall.SIGTERM) {
		t.Fatal("stop signal sent while still busy")
	}
	h.busyConns[w.pid()] = 0
	h.toWake()
	var toMain, toGroup bool
	for _, x := range h.kills[k:] {
		if x.sig == syscall.SIGTERM {
			toMain = toMain || x.pid == w.pid()
			toGroup = toGroup || x.pid == -w.pid()
		}
	}
	if !toMain || toGroup {
		t.Fatalf("SIGTERM to main %v, to group %v: want the main process only", toMain, toGroup)
	}
	if h.frozen[w.pid()] {
		t.Fatal("left frozen after the stop signal")
	}
}

func TestStopSignalsAnywayAtHalfTheGracefulTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.GracefulTimeout = 10 * time.Second
	h := startReady(t, cfg, 0)
	w := h.cur(0)
	h.busyConns[w.pid()] = 1
	k := len(h.kills)
	h.signal(syscall.SIGTERM)
	for h.now.Before(w.cleanBy) {
		h.toWake()
		if h.now.Before(w.cleanBy) && contains(h.killsTo(w, k), syscall.SIGTERM) {
			t.Fatalf("stop signal at %s, before half the graceful timeout", h.now.Sub(w.cleanBy))
		}
	}
	if !contains(h.killsTo(w, k), syscall.SIGTERM) {
		t.Fatal("no stop signal at half the graceful timeout")
	}
	h.mustLog("still had 1 requests in progress 5s after it was asked to stop")
	h.advance(5 * time.Second)
	if !contains(h.killsTo(w, k), syscall.SIGKILL) {
		t.Fatal("no SIGKILL at the graceful timeout")
	}
}

// leftoverAfterStop stops a launcher with one ready worker (SIGTERM) and
// has the worker's main process exit while the rest of its group still
// runs, with a request in progress; k counts the kills before that exit.
func leftoverAfterStop(t *testing.T) (h *harness, w *worker, k int) {
	t.Helper()
	cfg := testConfig()
	cfg.Workers = 1
	h = startReady(t, cfg, 0)
	w = h.cur(0)
	h.signal(syscall.SIGTERM)
	h.alive[w.pid()] = true
	h.busyConns[w.pid()] = 1
	k = len(h.kills)
	h.exit(w, 0)
	return h, w, k
}

// Once the main process exited, the rest of its group (a wrapper shell's
// child, seed 000's orphan) gets the stop signal, by the same protocol;
// the launcher is done only when the group is empty.
func TestLeftoverGroupIsStoppedAfterItsMainProcess(t *testing.T) {
	h, w, k := leftoverAfterStop(t)
	if h.s.done() {
		t.Fatal("done while its group still runs")
	}
	h.mustLog("its main process exited; stopping the rest of its process group")
	if contains(h.killsTo(w, k), syscall.SIGTERM) {
		t.Fatal("group signalled with a request in progress")
	}
	h.busyConns[w.pid()] = 0
	h.toWake()
	sawGroupTERM := false
	for _, x := range h.kills[k:] {
		sawGroupTERM = sawGroupTERM || x.pid == -w.pid() && x.sig == syscall.SIGTERM
	}
	if !sawGroupTERM {
		t.Fatal("the rest of the group did not get the stop signal")
	}
	h.toWake()
	if h.s.done() {
		t.Fatal("done while the group still runs")
	}
	h.alive[w.pid()] = false
	h.toWake()
	if !h.s.done() {
		t.Fatal("not done once the group is empty")
	}
}

func TestLeftoverGroupIsKilledAtTheDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.Workers, cfg.GracefulTimeout = 1, 2*time.Second
	h := startReady(t, cfg, 0)
	w := h.cur(0)
	h.signal(syscall.SIGTERM)
	h.alive[w.pid()] = true
	h.exit(w, 0)
	k := len(h.kills)
	for range 100 {
		if contains(h.killsTo(w, k), syscall.SIGKILL) {
			break
		}
		h.toWake()
	}
	if !contains(h.killsTo(w, k), syscall.SIGKILL) {
		t.Fatal("leftover group not killed at the graceful timeout")
	}
	h.alive[w.pid()] = false
	h.toWake()
	if !h.s.done() {
		t.Fatal("not done after the group was killed and is empty")
	}
}

// A serving worker's main process crashed but its children live on: they
// are stopped gracefully (they may be finishing requests), while the slot
// is restarted.
func TestCrashLeavesTheChildrenToFinish(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	w := h.cur(0)
	h.alive[w.pid()] = true
	k := len(h.kills)
	h.exit(w, 4)
	if contains(h.killsTo(w, k), syscall.SIGKILL) {
		t.Fatal("the crashed worker's group was SIGKILLed")
	}
	if !contains(h.killsTo(w, k), syscall.SIGTERM) {
		t.Fatal("the crashed worker's group was not asked to stop")
	}
	h.advance(initialBackoff)
	if h.cur(0) == w {
		t.Fatal("slot not restarted")
	}
}

// A worker that never got ready serves nothing: its group is killed at
// once.
func TestBootFailureKillsItsGroupAtOnce(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	w := h.cur(0)
	h.alive[w.pid()] = true
	h.exit(w, 1)
	if !contains(h.killsTo(w, 0), syscall.SIGKILL) {
		t.Fatal("a failed boot's group was not killed")
	}
	if len(h.s.pool.leftovers) != 0 {
		t.Fatal("a failed boot's group kept as a leftover")
	}
}

// Retiring workers in a roll goes through the same protocol.
func TestReloadRetiresOldWorkersLosslessly(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	old := h.cur(0)
	h.busyConns[old.pid()] = 3
	h.reload()
	k := len(h.kills)
	f := h.freezes
	h.ready(h.next(0), h.next(1))
	if h.freezes == f {
		t.Fatal("old workers retired without being looked at")
	}
	if contains(h.killsTo(old, k), syscall.SIGTERM) {
		t.Fatal("old worker signalled with 3 requests in progress")
	}
	h.busyConns[old.pid()] = 0
	h.wakeUntil(func() bool { return contains(h.killsTo(old, k), syscall.SIGTERM) })
	if !contains(h.killsTo(old, k), syscall.SIGTERM) {
		t.Fatal("old worker not signalled once idle")
	}
}

// A standalone stop is lossless for what was already queued: the
// launcher's own sockets admit no new connection from the stop on, a
// worker is signalled only once nothing waits in their queues (somebody
// must accept it), and the sockets are turned away (refused at once) only
// once every worker had its signal. A reload touches none of this.
func TestStopDrainsTheQueueThenRefuses(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	a := h.reload()
	h.ready(h.next(0), h.next(1))
	if h.held+h.unlisten != 0 || len(a.got) != 1 {
		t.Fatalf("a reload held (%d) or released (%d) the sockets", h.held, h.unlisten)
	}
	w0, w1 := h.cur(0), h.cur(1)
	h.queue = 3
	k := len(h.kills)
	h.signal(syscall.SIGTERM)
	if h.held != 1 {
		t.Fatalf("sockets held %d times at the stop", h.held)
	}
	if contains(h.killsTo(w0, k), syscall.SIGTERM) || contains(h.killsTo(w1, k), syscall.SIGTERM) {
		t.Fatal("a worker was signalled with connections still queued")
	}
	h.queue = 0
	h.wakeUntil(func() bool {
		return contains(h.killsTo(w0, k), syscall.SIGTERM) && contains(h.killsTo(w1, k), syscall.SIGTERM)
	})
	if !contains(h.killsTo(w0, k), syscall.SIGTERM) || !contains(h.killsTo(w1, k), syscall.SIGTERM) {
		t.Fatal("workers not signalled once the queue was empty")
	}
	if h.unlisten != 1 {
		t.Fatalf("sockets refused %d times once every worker was signalled", h.unlisten)
	}
	h.signal(syscall.SIGTERM)
	if h.held != 1 || h.unlisten != 1 {
		t.Fatal("a second stop signal held or refused again")
	}
}

func TestFastStopKillsLeftovers(t *testing.T) {
	h, w, _ := leftoverAfterStop(t)
	k := len(h.kills)
	h.signal(syscall.SIGQUIT)
	if !contains(h.killsTo(w, k), syscall.SIGKILL) {
		t.Fatal("fast stop spared a leftover group")
	}
}

func TestFreezeFailureStillStops(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	h.s.env.freeze = func(int) error { return syscall.EPERM }
	w := h.cur(0)
	k := len(h.kills)
	h.signal(syscall.SIGTERM)
	if !contains(h.killsTo(w, k), syscall.SIGTERM) {
		t.Fatal("no stop signal when the group cannot be frozen")
	}
	h.mustLog("cannot freeze its process group")
}

// A group with a thread that did not stop in time (runnable on a busy
// machine) is looked at again, not signalled without a look (CI run 26: a
// request cut); at half of --graceful-timeout it is signalled anyway.
func TestFreezeTimeoutLooksAgain(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	notStopped := fmt.Errorf("freeze group 7: pid 7 thread 7 (state R) %w after 200ms", observe.ErrNotStopped)
	failing := 2
	real := h.s.env.freeze
	h.s.env.freeze = func(pgid int) error {
		if failing > 0 {
			failing--
			return notStopped
		}
		return real(pgid)
	}
	w := h.cur(0)
	k := len(h.kills)
	h.signal(syscall.SIGTERM)
	if contains(h.killsTo(w, k), syscall.SIGTERM) {
		t.Fatal("signalled without a look after a freeze that timed out")
	}
	h.wakeUntil(func() bool { return contains(h.killsTo(w, k), syscall.SIGTERM) })
	if !contains(h.killsTo(w, k), syscall.SIGTERM) || failing != 0 {
		t.Fatalf("not signalled once a freeze succeeded (freezes left to fail: %d)", failing)
	}
	if h.logged("cannot freeze its process group") {
		t.Error("warned about a freeze that succeeded on a later try")
	}

	// Never stops in time: signalled at half of --graceful-timeout.
	h2 := startReady(t, testConfig(), 0)
	h2.s.env.freeze = func(int) error { return notStopped }
	w2 := h2.cur(0)
	k2 := len(h2.kills)
	h2.signal(syscall.SIGTERM)
	h2.advance(testConfig().GracefulTimeout/2 - time.Millisecond)
	if contains(h2.killsTo(w2, k2), syscall.SIGTERM) {
		t.Fatal("signalled before half of --graceful-timeout")
	}
	h2.advance(time.Millisecond)
	h2.wakeUntil(func() bool { return contains(h2.killsTo(w2, k2), syscall.SIGTERM) })
	if !contains(h2.killsTo(w2, k2), syscall.SIGTERM) {
		t.Fatal("never signalled a group that cannot be frozen in time")
	}
	h2.mustLog("cannot freeze its process group")
}

// One look that cannot see is not blindness: a wait resumed after a signal
// shows as restart_syscall for a moment.
func TestOneUnknownLookIsNotBlindness(t *testing.T) {
	h := newHarness(t, acceptConfig(), 0)
	w := h.cur(0)
	h.seen[w.pid()] = observation{unknown: "pid 101 thread 101 is in restart_syscall"}
	h.toWake()
	delete(h.seen, w.pid())
	h.toWake()
	if w.state != wReady || w.blind {
		t.Fatalf("state %s blind %v: one unknown look made the worker blind", w.state, w.blind)
	}
	if h.s.pool.blindNote != "" {
		t.Errorf("blind note %q after a passing unknown", h.s.pool.blindNote)
	}
}

// A master that handles the stop signal while a child of its group accepts
// (gunicorn's arbiter) gets it at once, its children busy or not: stopping
// them is its job. A main process that accepts itself is still signalled
// only at a moment with nothing in progress, and one that does not handle
// the signal likewise.
func TestMasterHandlingTheStopSignalIsSignalledAtOnce(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	master, self := h.cur(0), h.cur(1)
	master.acceptor = master.pid() + 1 // its child accepts
	self.acceptor = self.pid()
	h.busyConns[master.pid()] = 1
	h.busyConns[self.pid()] = 1
	h.s.env.catches = func(pid int, sig syscall.Signal) bool { return sig == syscall.SIGTERM }
	k := len(h.kills)
	h.signal(syscall.SIGTERM)
	h.toWake()
	if !contains(h.killsTo(master, k), syscall.SIGTERM) {
		t.Fatalf("the master was not signalled at once: %v", h.killsTo(master, k))
	}
	if contains(h.killsTo(self, k), syscall.SIGTERM) {
		t.Fatal("a worker that accepts itself was signalled with a request in progress")
	}
	if h.frozen[master.pid()] {
		t.Error("the master's group was left frozen")
	}

	// The same master, with a stop signal it does not handle: it would die
	// of it, and its children with it: the usual protocol.
	h = startReady(t, testConfig(), 0)
	master = h.cur(0)
	master.acceptor = master.pid() + 1
	h.busyConns[master.pid()] = 1
	h.s.env.catches = func(pid int, sig syscall.Signal) bool { return false }
	k = len(h.kills)
	h.signal(syscall.SIGTERM)
	h.toWake()
	if contains(h.killsTo(master, k), syscall.SIGTERM) {
		t.Fatal("a master that does not handle the signal was signalled with a request in progress")
	}
}

// A main process that accepts and handles its stop signal late (Python's
// KeyboardInterrupt) is signalled, for a moment, only while parked in its
// wait for connections; after lateWait at any moment with nothing in
// progress, so that a saturated worker that is never parked is not starved.
func TestLateHandlerWaitsForParkedOnlyForAMoment(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	w := h.cur(0)
	w.acceptor = w.pid()
	h.s.env.parked = func(pid int) bool { return false }
	h.s.env.catches = func(pid int, sig syscall.Signal) bool { return true }
	k := len(h.kills)
	begin := h.now
	h.signal(syscall.SIGTERM)
	h.toWake()
	if contains(h.killsTo(w, k), syscall.SIGTERM) {
		t.Fatal("signalled at once while not parked in its wait")
	}
	for !contains(h.killsTo(w, k), syscall.SIGTERM) {
		if h.now.Sub(begin) > 2*lateWait {
			t.Fatalf("not signalled %v after the stop, never parked: starved", h.now.Sub(begin))
		}
		h.toWake()
	}
	if d := h.now.Sub(begin); d < lateWait {
		t.Errorf("signalled after %v, before lateWait, though never parked", d)
	}
}

// A booting worker may call listen(2) on the sockets with its own backlog
// (gunicorn does, at every boot): every look at it, and readiness, set the
// backlog back; a launcher with nothing booting leaves the sockets alone,
// and so does a stop.
func TestBacklogIsSetBackAtEveryLookOfABootingWorker(t *testing.T) {
	h := newHarness(t, acceptConfig(), 0)
	w0, w1 := h.cur(0), h.cur(1)
	h.seen[w0.pid()] = observation{}
	h.seen[w1.pid()] = observation{}
	for range 4 {
		before := h.relistens
		h.toWake()
		if h.relistens <= before {
			t.Fatalf("a look at booting workers left the backlog (%d calls before, %d after)", before, h.relistens)
		}
	}
	delete(h.seen, w0.pid())
	delete(h.seen, w1.pid())
	h.toWake()
	if w0.state != wReady || w1.state != wReady {
		t.Fatal("workers not ready once seen accepting")
	}
	n := h.relistens
	h.advance(time.Minute)
	if h.relistens != n {
		t.Errorf("with every worker ready, the backlog was set %d more times", h.relistens-n)
	}
	h.reload()
	h.seen[h.next(0).pid()] = observation{}
	h.toWake()
	if h.relistens == n {
		t.Error("a reload's booting successor was looked at without setting the backlog back")
	}
	h.signal(syscall.SIGTERM)
	n = h.relistens
	h.advance(time.Second)
	if h.relistens != n {
		t.Errorf("a stop set the backlog %d times", h.relistens-n)
	}
}

// Readiness that needs no look (alive mode, READY=1 where the launcher
// cannot look) sets the backlog back too.
func TestBacklogIsSetBackAtReadinessWithoutALook(t *testing.T) {
	cfg := testConfig()
	cfg.Ready = ReadyAlive
	h := newHarness(t, cfg, 0)
	h.advance(cfg.ReadyAfter)
	if h.cur(0).state != wReady || h.relistens == 0 {
		t.Fatalf("alive mode: state %s, backlog set %d times", h.cur(0).state, h.relistens)
	}
}
