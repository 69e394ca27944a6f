package prefork

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// reconcile runs after every event and timer: it applies deadlines, starts
// the workers slots want, advances a reload roll, and reports to systemd.
// It records the next deadline in s.wake.
func (s *supervisor) reconcile(now time.Time) {
	s.wake = time.Time{}
	s.deadlines(now)
	if !s.stopping {
		s.startWanted(now)
		if !s.rep.readySent && s.pool.readyCount() >= s.cfg.minReady(len(s.pool.slots)) {
			s.rep.readySent = true
			s.env.log.Logf(prioInfo, "ready: %s", s.countText())
			s.rep.status = s.statusText()
			s.notify("READY=1", "STATUS="+s.rep.status)
		}
		// A reload asked for before READY starts as soon as it was sent.
		if s.rolls.cur == nil && s.rolls.want && s.rep.readySent {
			s.nextReload(now)
		}
		s.advanceRoll(now)
		s.recycle(now)
	} else {
		s.refuseOnceSignalled()
	}
	s.report(now)
}

// refuseOnceSignalled releases the launcher's own sockets once every
// worker of a stop has had its stop signal: nobody will accept any more,
// and each socket must be gone, a connection refused, as soon as the last
// worker lets go of it.
func (s *supervisor) refuseOnceSignalled() {
	if s.pool.refused || s.env.unlisten == nil {
		return
	}
	for _, w := range s.pool.byPID {
		if w.state != wDying && !w.signalled {
			return
		}
	}
	for _, w := range s.pool.leftovers {
		if w.state != wDying && !w.signalled {
			return
		}
	}
	s.pool.refused = true
	s.env.unlisten()
}

func (s *supervisor) at(t time.Time) {
	if !t.IsZero() && (s.wake.IsZero() || t.Before(s.wake)) {
		s.wake = t
	}
}

// deadlines enforces readiness, boot and stop deadlines and the worker
// watchdog.
func (s *supervisor) deadlines(now time.Time) {
	for _, w := range s.pool.byPID {
		s.deadline(w, now)
	}
	for _, w := range slices.Clone(s.pool.leftovers) {
		s.deadline(w, now)
	}
}

func (s *supervisor) deadline(w *worker, now time.Time) {
	switch w.state {
	case wStarting:
		s.raiseSlowBoot(w, now)
		s.checkReady(w, now)
	case wReady:
		if s.cfg.WorkerWatchdog > 0 {
			t := w.lastPing.Add(s.cfg.WorkerWatchdog)
			if !now.Before(t) {
				s.hung(w, fmt.Sprintf("sent no WATCHDOG=1 for %s", s.cfg.WorkerWatchdog), now)
				s.at(w.deadline)
				return
			}
			s.at(t)
		}
	case wStopping:
		s.stepStop(w, now)
	case wDying:
		if w.mainGone {
			if now.Before(w.nextLook) {
				s.at(w.nextLook)
			} else {
				s.pollLeftover(w, now)
			}
			return
		}
		if !now.Before(w.deadline) {
			_ = s.env.kill(-w.pid(), unix.SIGKILL)
			w.deadline = now.Add(time.Hour)
		}
		s.at(w.deadline)
	}
}

// raiseSlowBoot gives a lowered successor the launcher's priority back once
// it has booted for half of --start-timeout: on a machine that the serving
// workers keep saturated, a boot at the lower priority could otherwise miss
// its deadline and fail a good deploy.
func (s *supervisor) raiseSlowBoot(w *worker, now time.Time) {
	if !w.lowered {
		return
	}
	t := w.started.Add(s.cfg.StartTimeout / 2)
	if now.Before(t) {
		s.at(t)
		return
	}
	s.raise(w)
	s.env.log.Logf(prioNotice, "%s still booting after %s at nice +%d: raised to the launcher's priority", w.id, now.Sub(w.started).Round(time.Millisecond), s.cfg.ReloadNice)
}

