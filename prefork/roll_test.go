package prefork

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// A reload starts generation 2 beside generation 1 and retires the old
// workers only once every new one is ready (default surge = N).
func TestReloadRetiresOldWorkersOnlyOnceTheNewOnesAreReady(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	old0, old1 := h.cur(0), h.cur(1)
	n := len(h.dgrams)
	a := h.reload()
	i := h.mustSend(n, "RELOADING=1")
	if h.sentField(i, "MONOTONIC_USEC=") != i {
		t.Errorf("RELOADING=1 and MONOTONIC_USEC= not in one datagram: %q", h.dgrams[i])
	}
	new0, new1 := h.next(0), h.next(1)
	if new0.id.gen != 2 || new1.id.gen != 2 {
		t.Fatalf("successors of generation %d, %d, want 2", new0.id.gen, new1.id.gen)
	}
	k := len(h.kills)
	h.ready(new0)
	if len(h.killsTo(old0, k))+len(h.killsTo(old1, k)) != 0 {
		t.Fatal("an old worker was stopped before the whole new generation was ready")
	}
	h.ready(new1)
	for _, old := range []*worker{old0, old1} {
		if got := h.killsTo(old, k); !contains(got, syscall.SIGTERM) {
			t.Errorf("old worker %s got %v, want SIGTERM", old.id, got)
		}
	}
	if h.cur(0) != new0 || h.cur(1) != new1 || h.s.pool.servGen != 2 {
		t.Fatal("the new generation was not promoted")
	}
	if len(a.got) != 1 || a.got[0] != "ok generation 2 ready" {
		t.Fatalf("reload answers %q", a.got)
	}
	h.mustSend(i+1, "READY=1")
	if !strings.Contains(h.status(), "generation 2") {
		t.Errorf("status %q after the reload", h.status())
	}
	// The retired workers' exits are neither crashes nor boot failures.
	h.exit(old0, 0)
	h.exit(old1, 0)
	if h.s.pool.restarts != 0 || h.s.exitErr != nil {
		t.Errorf("retired workers' exits counted: restarts %d, exitErr %v", h.s.pool.restarts, h.s.exitErr)
	}
}

func TestReloadSurgeRollsInBatches(t *testing.T) {
	cfg := testConfig()
	cfg.Workers, cfg.ReloadSurge = 3, 1
	h := startReady(t, cfg, 0)
	h.reload()
	for i := range 3 {
		booting := 0
		for _, sl := range h.s.pool.slots {
			if sl.next != nil && sl.next.w != nil {
				booting++
			}
		}
		if booting != 1 {
			t.Fatalf("step %d: %d successors booting with --reload-surge 1", i, booting)
		}
		h.ready(h.next(i))
	}
	if h.s.rolls.cur != nil || h.s.pool.servGen != 2 {
		t.Fatal("roll did not finish")
	}
}

// A roll whose new workers cannot boot rolls back: the successors stop, the
// old workers keep serving untouched, and every waiter (the reload-wait of
// this roll and those queued behind it) gets the verdict.
func TestRollbackKeepsOldWorkersAndAnswersEveryWaiter(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	old0, old1 := h.cur(0), h.cur(1)
	k := len(h.kills)
	first := h.reload()
	queued := h.reload()
	h.mustLog("reload queued behind the one in progress")
	for range 3 {
		h.exit(h.next(0), 1)
		if h.s.rolls.cur != nil {
			h.toWake()
		}
	}
	if len(first.got) != 1 || !strings.HasPrefix(first.got[0], "error: reload to generation 2 failed: worker 0 exited with status 1") {
		t.Fatalf("first waiter got %q", first.got)
	}
	if len(h.killsTo(old0, k))+len(h.killsTo(old1, k)) != 0 {
		t.Fatal("old workers were signalled during a rollback")
	}
	if h.cur(0) != old0 || h.cur(1) != old1 || h.s.pool.servGen != 1 {
		t.Fatal("old workers no longer in their slots")
	}
	if !h.sentContaining("READY=1", "STATUS=2/2 ready, generation 1, 0 restarts, last: worker 0 exited with status 1 before ready; reload to generation 2 failed: worker 0 exited with status 1 before it was ready, 3 times in a row; last output: output of") {
		t.Errorf("no READY=1 with a STATUS= saying why the reload failed: %q", h.dgrams)
	}
	// The queued reload starts now (the code may have been fixed since).
	if h.s.rolls.cur == nil || h.s.rolls.cur.gen != 3 {
		t.Fatal("queued reload did not start after the rollback")
	}
	h.ready(h.next(0), h.next(1))
	if len(queued.got) != 1 || queued.got[0] != "ok generation 3 ready" {
		t.Fatalf("queued waiter got %q", queued.got)
	}
}

