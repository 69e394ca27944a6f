package prefork

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartsEveryWorkerOfGenerationOne(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	if len(h.spawned) != 2 {
		t.Fatalf("%d workers started, want 2", len(h.spawned))
	}
	for i, w := range h.spawned {
		if w.id.slot != i || w.id.gen != 1 || w.state != wStarting {
			t.Errorf("worker %d: slot %d gen %d state %s", i, w.id.slot, w.id.gen, w.state)
		}
	}
	h.mustSend(0, "STATUS=starting 2 workers")
	if h.sentField(0, "READY=1") >= 0 {
		t.Fatal("READY=1 before any worker was ready")
	}
}

func TestReadyOnlyOnceEveryWorkerIsReady(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	h.ready(h.cur(0))
	if h.sentField(0, "READY=1") >= 0 {
		t.Fatal("READY=1 with 1 of 2 workers ready")
	}
	h.ready(h.cur(1))
	i := h.mustSend(0, "READY=1")
	if got, want := h.dgrams[i], "STATUS=2/2 ready, generation 1, 0 restarts"; !strings.Contains(strings.Join(got, "\n"), want) {
		t.Errorf("READY datagram %q lacks %q", got, want)
	}
	n := len(h.dgrams)
	h.ready(h.cur(0)) // a repeated READY=1 changes nothing
	if h.sentField(n, "READY=1") >= 0 {
		t.Error("READY=1 sent twice")
	}
}

func TestMinReadyReportsReadyEarly(t *testing.T) {
	cfg := testConfig()
	cfg.Workers, cfg.MinReady = 4, 2
	h := newHarness(t, cfg, 0)
	h.ready(h.cur(3))
	if h.sentField(0, "READY=1") >= 0 {
		t.Fatal("READY=1 with 1 ready, --min-ready 2")
	}
	h.ready(h.cur(1))
	h.mustSend(0, "READY=1")
}

func TestAliveModeIsReadyAfterReadyAfter(t *testing.T) {
	cfg := testConfig()
	cfg.Ready, cfg.ReadyAfter = ReadyAlive, 700*time.Millisecond
	h := newHarness(t, cfg, 0)
	if want := h.now.Add(700 * time.Millisecond); !h.s.wake.Equal(want) {
		t.Fatalf("wake = %s, want start + 700ms", h.s.wake.Sub(h.now))
	}
	h.advance(699 * time.Millisecond)
	if h.cur(0).state != wStarting {
		t.Fatal("ready before --ready-after")
	}
	h.toWake()
	if h.cur(0).state != wReady || h.cur(1).state != wReady {
		t.Fatal("not ready at --ready-after")
	}
	h.mustSend(0, "READY=1")
}

func TestNotifyModeIgnoresTimer(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	h.advance(30 * time.Second)
	if h.cur(0).state != wStarting {
		t.Fatalf("notify mode worker is %s without READY=1", h.cur(0).state)
	}
}

// Boot failures retry with doubling backoff, and the third in a row ends
// the launcher with a BootError naming the status and the last output.
func TestBootRetriesEndInBootError(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	w := h.cur(0)
	h.exit(w, 3)
	if h.s.pool.slots[0].cur.w != nil {
		t.Fatal("restarted at once, without backoff")
	}
	if got := h.s.wake.Sub(h.now); got != 100*time.Millisecond {
		t.Fatalf("first retry in %s, want 100ms", got)
	}
	h.toWake()
	h.exit(h.cur(0), 3)
	if got := h.s.wake.Sub(h.now); got != 200*time.Millisecond {
		t.Fatalf("second retry in %s, want 200ms", got)
	}
	h.toWake()
	last := h.cur(0)
	h.exit(last, 3)
	be := h.bootError()
	for _, want := range []string{"worker 0 exited with status 3", "3 times in a row", "output of"} {
		if !strings.Contains(be.Msg, want) {
			t.Errorf("BootError %q lacks %q", be.Msg, want)
		}
	}
	if !h.s.stopping {
		t.Fatal("not stopping after the boot failures")
	}
	// The other worker is stopped gracefully, then the supervisor is done.
	other := h.cur(1)
	if got := h.killsTo(other, 0); !contains(got, syscall.SIGTERM) {
		t.Fatalf("worker 1 got %v, want SIGTERM", got)
	}
	h.exit(other, 0)
	if !h.s.done() {
		t.Fatal("not done once every worker exited")
	}
}