// checkReady decides a booting worker's readiness by its mode: accept looks
// at its process group (and falls back to the --ready-after timer where it
// cannot look), notify waits for READY=1 and then looks, alive is the timer
// alone. accept and notify give up at --start-timeout.
func (s *supervisor) checkReady(w *worker, now time.Time) {
	mode := s.cfg.Ready
	if mode == ReadyAlive || mode == ReadyAccept && w.blind {
		t := w.started.Add(s.cfg.ReadyAfter)
		if !now.Before(t) {
			s.markReady(w, now)
			return
		}
		s.at(t)
		if mode == ReadyAlive {
			return
		}
	}
	if !now.Before(w.deadline) {
		why := "no process of its group waited for connections on the listening sockets"
		switch {
		case mode == ReadyNotify && !w.gotReady:
			why = "it sent no READY=1"
		case mode == ReadyNotify:
			why = "it sent READY=1, but no process of its group waited for connections on the listening sockets"
		}
		s.env.log.Logf(prioErr, "%s did not become ready within --start-timeout %s (%s); killing it", w.id, s.cfg.StartTimeout, why)
		_ = s.env.kill(-w.pid(), unix.SIGKILL)
		_ = s.env.kill(-w.pid(), unix.SIGCONT)
		w.state = wDying
		w.timedOut = true
		w.busyWhy = fmt.Sprintf("did not become ready within --start-timeout %s (%s)", s.cfg.StartTimeout, why)
		w.deadline = now.Add(abortGrace)
		s.at(w.deadline)
		return // its exit is then a (final) boot failure
	}
	s.at(w.deadline)
	if w.blind || mode == ReadyNotify && !w.gotReady {
		return
	}
	if now.Before(w.nextLook) {
		s.at(w.nextLook)
		return
	}
	s.look(w, now)
}

// look observes w's process group once. It first sets the sockets'
// backlog back (env.relisten): a worker that listens has called listen(2)
// if it ever does, so the window in which its backlog rules is one look.
func (s *supervisor) look(w *worker, now time.Time) {
	s.relisten()
	o := observation{unknown: "the launcher cannot look at its workers' processes here"}
	if s.env.observe != nil {
		o = s.env.observe(w.pid())
	}
	if o.unknown != "" && !o.accepting {
		w.unknowns++
	} else {
		w.unknowns = 0
	}
	switch {
	case o.accepting:
		s.env.log.Logf(prioDebug, "%s is ready: %s", w.id, o.detail)
		w.acceptor = o.pid
		s.markReady(w, now)
	case o.unknown != "" && w.unknowns >= unknownLooks:
		w.blind = true
		fallback := "READY=1 alone"
		if s.cfg.Ready == ReadyAccept {
			fallback = "the --ready-after " + s.cfg.ReadyAfter.String() + " timer"
		}
		if s.pool.blindNote == "" {
			s.pool.blindNote = fmt.Sprintf("readiness not observable (%s): %s decides", o.unknown, fallback)
			s.env.log.Logf(prioWarning, "cannot see whether %s waits for connections (%s); %s decides readiness instead", w.id, o.unknown, fallback)
		}
		if s.cfg.Ready == ReadyNotify {
			s.markReady(w, now) // READY=1 came
			return
		}
		s.checkReady(w, now)
	default:
		w.looks++
		w.nextLook = now.Add(lookDelay(w.looks))
		s.at(w.nextLook)
	}
}

// startWanted starts current workers and successors whose start time came.
func (s *supervisor) startWanted(now time.Time) {
	for _, sl := range s.pool.slots {
		for _, inc := range []*incarnation{sl.cur, sl.next} {
			if s.stopping { // a boot failure just now may have begun a stop
				return
			}
			if inc == nil || inc.w != nil {
				continue
			}
			if now.Before(inc.startAt) {
				s.at(inc.startAt)
				continue
			}
			inc.w = s.start(sl, inc, now)
		}
	}
}