func TestReloadBeforeReadyIsQueuedUntilReady(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	a := h.reload()
	if h.s.rolls.cur != nil {
		t.Fatal("a roll started before the first generation was ready")
	}
	h.ready(h.cur(0), h.cur(1))
	if h.s.rolls.cur == nil || h.s.rolls.cur.gen != 2 {
		t.Fatal("the queued reload did not start once ready")
	}
	h.ready(h.next(0), h.next(1))
	if len(a.got) != 1 || a.got[0] != "ok generation 2 ready" {
		t.Fatalf("answers %q", a.got)
	}
}

func TestReloadWhileStoppingIsRefused(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	h.signal(syscall.SIGTERM)
	a := h.reload()
	if len(a.got) != 1 || a.got[0] != "error: launcher is stopping" {
		t.Fatalf("answers %q", a.got)
	}
}

// After READY, a slot whose crash replacement cannot boot degrades instead
// of taking the serving workers down with it.
func TestDegradedSlotKeepsTheServiceUp(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	h.exit(h.cur(0), 4) // crash
	for range 3 {
		h.toWake()
		h.exit(h.cur(0), 1) // the replacement cannot boot
	}
	if h.s.exitErr != nil {
		t.Fatalf("exitErr = %v while worker 1 serves", h.s.exitErr)
	}
	h.mustLog("worker 0 cannot boot")
	if got := h.s.wake.Sub(h.now); got != 10*time.Second {
		t.Errorf("degraded slot retried in %s, want --backoff-max", got)
	}
	if !strings.Contains(h.status(), "1/2 ready") || !strings.Contains(h.status(), "worker 0 cannot boot") {
		t.Errorf("status %q", h.status())
	}
	h.toWake()
	h.ready(h.cur(0)) // the database is back
	if !strings.Contains(h.status(), "2/2 ready") {
		t.Errorf("status %q after recovery", h.status())
	}
}

func TestNoWorkerServingAndNoneBootsExits69(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	h := startReady(t, cfg, 0)
	h.exit(h.cur(0), 4)
	for range 3 {
		h.toWake()
		h.exit(h.cur(0), 1)
	}
	h.bootError()
}

func TestScaleUpAndDown(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	h.signal(syscall.SIGTTIN)
	if len(h.s.pool.slots) != 3 {
		t.Fatalf("%d slots after TTIN", len(h.s.pool.slots))
	}
	w2 := h.cur(2)
	if w2.id.slot != 2 || w2.id.gen != 1 {
		t.Fatalf("new worker slot %d gen %d", w2.id.slot, w2.id.gen)
	}
	h.ready(w2)
	if !strings.Contains(h.status(), "3/3 ready") {
		t.Errorf("status %q", h.status())
	}
	k := len(h.kills)
	h.signal(syscall.SIGTTOU)
	h.signal(syscall.SIGTTOU)
	if len(h.s.pool.slots) != 1 {
		t.Fatalf("%d slots after two TTOU", len(h.s.pool.slots))
	}
	if !contains(h.killsTo(w2, k), syscall.SIGTERM) {
		t.Fatal("the removed slot's worker was not stopped")
	}
	h.signal(syscall.SIGTTOU)
	if len(h.s.pool.slots) != 1 {
		t.Fatal("scaled below one worker")
	}
	h.exit(w2, 0)
	if h.s.pool.restarts != 0 {
		t.Error("a scaled-down worker's exit counted as a restart")
	}
}

func TestScaleUpDuringARollJoinsTheNewGeneration(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	h.reload()
	h.signal(syscall.SIGTTIN)
	if w := h.cur(2); w.id.gen != 2 {
		t.Fatalf("slot added during the roll runs generation %d, want 2", w.id.gen)
	}
	h.ready(h.cur(2), h.next(0), h.next(1))
	if h.s.rolls.cur != nil {
		t.Fatal("roll did not finish")
	}
	for i := range 3 {
		if g := h.cur(i).id.gen; g != 2 {
			t.Errorf("slot %d on generation %d", i, g)
		}
	}
}

