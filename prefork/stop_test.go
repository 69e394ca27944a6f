package prefork

import (
	"encoding/json"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGracefulStopSignalsEveryWorkerThenDone(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	k := len(h.kills)
	h.signal(syscall.SIGTERM)
	h.mustSend(0, "STOPPING=1")
	for i := range 2 {
		got := h.killsTo(h.cur(i), k)
		if !contains(got, syscall.SIGTERM) || !contains(got, syscall.SIGCONT) || contains(got, syscall.SIGKILL) {
			t.Errorf("worker %d got %v, want the stop signal and SIGCONT", i, got)
		}
	}
	w0, w1 := h.cur(0), h.cur(1)
	h.exit(w0, 0)
	if h.s.done() {
		t.Fatal("done with a worker still running")
	}
	h.exit(w1, 0)
	if !h.s.done() || h.s.exitErr != nil {
		t.Fatalf("done %v, exitErr %v", h.s.done(), h.s.exitErr)
	}
	if len(h.spawned) != 2 {
		t.Errorf("%d workers started: a worker was replaced during the stop", len(h.spawned))
	}
}

func TestStopSignalIsConfigurable(t *testing.T) {
	cfg := testConfig()
	cfg.StopSignal = syscall.SIGINT
	h := startReady(t, cfg, 0)
	k := len(h.kills)
	h.signal(syscall.SIGTERM)
	if got := h.killsTo(h.cur(0), k); !contains(got, syscall.SIGINT) || contains(got, syscall.SIGTERM) {
		t.Fatalf("got %v, want SIGINT (--stop-signal INT)", got)
	}
}

func TestGracefulTimeoutEscalatesToSIGKILL(t *testing.T) {
	cfg := testConfig()
	cfg.GracefulTimeout = 3 * time.Second
	h := startReady(t, cfg, 0)
	h.signal(syscall.SIGTERM)
	k := len(h.kills)
	h.advance(2999 * time.Millisecond)
	if contains(h.killsTo(h.cur(0), k), syscall.SIGKILL) {
		t.Fatal("SIGKILL before --graceful-timeout")
	}
	h.toWake()
	if !contains(h.killsTo(h.cur(0), k), syscall.SIGKILL) {
		t.Fatal("no SIGKILL at --graceful-timeout")
	}
	h.mustLog("still running 3s after the stop signal: SIGKILL")
}

func TestSecondStopSignalStopsAtOnce(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	h.signal(syscall.SIGTERM)
	k := len(h.kills)
	h.signal(syscall.SIGINT)
	for i := range 2 {
		if !contains(h.killsTo(h.cur(i), k), syscall.SIGKILL) {
			t.Errorf("worker %d not killed after a second stop signal", i)
		}
	}
	h.mustLog("second SIGINT: stopping now")
}

func TestSIGQUITIsAFastStop(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	k := len(h.kills)
	h.signal(syscall.SIGQUIT)
	for i := range 2 {
		got := h.killsTo(h.cur(i), k)
		if !contains(got, syscall.SIGKILL) || contains(got, syscall.SIGTERM) {
			t.Errorf("worker %d got %v, want SIGKILL only", i, got)
		}
	}
}

// A stop during a roll stops both generations, answers the waiter, and
// ends with no boot error although the new workers never became ready.
func TestStopDuringARoll(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	a := h.reload()
	ws := []*worker{h.cur(0), h.cur(1), h.next(0), h.next(1)}
	k := len(h.kills)
	h.signal(syscall.SIGTERM)
	if len(a.got) != 1 || a.got[0] != "error: launcher is stopping" {
		t.Fatalf("waiter got %q", a.got)
	}
	for _, w := range ws {
		if !contains(h.killsTo(w, k), syscall.SIGTERM) {
			t.Errorf("%s not stopped", w.id)
		}
	}
	for _, w := range ws {
		h.exit(w, 0)
	}
	if !h.s.done() || h.s.exitErr != nil {
		t.Fatalf("done %v exitErr %v", h.s.done(), h.s.exitErr)
	}
}

func TestExitsDuringAStopAreNeitherCrashesNorBootFailures(t *testing.T) {
	h := newHarness(t, testConfig(), 0) // not ready yet
	h.signal(syscall.SIGTERM)
	h.exit(h.cur(0), 1)
	h.exit(h.cur(1), 1)
	if h.s.exitErr != nil || h.s.pool.restarts != 0 || len(h.spawned) != 2 {
		t.Fatalf("exitErr %v, restarts %d, started %d", h.s.exitErr, h.s.pool.restarts, len(h.spawned))
	}
}

// Issue 9: STOPPING=1 followed by an exit does not bypass the backoff
// (280 respawns in 10 s before), and is counted.
func TestSelfStopIsRestartedWithBackoff(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	for range 4 {
		w := h.cur(0)
		h.send(w, "STOPPING=1")
		h.exit(w, 1)
		if h.s.pool.slots[0].cur.w != nil {
			t.Fatal("replaced at once after STOPPING=1")
		}
		h.toWake()
		h.ready(h.cur(0))
	}
	if h.s.pool.restarts != 4 || !strings.Contains(h.status(), "4 restarts") {
		t.Fatalf("restarts %d, status %q", h.s.pool.restarts, h.status())
	}
	if got := h.s.pool.slots[0].cur.delay; got != 1600*time.Millisecond {
		t.Errorf("next backoff %s, want 1.6s", got)
	}
	h.mustLog("after STOPPING=1")
}

func TestWorkerWatchdogReplacesAHungWorker(t *testing.T) {
	cfg := testConfig()
	cfg.WorkerWatchdog = 2 * time.Second
	h := startReady(t, cfg, 0)
	w := h.cur(0)
	h.advance(time.Second)
	h.send(w, "WATCHDOG=1")
	h.send(h.cur(1), "WATCHDOG=1")
	h.advance(1999 * time.Millisecond)
	if w.state != wReady {
		t.Fatal("declared hung although it pinged")
	}
	k := len(h.kills)
	h.send(h.cur(1), "WATCHDOG=1")
	h.advance(time.Millisecond)
	got := h.killsTo(w, k)
	if len(got) < 2 || got[0] != syscall.SIGABRT || got[1] != syscall.SIGCONT {
		t.Fatalf("hung worker got %v, want SIGABRT then SIGCONT", got)
	}
	repl := h.cur(0)
	if repl == w {
		t.Fatal("not replaced at once")
	}
	h.advance(abortGrace)
	if !contains(h.killsTo(w, k), syscall.SIGKILL) {
		t.Fatal("hung worker not killed after the abort grace")
	}
	h.mustLog("sent no WATCHDOG=1 for 2s")
	h.killed(w, syscall.SIGKILL)
	if h.cur(0) != repl || h.s.pool.restarts != 1 {
		t.Fatalf("the hung worker's exit disturbed its replacement (restarts %d)", h.s.pool.restarts)
	}
}

func TestWorkerWatchdogTrigger(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	w := h.cur(0)
	k := len(h.kills)
	h.send(w, "WATCHDOG=trigger")
	if got := h.killsTo(w, k); !contains(got, syscall.SIGABRT) {
		t.Fatalf("got %v after WATCHDOG=trigger", got)
	}
	if h.cur(0) == w {
		t.Fatal("not replaced")
	}
}

// The launcher pings systemd's watchdog from the loop while the quorum
// holds, stops when it is lost, and sends WATCHDOG=trigger one full interval
// later, not before.
func TestSystemdWatchdogFollowsTheQuorum(t *testing.T) {
	wd := 4 * time.Second
	h := startReady(t, testConfig(), wd)
	pings := func(from int) int {
		n := 0
		for _, d := range h.dgrams[from:] {
			for _, f := range d {
				if f == "WATCHDOG=1" {
					n++
				}
			}
		}
		return n
	}
	n := len(h.dgrams)
	for range 4 {
		h.toWake()
	}
	if p := pings(n); p < 3 {
		t.Fatalf("%d WATCHDOG=1 pings in 4 intervals of WatchdogSec/2", p)
	}
	h.exit(h.cur(0), 4) // quorum (2 of 2) lost
	lost := h.now
	n = len(h.dgrams)
	for h.now.Add(500 * time.Millisecond).Before(lost.Add(wd)) {
		h.advance(500 * time.Millisecond)
		if h.s.pool.slots[0].cur.w != nil {
			h.exit(h.cur(0), 1) // its replacement cannot boot: degraded
		}
	}
	if p := pings(n); p != 0 {
		t.Fatalf("%d pings below quorum", p)
	}
	if h.sentField(n, "WATCHDOG=trigger") >= 0 {
		t.Fatal("WATCHDOG=trigger before a full interval below quorum")
	}
	h.advance(lost.Add(wd).Sub(h.now))
	h.mustSend(n, "WATCHDOG=trigger")
	m := len(h.dgrams)
	h.advance(time.Second)
	if h.sentField(m, "WATCHDOG=trigger") >= 0 {
		t.Fatal("WATCHDOG=trigger sent twice for one loss")
	}
}

func TestSystemdWatchdogPingsResumeWhenQuorumReturns(t *testing.T) {
	wd := 4 * time.Second
	h := startReady(t, testConfig(), wd)
	h.exit(h.cur(0), 4)
	h.toWake()
	h.ready(h.cur(0))
	n := len(h.dgrams)
	h.advance(wd)
	h.mustSend(n, "WATCHDOG=1")
	if h.sentField(n, "WATCHDOG=trigger") >= 0 {
		t.Fatal("trigger after the quorum came back")
	}
}

func TestMinReadyQuorumToleratesOneCrash(t *testing.T) {
	cfg := testConfig()
	cfg.Workers, cfg.MinReady = 3, 2
	h := startReady(t, cfg, 2*time.Second)
	h.exit(h.cur(0), 4)
	n := len(h.dgrams)
	h.advance(2 * time.Second)
	h.mustSend(n, "WATCHDOG=1")
}

func TestUnreachableSystemdIsLoggedOnceAndRecovery(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	h.notifyErr = errors.New("sendto /run/test/notify: connection refused")
	h.exit(h.cur(0), 4)
	h.toWake()
	h.ready(h.cur(0))
	errs := 0
	for _, l := range h.logs {
		if strings.Contains(l, "cannot reach systemd's NOTIFY_SOCKET") {
			errs++
		}
	}
	if errs != 1 {
		t.Fatalf("%d error lines for one outage", errs)
	}
	h.notifyErr = nil
	h.exit(h.cur(0), 4)
	h.mustLog("NOTIFY_SOCKET reachable again")
}

func TestStatusTextAndJSON(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 4
	h := startReady(t, cfg, 0)
	h.exit(h.cur(2), 1)
	h.toWake()
	h.exit(h.cur(2), 1) // a boot failure of the replacement
	h.toWake()
	want := "3/4 ready, generation 1, 1 restarts, last: worker 2 exited with status 1 before ready"
	if got := h.s.statusText(); got != want {
		t.Errorf("statusText() = %q, want %q", got, want)
	}
	h.send(h.cur(1), "STATUS=serving 12 req/s")
	var st StatusInfo
	if err := json.Unmarshal([]byte(h.s.statusJSON()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != want || st.Generation != 1 || len(st.Workers) != 4 {
		t.Fatalf("status JSON %+v", st)
	}
	for _, w := range st.Workers {
		if w.Slot == 1 && w.Status != "serving 12 req/s" {
			t.Errorf("worker 1's own STATUS= not reported: %+v", w)
		}
		if w.Slot == 2 && w.State != "starting" {
			t.Errorf("worker 2 state %q", w.State)
		}
	}
}

func TestWorkerErrnoIsCarriedIntoItsExitReport(t *testing.T) {
	cfg := testConfig()
	cfg.Workers, cfg.BootRetries = 1, 1
	h := newHarness(t, cfg, 0)
	w := h.cur(0)
	h.send(w, "ERRNO=111")
	h.exit(w, 3)
	if be := h.bootError(); !strings.Contains(be.Msg, "exited with status 3 (ERRNO=111)") {
		t.Fatalf("BootError %q", be.Msg)
	}
}

func TestUnknownControlRequest(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	a := &answers{}
	h.s.request("frobnicate", a.reply(), h.now)
	if len(a.got) != 1 || a.got[0] != `error: unknown request "frobnicate"` {
		t.Fatalf("answers %q", a.got)
	}
}