func (s *supervisor) start(sl *slot, inc *incarnation, now time.Time) *worker {
	w, err := s.env.spawn(sl.idx, inc.gen)
	if err != nil {
		// A worker that cannot even be started (its --chdir vanished in a
		// bad deploy, the process table is full) has failed to boot.
		s.bootFailed(sl, inc, fmt.Sprintf("worker %d (generation %d)", sl.idx, inc.gen), "could not be started", err.Error(), false, now)
		return nil
	}
	w.started = now
	w.deadline = now.Add(s.cfg.StartTimeout)
	if inc == sl.next && s.env.priority != nil {
		// It boots beside the worker it replaces, which serves meanwhile.
		s.env.priority(w.pid(), true)
		w.lowered = true
	}
	w.nextLook = now.Add(lookDelay(0))
	s.pool.byPID[w.pid()] = w
	s.env.log.Logf(prioDebug, "started %s", w.id)
	switch s.cfg.Ready {
	case ReadyAlive:
		s.at(now.Add(s.cfg.ReadyAfter))
	case ReadyAccept:
		s.at(w.nextLook)
	default:
		s.at(w.deadline)
	}
	return w
}

// requestReload starts a roll, or queues one behind the roll in progress
// (the code on disk may have changed again since it began).
func (s *supervisor) requestReload(answer reply, now time.Time) {
	if s.stopping {
		if answer != nil {
			answer("error: launcher is stopping")
		}
		return
	}
	if s.rolls.cur != nil || !s.rep.readySent {
		s.rolls.want = true
		if answer != nil {
			s.rolls.queued = append(s.rolls.queued, answer)
		}
		s.env.log.Logf(prioInfo, "reload queued behind the one in progress")
		return
	}
	s.pool.lastGen++
	r := &roll{gen: s.pool.lastGen, started: now}
	for _, sl := range s.pool.slots {
		r.pending = append(r.pending, sl.idx)
		s.abandonSuccessor(sl, now) // a max-lifetime successor: the roll replaces it
	}
	if answer != nil {
		r.waiters = append(r.waiters, answer)
	}
	s.rolls.cur = r
	s.rolls.failNote = ""
	s.env.log.Logf(prioInfo, "reloading: rolling generation %d (surge %d)%s", r.gen, s.cfg.surge(len(s.pool.slots)), s.bootNiceText())
	s.rep.status = fmt.Sprintf("reloading to generation %d", r.gen)
	s.notify("RELOADING=1", "MONOTONIC_USEC="+monotonicUsec(), "STATUS="+s.rep.status)
}

func (s *supervisor) abandonSuccessor(sl *slot, now time.Time) {
	if sl.next != nil {
		s.stopWorker(sl.next.w, now)
	}
	sl.next, sl.recycling = nil, false
}

// advanceRoll starts the next batch of successors and, once a whole batch is
// ready, retires the workers it replaces: with the default surge (N) the old
// generation keeps serving until the new one is entirely ready.
func (s *supervisor) advanceRoll(now time.Time) {
	r := s.rolls.cur
	if r == nil {
		return
	}
	r.batch = s.existing(r.batch)
	if len(r.batch) == 0 {
		r.pending = s.existing(r.pending)
		if len(r.pending) == 0 {
			s.finishRoll(now)
			return
		}
		n := min(s.cfg.surge(len(s.pool.slots)), len(r.pending))
		r.batch, r.pending = r.pending[:n], r.pending[n:]
		for _, i := range r.batch {
			s.pool.slots[i].next = newIncarnation(r.gen, now)
		}
		s.startWanted(now)
		return
	}
	for _, i := range r.batch {
		sl := s.pool.slots[i]
		if sl.next == nil && sl.cur.gen == r.gen {
			continue // a slot added during the roll already runs the new code
		}
		if sl.next == nil || sl.next.w == nil || sl.next.w.state != wReady {
			return
		}
	}
	for _, i := range r.batch {
		if sl := s.pool.slots[i]; sl.next != nil {
			s.promote(sl, now)
		}
	}
	r.batch = nil
	s.advanceRoll(now)
}