func TestScaleDownDuringARollFinishesTheRoll(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	a := h.reload()
	doomed := h.next(1)
	k := len(h.kills)
	h.signal(syscall.SIGTTOU)
	if !contains(h.killsTo(doomed, k), syscall.SIGTERM) {
		t.Fatal("the removed slot's successor was not stopped")
	}
	h.ready(h.next(0))
	if len(a.got) != 1 || a.got[0] != "ok generation 2 ready" {
		t.Fatalf("answers %q", a.got)
	}
}

// Scaling down then up during a roll reuses a slot index that was in the
// batch; the new slot already runs the new generation and must not stall
// the roll.
func TestScaleDownAndUpDuringARollDoesNotStallIt(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	a := h.reload()
	h.signal(syscall.SIGTTOU)
	h.signal(syscall.SIGTTIN)
	h.ready(h.next(0), h.cur(1))
	if len(a.got) != 1 || a.got[0] != "ok generation 2 ready" {
		t.Fatalf("answers %q (roll stalled?)", a.got)
	}
}

func TestRecyclingAfterMaxLifetime(t *testing.T) {
	cfg := testConfig()
	cfg.MaxLifetime = time.Hour
	h := startReady(t, cfg, 0)
	old := h.cur(0)
	if want := h.now.Add(time.Hour + 3*time.Minute); !old.expires.Equal(want) {
		t.Fatalf("expires in %s, want 1h + jitter", old.expires.Sub(h.now))
	}
	h.advance(time.Hour + 3*time.Minute)
	succ := h.next(0)
	if succ.id.gen != 1 {
		t.Fatalf("recycled successor on generation %d", succ.id.gen)
	}
	k := len(h.kills)
	h.ready(succ)
	if !contains(h.killsTo(old, k), syscall.SIGTERM) || h.cur(0) != succ {
		t.Fatal("the recycled worker was not replaced by its ready successor")
	}
	h.mustLog("recycled worker 0")
}

func TestRecyclingThatCannotBootKeepsTheOldWorker(t *testing.T) {
	cfg := testConfig()
	cfg.MaxLifetime = time.Hour
	h := startReady(t, cfg, 0)
	old := h.cur(0)
	h.advance(2 * time.Hour)
	for range 3 {
		h.exit(h.next(0), 1)
		if h.s.pool.slots[0].next != nil {
			h.toWake()
		}
	}
	if h.cur(0) != old || h.s.pool.slots[0].next != nil || h.s.exitErr != nil {
		t.Fatal("a failed recycle did not keep the old worker")
	}
	h.mustLog("recycling worker 0 failed")
	if !old.expires.After(h.now) {
		t.Error("the kept worker's lifetime was not extended")
	}
}

// A reload during a recycle abandons the recycling successor: the roll
// replaces every slot, and no recycling starts while it runs.
func TestReloadDuringRecyclingTakesOver(t *testing.T) {
	cfg := testConfig()
	cfg.MaxLifetime = time.Hour
	h := startReady(t, cfg, 0)
	h.advance(2 * time.Hour) // both slots recycle
	recycling := h.next(0)
	k := len(h.kills)
	h.reload()
	if !contains(h.killsTo(recycling, k), syscall.SIGTERM) {
		t.Fatal("the recycling successor was not stopped by the reload")
	}
	for i := range 2 {
		if sl := h.s.pool.slots[i]; sl.recycling || sl.next == nil || sl.next.gen != 2 {
			t.Fatalf("slot %d: recycling %v, successor %+v", i, sl.recycling, sl.next)
		}
	}
	h.ready(h.next(0))
	h.advance(30 * time.Second) // the old workers are long past their lifetime
	for i, sl := range h.s.pool.slots {
		if sl.recycling {
			t.Fatalf("slot %d recycling during a roll", i)
		}
	}
	h.ready(h.next(1))
	if h.s.pool.servGen != 2 {
		t.Fatal("roll did not finish")
	}
}