func TestBootFailuresAreCountedPerSlotAndResetByReady(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	h.exit(h.cur(0), 1)
	h.toWake()
	h.exit(h.cur(0), 1) // 2 of 3
	h.toWake()
	h.ready(h.cur(0), h.cur(1))
	if n := h.s.pool.slots[0].cur.fails; n != 0 {
		t.Fatalf("fails = %d after READY, want 0", n)
	}
	if h.s.exitErr != nil {
		t.Fatalf("exitErr = %v", h.s.exitErr)
	}
}

func TestWorkerThatCannotBeStartedIsABootFailure(t *testing.T) {
	h := &harness{}
	cfg := testConfig()
	cfg.Workers = 1
	h = newHarness(t, cfg, 0)
	h.exit(h.cur(0), 1)
	h.spawnErr = errors.New("chdir /srv/app/current: no such file or directory")
	h.toWake()
	h.toWake()
	be := h.bootError()
	if !strings.Contains(be.Msg, "could not be started") || !strings.Contains(be.Msg, "chdir /srv/app/current") {
		t.Errorf("BootError %q does not say the worker could not be started and why", be.Msg)
	}
}

// A crash of a serving worker is restarted with doubling backoff capped at
// --backoff-max, counted, and never a boot failure.
func TestCrashOfReadyWorkerRestartsWithCappedBackoff(t *testing.T) {
	cfg := testConfig()
	cfg.BackoffMax = 400 * time.Millisecond
	h := startReady(t, cfg, 0)
	var delays []time.Duration
	for range 5 {
		h.advance(time.Second)
		h.exit(h.cur(0), 4)
		delays = append(delays, h.s.wake.Sub(h.now))
		h.toWake()
		h.ready(h.cur(0))
	}
	want := []time.Duration{100, 200, 400, 400, 400}
	for i := range want {
		if delays[i] != want[i]*time.Millisecond {
			t.Fatalf("restart delays %v, want %v ms", delays, want)
		}
	}
	if h.s.exitErr != nil {
		t.Fatalf("exitErr = %v after crashes of ready workers", h.s.exitErr)
	}
	if h.s.pool.restarts != 5 || !strings.Contains(h.status(), "5 restarts, last: worker 0 exited with status 4") {
		t.Errorf("restarts %d, status %q", h.s.pool.restarts, h.status())
	}
}

func TestBackoffResetsAfterAStableRun(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	for range 3 {
		h.exit(h.cur(0), 4)
		h.toWake()
		h.ready(h.cur(0))
	}
	h.advance(stableAfter)
	h.exit(h.cur(0), 4)
	if got := h.s.wake.Sub(h.now); got != initialBackoff {
		t.Fatalf("restart after a %s run in %s, want %s", stableAfter, got, initialBackoff)
	}
}

// Issue 9: a worker killed from outside before it was ready (an operator,
// a chaos test, the OOM killer) is restarted, never counted towards exit 69.
func TestKilledFromOutsideBeforeReadyIsNotABootFailure(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	h := newHarness(t, cfg, 0)
	for range 10 {
		h.killed(h.cur(0), syscall.SIGKILL)
		if h.s.exitErr != nil {
			t.Fatalf("exitErr = %v after outside kills", h.s.exitErr)
		}
		h.toWake()
	}
	if n := h.s.pool.slots[0].cur.fails; n != 0 {
		t.Errorf("boot failures counted: %d", n)
	}
	h.mustLog("by a signal the launcher did not send")
	// A worker that crashes by itself at boot still fails to boot.
	for range 3 {
		h.killed(h.cur(0), syscall.SIGSEGV)
		if h.s.exitErr == nil {
			h.toWake()
		}
	}
	h.bootError()
}