// promote retires a slot's current worker in favour of its ready successor.
func (s *supervisor) promote(sl *slot, now time.Time) {
	s.stopWorker(sl.cur.w, now)
	sl.cur = sl.next
	sl.cur.fails, sl.cur.delay = 0, initialBackoff
	sl.next, sl.recycling = nil, false
}

func (s *supervisor) existing(idx []int) []int {
	out := idx[:0]
	for _, i := range idx {
		if i < len(s.pool.slots) {
			out = append(out, i)
		}
	}
	return out
}

func (s *supervisor) finishRoll(now time.Time) {
	r := s.rolls.cur
	s.rolls.cur = nil
	s.pool.servGen = r.gen
	s.env.log.Logf(prioInfo, "reload done: generation %d ready in %s", r.gen, now.Sub(r.started).Round(time.Millisecond))
	s.rep.status = s.statusText()
	s.notify("READY=1", "STATUS="+s.rep.status)
	for _, answer := range r.waiters {
		answer(fmt.Sprintf("ok generation %d ready", r.gen))
	}
	s.nextReload(now)
}

// rollback abandons the roll: successors stop, the slots that were not yet
// promoted keep their workers, and the service stays up.
func (s *supervisor) rollback(reason string, now time.Time) {
	r := s.rolls.cur
	s.rolls.cur = nil
	for _, sl := range s.pool.slots {
		if sl.next != nil && sl.next.gen == r.gen {
			s.abandonSuccessor(sl, now)
		}
	}
	s.rolls.failNote = fmt.Sprintf("reload to generation %d failed: %s", r.gen, reason)
	s.env.log.Logf(prioErr, "%s; rolled back, generation %d keeps serving", s.rolls.failNote, s.pool.servGen)
	s.rep.status = s.statusText()
	s.notify("READY=1", "STATUS="+s.rep.status)
	for _, answer := range r.waiters {
		answer("error: " + s.rolls.failNote)
	}
	s.nextReload(now)
}

func (s *supervisor) nextReload(now time.Time) {
	if !s.rolls.want {
		return
	}
	waiters := s.rolls.queued
	s.rolls.want, s.rolls.queued = false, nil
	s.requestReload(nil, now)
	if r := s.rolls.cur; r != nil {
		r.waiters = append(r.waiters, waiters...)
	}
}

// recycle replaces workers past --max-lifetime through the successor path,
// at most surge at a time, never during a roll.
func (s *supervisor) recycle(now time.Time) {
	if s.cfg.MaxLifetime == 0 || s.rolls.cur != nil {
		return
	}
	busy := 0
	for _, sl := range s.pool.slots {
		if !sl.recycling {
			continue
		}
		busy++
		if sl.next.w != nil && sl.next.w.state == wReady {
			old := sl.cur.w
			s.env.log.Logf(prioInfo, "recycled worker %d (pid %d) after %s", sl.idx, old.pid(), now.Sub(old.started).Round(time.Second))
			s.promote(sl, now)
			busy--
		}
	}
	for _, sl := range s.pool.slots {
		if busy >= s.cfg.surge(len(s.pool.slots)) {
			return
		}
		w := sl.cur.w
		if w == nil || w.state != wReady || sl.next != nil || w.expires.IsZero() {
			continue
		}
		if now.Before(w.expires) {
			s.at(w.expires)
			continue
		}
		sl.next, sl.recycling = newIncarnation(sl.cur.gen, now), true
		busy++
	}
	s.startWanted(now)
}