// A reload's successors boot at a lower CPU priority beside the workers
// that serve, and get the launcher's back once ready; a worker that boots
// with nothing of its slot serving (the first generation, a crashed
// worker's replacement) boots at full priority.
func TestSuccessorsBootAtLowerPriorityUntilReady(t *testing.T) {
	cfg := testConfig()
	cfg.ReloadNice = 10
	h := startReady(t, cfg, 0)
	for _, w := range h.spawned {
		if h.lowered[w.pid()] {
			t.Errorf("first-generation worker %s booted lowered", w.id)
		}
	}
	h.reload()
	new0, new1 := h.next(0), h.next(1)
	for _, w := range []*worker{new0, new1} {
		if !h.lowered[w.pid()] {
			t.Errorf("successor %s boots at full priority", w.id)
		}
	}
	h.mustLog("booting at nice +10 until ready")
	h.ready(new0)
	if h.lowered[new0.pid()] || !h.lowered[new1.pid()] {
		t.Errorf("after %s was ready: lowered %v", new0.id, h.lowered)
	}
	h.ready(new1)
	if h.lowered[new1.pid()] {
		t.Errorf("%s ready and still lowered", new1.id)
	}
	h.exit(h.cur(0), 1)
	h.advance(time.Second)
	if r := h.cur(0); r == new0 || h.lowered[r.pid()] {
		t.Errorf("the crashed worker's replacement (%v) boots lowered: %v", r.id, h.lowered)
	}
}

// A lowered successor that has not booted within half of --start-timeout
// (a machine saturated by the serving workers) gets the launcher's priority
// back, so that a good deploy does not miss its deadline.
func TestSlowLoweredBootIsRaisedAtHalfTheStartTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.ReloadNice = 10
	h := startReady(t, cfg, 0)
	h.reload()
	succ := h.next(0)
	h.seen[succ.pid()] = observation{} // boots: nothing waits for connections yet
	h.advance(cfg.StartTimeout/2 - time.Millisecond)
	if !h.lowered[succ.pid()] {
		t.Fatalf("%s raised before half of --start-timeout", succ.id)
	}
	if raiseAt := succ.started.Add(cfg.StartTimeout / 2); h.s.wake.After(raiseAt) {
		t.Errorf("the supervisor wakes at %s, after the raise is due", h.s.wake.Sub(raiseAt))
	}
	h.advance(time.Millisecond)
	if h.lowered[succ.pid()] {
		t.Errorf("%s still lowered at half of --start-timeout", succ.id)
	}
	h.mustLog("still booting after 30s at nice +10: raised to the launcher's priority")
	if succ.state != wStarting {
		t.Errorf("%s is %v, want still starting", succ.id, succ.state)
	}
}

// A reload's old generation tears down at the lowest priority, but only
// once it serves no more (a connection it still answers is not slowed),
// and only once; a final stop lowers nothing.
func TestRetiredWorkersTearDownAtLowestPriorityOnceIdle(t *testing.T) {
	h := startReady(t, testConfig(), 0)
	old0, old1 := h.cur(0), h.cur(1)
	h.serving[old0.pid()] = true // still answers a request after its stop signal
	h.reload()
	h.ready(h.next(0), h.next(1))
	for _, w := range []*worker{old0, old1} {
		if w.state != wStopping || !w.signalled {
			t.Fatalf("%s is %v (signalled %v), want signalled", w.id, w.state, w.signalled)
		}
		if h.retired[w.pid()] != 0 {
			t.Errorf("%s lowered at its stop signal, before a look", w.id)
		}
	}
	h.toWake()
	if h.retired[old1.pid()] != 1 {
		t.Errorf("%s serves no more and was lowered %d times, want 1", old1.id, h.retired[old1.pid()])
	}
	for range 5 {
		h.toWake()
	}
	if h.retired[old0.pid()] != 0 {
		t.Errorf("%s lowered while it still serves", old0.id)
	}
	h.serving[old0.pid()] = false
	h.toWake()
	if h.retired[old0.pid()] != 1 || h.retired[old1.pid()] != 1 {
		t.Errorf("lowered %v, want each old worker once", h.retired)
	}
	h.mustLog("serves no more: tearing down at nice 19")
	h.exit(old0, 0)
	h.exit(old1, 0)

	// The final stop: nothing else serves, and systemd waits for the exit.
	cur0, cur1 := h.cur(0), h.cur(1)
	h.signal(syscall.SIGTERM)
	for range 5 {
		h.toWake()
	}
	if !cur0.signalled || !cur1.signalled {
		t.Fatalf("final stop: %s signalled %v, %s %v", cur0.id, cur0.signalled, cur1.id, cur1.signalled)
	}
	if h.retired[cur0.pid()]+h.retired[cur1.pid()] != 0 {
		t.Errorf("a final stop lowered %v", h.retired)
	}
}