// No readiness by --start-timeout is a boot failure, and a final one: a
// retry would only repeat the long wait (seed 002 under gunicorn without
// --preload exits 69 within --start-timeout, not three times that).
func TestStartTimeoutIsAFinalBootFailure(t *testing.T) {
	cfg := testConfig()
	cfg.StartTimeout = 5 * time.Second
	h := newHarness(t, cfg, 0)
	w := h.cur(0)
	h.ready(h.cur(1))
	h.advance(4999 * time.Millisecond)
	if len(h.killsTo(w, 0)) != 0 {
		t.Fatal("killed before --start-timeout")
	}
	h.advance(time.Millisecond)
	if got := h.killsTo(w, 0); !contains(got, syscall.SIGKILL) {
		t.Fatalf("worker without READY=1 got %v at its start timeout, want SIGKILL", got)
	}
	h.mustLog("did not become ready within --start-timeout 5s (it sent no READY=1)")
	h.killed(w, syscall.SIGKILL) // our own kill: a boot failure, not an outside kill
	be := h.bootError()
	if !strings.Contains(be.Msg, "worker 0 did not become ready within --start-timeout 5s") {
		t.Errorf("BootError %q", be.Msg)
	}
	if len(h.spawned) != 2 {
		t.Errorf("%d workers started: a start timeout was retried", len(h.spawned))
	}
}

func TestExtendTimeoutUsecMovesTheBootDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.StartTimeout = 5 * time.Second
	h := newHarness(t, cfg, 0)
	w := h.cur(0)
	h.advance(4 * time.Second)
	h.send(w, "EXTEND_TIMEOUT_USEC=10000000", "STATUS=migrating")
	h.advance(5 * time.Second)
	if w.state != wStarting || len(h.killsTo(w, 0)) != 0 {
		t.Fatalf("worker killed despite EXTEND_TIMEOUT_USEC (state %s)", w.state)
	}
	h.mustSend(0, "EXTEND_TIMEOUT_USEC=")
	h.advance(5 * time.Second)
	if !contains(h.killsTo(w, 0), syscall.SIGKILL) {
		t.Fatal("not killed at the extended deadline")
	}
}

func TestNotifyFromAnEarlierWorkerWithTheSamePidIsIgnored(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	w := h.cur(0)
	stale := &workerID{slot: 0, gen: 1, pid: w.pid()}
	h.event(notifyMsg{id: stale, fields: map[string]string{"READY": "1"}})
	if w.state != wStarting {
		t.Fatal("a datagram of another worker id made this one ready")
	}
}

func contains(sigs []syscall.Signal, sig syscall.Signal) bool {
	for _, s := range sigs {
		if s == sig {
			return true
		}
	}
	return false
}

// A serving worker killed from outside restarts after the initial delay
// every time: it booted fine, and backing off would let random kills drain
// the pool (a 6 s stall in the chaos soak). A crash keeps doubling.
func TestReadyWorkerKilledFromOutsideRestartsWithoutGrowingBackoff(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	for range 5 {
		h.advance(time.Second)
		h.killed(h.cur(0), syscall.SIGKILL)
		if got := h.s.wake.Sub(h.now); got != initialBackoff {
			t.Fatalf("restart in %s after an outside kill, want %s", got, initialBackoff)
		}
		h.toWake()
		h.ready(h.cur(0))
	}
	for want := initialBackoff; want <= 4*initialBackoff; want *= 2 {
		h.advance(time.Second)
		h.killed(h.cur(0), syscall.SIGSEGV)
		if got := h.s.wake.Sub(h.now); got != want {
			t.Fatalf("restart in %s after a crash, want %s", got, want)
		}
		h.toWake()
		h.ready(h.cur(0))
	}
}