// report keeps systemd's STATUS= current, feeds systemd's watchdog while the
// loop runs and the quorum holds, and extends the start/reload timeout while
// workers make progress.
func (s *supervisor) report(now time.Time) {
	rep := &s.rep
	if rep.readySent && !s.stopping && s.rolls.cur == nil {
		if st := s.statusText(); st != rep.status {
			rep.status = st
			s.notify("STATUS=" + st)
		}
	}
	if (!rep.readySent || s.rolls.cur != nil) && rep.progress && now.Sub(rep.lastExtend) >= time.Second {
		rep.progress = false
		rep.lastExtend = now
		s.notify(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", s.pendingBoot(now).Microseconds()))
	}
	if s.watchdog <= 0 {
		return
	}
	minReady := s.cfg.minReady(len(s.pool.slots))
	quorum := !rep.readySent || s.stopping || s.pool.readyCount() >= minReady
	if quorum {
		rep.quorumLost, rep.triggered = time.Time{}, false
	} else if rep.quorumLost.IsZero() {
		rep.quorumLost = now
		s.env.log.Logf(prioWarning, "watchdog: %s, below --min-ready %d; no longer pinging systemd", s.countText(), minReady)
	}
	if !quorum && !rep.triggered {
		if t := rep.quorumLost.Add(s.watchdog); !now.Before(t) {
			rep.triggered = true
			s.env.log.Logf(prioErr, "watchdog: %s for %s; sending WATCHDOG=trigger", s.countText(), s.watchdog)
			s.notify("WATCHDOG=trigger")
		} else {
			s.at(t)
		}
	}
	if !now.Before(rep.nextPing) {
		if quorum {
			s.notify("WATCHDOG=1")
		}
		rep.nextPing = now.Add(s.watchdog / 2)
	}
	s.at(rep.nextPing)
}

// pendingBoot is how long the slowest booting worker may still take, plus a
// margin: what systemd is asked to extend its timeout by.
func (s *supervisor) pendingBoot(now time.Time) time.Duration {
	longest := s.cfg.ReadyAfter
	for _, w := range s.pool.byPID {
		if w.state != wStarting {
			continue
		}
		t := w.deadline
		if s.cfg.Ready == ReadyAlive || s.cfg.Ready == ReadyAccept && w.blind {
			t = w.started.Add(s.cfg.ReadyAfter)
		}
		longest = max(longest, t.Sub(now))
	}
	return longest + 5*time.Second
}

func (s *supervisor) countText() string {
	return fmt.Sprintf("%d/%d ready", s.pool.readyCount(), len(s.pool.slots))
}

// statusText is the one-line STATUS= summary.
func (s *supervisor) statusText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, generation %d, %d restarts", s.countText(), s.pool.servGen, s.pool.restarts)
	if s.pool.lastEvent != "" {
		fmt.Fprintf(&b, ", last: %s", s.pool.lastEvent)
	}
	if s.rolls.failNote != "" {
		fmt.Fprintf(&b, "; %s", s.rolls.failNote)
	}
	if s.pool.blindNote != "" {
		fmt.Fprintf(&b, "; %s", s.pool.blindNote)
	}
	return b.String()
}

func (s *supervisor) statusJSON() string {
	st := StatusInfo{Status: s.statusText(), Generation: s.pool.servGen}
	for _, sl := range s.pool.slots {
		for _, inc := range []*incarnation{sl.cur, sl.next} {
			if inc == nil || inc.w == nil {
				continue
			}
			w := inc.w
			st.Workers = append(st.Workers, WorkerInfo{Slot: sl.idx, Generation: w.id.gen, PID: w.pid(),
				State: w.state.String(), Started: w.started, Status: w.status})
		}
	}
	return mustJSON(st)
}

func monotonicUsec() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("%d", ts.Nano()/1000)
}

// bootNiceText says, for the reload's log line, that successors boot at a
// lower priority.
func (s *supervisor) bootNiceText() string {
	if s.env.priority == nil {
		return ""
	}
	return fmt.Sprintf(", booting at nice +%d until ready", s.cfg.ReloadNice)
}
