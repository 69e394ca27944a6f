package prefork

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// reconcile is run by the supervisor loop after every event and timer: it
// applies deadlines, starts the workers slots want, advances a reload roll,
// and reports to systemd. It records the next deadline in m.wake.
func (m *Master) reconcile(now time.Time) {
	m.wake = time.Time{}
	m.deadlines(now)
	if !m.stopping {
		m.startWanted(now)
		if m.roll == nil && m.reloadQ && m.readySent {
			m.nextReload(now)
		}
		m.advanceRoll(now)
		m.recycle(now)
		if !m.readySent && m.readyCount() >= m.cfg.minReady(len(m.slots)) {
			m.readySent = true
			m.log.Logf(prioInfo, "ready: %s", m.countText())
			m.sdStatus = m.statusText()
			m.notify("READY=1", "STATUS="+m.sdStatus)
		}
	}
	m.report(now)
}

func (m *Master) at(t time.Time) {
	if !t.IsZero() && (m.wake.IsZero() || t.Before(m.wake)) {
		m.wake = t
	}
}

// deadlines enforces readiness, boot and stop deadlines and the worker
// watchdog.
func (m *Master) deadlines(now time.Time) {
	for _, w := range m.byPID {
		switch w.state {
		case wStarting:
			if m.cfg.Ready == ReadyAlive {
				if t := w.started.Add(m.cfg.ReadyAfter); !now.Before(t) {
					m.markReady(w, now)
				} else {
					m.at(t)
				}
				continue
			}
			if !now.Before(w.deadline) {
				m.log.Logf(prioErr, "%s did not send READY=1 within its start timeout; killing it", w.id)
				w.signalGroup(unix.SIGKILL)
				w.state = wDying
				w.deadline = now.Add(abortGrace)
				// Its exit is then a boot failure like any other.
				continue
			}
			m.at(w.deadline)
		case wReady:
			if m.cfg.WorkerWatchdog > 0 {
				t := w.lastPing.Add(m.cfg.WorkerWatchdog)
				if !now.Before(t) {
					m.hung(w, fmt.Sprintf("sent no WATCHDOG=1 for %s", m.cfg.WorkerWatchdog), now)
					m.at(w.deadline)
					continue
				}
				m.at(t)
			}
		case wStopping, wDying:
			if !now.Before(w.deadline) {
				if w.state == wStopping {
					m.log.Logf(prioWarning, "%s still running %s after the stop signal: SIGKILL", w.id, m.cfg.GracefulTimeout)
				}
				w.signalGroup(unix.SIGKILL)
				w.deadline = now.Add(time.Hour)
			}
			m.at(w.deadline)
		}
	}
}

// startWanted starts current workers and successors whose start time came.
func (m *Master) startWanted(now time.Time) {
	for _, s := range m.slots {
		if m.stopping { // a boot failure just now may have begun a stop
			return
		}
		if s.cur == nil {
			if now.Before(s.curStartAt) {
				m.at(s.curStartAt)
			} else if w := m.start(s, s.curGen, false, now); w != nil {
				s.cur = w
			}
		}
		if s.nextGen != 0 && s.next == nil {
			if now.Before(s.nextAt) {
				m.at(s.nextAt)
			} else if w := m.start(s, s.nextGen, true, now); w != nil {
				s.next = w
			}
		}
	}
}

func (m *Master) start(s *slot, gen int, isNext bool, now time.Time) *worker {
	w, err := m.sp.spawn(s.idx, gen, m.log)
	if err != nil {
		// A worker that cannot even be started (its --chdir vanished in a
		// bad deploy, the process table is full) has failed to boot.
		m.bootFailed(s, isNext, fmt.Sprintf("worker %d (generation %d)", s.idx, gen), "could not be started", err.Error(), now)
		return nil
	}
	w.started = now
	w.deadline = now.Add(m.cfg.StartTimeout)
	m.byPID[w.pid()] = w
	go w.ntf.serve(w.id, func(n notifyMsg) { m.post(n) }, func(pid int32) { m.post(rejectEvent{w.id, pid}) })
	m.log.Logf(prioDebug, "started %s", w.id)
	if m.cfg.Ready == ReadyAlive {
		m.at(now.Add(m.cfg.ReadyAfter))
	} else {
		m.at(w.deadline)
	}
	return w
}

func (m *Master) readyCount() int {
	n := 0
	for _, s := range m.slots {
		if s.cur != nil && s.cur.state == wReady {
			n++
		}
	}
	return n
}

// requestReload starts a roll, or queues one behind the roll in progress
// (the code on disk may have changed again since it began).
func (m *Master) requestReload(reply chan string, now time.Time) {
	if m.stopping {
		if reply != nil {
			reply <- "error: launcher is stopping"
		}
		return
	}
	if m.roll != nil || !m.readySent {
		m.reloadQ = true
		if reply != nil {
			m.queued = append(m.queued, reply)
		}
		m.log.Logf(prioInfo, "reload queued behind the one in progress")
		return
	}
	m.lastGen++
	r := &roll{gen: m.lastGen, started: now}
	for _, s := range m.slots {
		r.pending = append(r.pending, s.idx)
		if s.next != nil { // a max-lifetime successor: the roll replaces it
			m.stopWorker(s.next, now)
		}
		m.abandonSuccessor(s, now)
	}
	if reply != nil {
		r.waiters = append(r.waiters, reply)
	}
	m.roll = r
	m.rollFailNote = ""
	m.log.Logf(prioInfo, "reloading: rolling generation %d (surge %d)", r.gen, m.cfg.surge(len(m.slots)))
	m.sdStatus = fmt.Sprintf("reloading to generation %d", r.gen)
	m.notify("RELOADING=1", "MONOTONIC_USEC="+monotonicUsec(), "STATUS="+m.sdStatus)
}

func (m *Master) abandonSuccessor(s *slot, now time.Time) {
	m.stopWorker(s.next, now)
	s.next, s.nextGen, s.recycling, s.nextFails, s.nextDelay = nil, 0, false, 0, initialBackoff
}

// advanceRoll starts the next batch of successors and, once a whole batch is
// ready, retires the workers it replaces: with the default surge (N) the old
// generation keeps serving until the new one is entirely ready.
func (m *Master) advanceRoll(now time.Time) {
	r := m.roll
	if r == nil {
		return
	}
	r.batch = m.existing(r.batch)
	if len(r.batch) == 0 {
		r.pending = m.existing(r.pending)
		if len(r.pending) == 0 {
			m.finishRoll(now)
			return
		}
		n := min(m.cfg.surge(len(m.slots)), len(r.pending))
		r.batch, r.pending = r.pending[:n], r.pending[n:]
		for _, i := range r.batch {
			s := m.slots[i]
			s.nextGen, s.nextAt, s.nextFails, s.nextDelay = r.gen, now, 0, initialBackoff
		}
		m.startWanted(now)
		return
	}
	for _, i := range r.batch {
		if s := m.slots[i]; s.next == nil || s.next.state != wReady {
			return
		}
	}
	for _, i := range r.batch {
		m.promote(m.slots[i], now)
	}
	r.batch = nil
	m.advanceRoll(now)
}

// promote retires a slot's current worker in favour of its ready successor.
func (m *Master) promote(s *slot, now time.Time) {
	m.stopWorker(s.cur, now)
	s.cur, s.curGen, s.curFails, s.curDelay = s.next, s.nextGen, 0, initialBackoff
	s.next, s.nextGen, s.recycling = nil, 0, false
}

func (m *Master) existing(idx []int) []int {
	out := idx[:0]
	for _, i := range idx {
		if i < len(m.slots) {
			out = append(out, i)
		}
	}
	return out
}

func (m *Master) finishRoll(now time.Time) {
	r := m.roll
	m.roll = nil
	m.servGen = r.gen
	m.log.Logf(prioInfo, "reload done: generation %d ready in %s", r.gen, now.Sub(r.started).Round(time.Millisecond))
	m.sdStatus = m.statusText()
	m.notify("READY=1", "STATUS="+m.sdStatus)
	for _, c := range r.waiters {
		c <- fmt.Sprintf("ok generation %d ready", r.gen)
	}
	m.nextReload(now)
}

// rollback abandons the roll: successors stop, the slots that were not yet
// promoted keep their workers, and the service stays up.
func (m *Master) rollback(reason string, now time.Time) {
	r := m.roll
	m.roll = nil
	for _, s := range m.slots {
		if s.nextGen == r.gen {
			m.abandonSuccessor(s, now)
		}
	}
	m.rollFailNote = fmt.Sprintf("reload to generation %d failed: %s", r.gen, reason)
	m.log.Logf(prioErr, "%s; rolled back, generation %d keeps serving", m.rollFailNote, m.servGen)
	m.sdStatus = m.statusText()
	m.notify("READY=1", "STATUS="+m.sdStatus)
	for _, c := range r.waiters {
		c <- "error: " + m.rollFailNote
	}
	m.nextReload(now)
}

func (m *Master) nextReload(now time.Time) {
	if !m.reloadQ {
		return
	}
	waiters := m.queued
	m.reloadQ, m.queued = false, nil
	m.requestReload(nil, now)
	if m.roll != nil {
		m.roll.waiters = append(m.roll.waiters, waiters...)
	}
}

// recycle replaces workers past --max-lifetime through the successor path,
// at most surge at a time, never during a roll.
func (m *Master) recycle(now time.Time) {
	if m.cfg.MaxLifetime == 0 || m.roll != nil {
		return
	}
	busy := 0
	for _, s := range m.slots {
		if s.recycling {
			busy++
			if s.next != nil && s.next.state == wReady {
				m.log.Logf(prioInfo, "recycled worker %d (pid %d) after %s", s.idx, s.cur.pid(), now.Sub(s.cur.started).Round(time.Second))
				m.promote(s, now)
				busy--
			}
		}
	}
	for _, s := range m.slots {
		if busy >= m.cfg.surge(len(m.slots)) {
			return
		}
		if s.cur == nil || s.cur.state != wReady || s.nextGen != 0 || s.cur.expires.IsZero() {
			continue
		}
		if now.Before(s.cur.expires) {
			m.at(s.cur.expires)
			continue
		}
		s.nextGen, s.nextAt, s.recycling = s.curGen, now, true
		busy++
	}
	m.startWanted(now)
}

// report keeps systemd's STATUS= current, feeds systemd's watchdog while the
// loop runs and the quorum holds, and extends the start/reload timeout while
// workers make progress.
func (m *Master) report(now time.Time) {
	if m.readySent && !m.stopping && m.roll == nil {
		if st := m.statusText(); st != m.sdStatus {
			m.sdStatus = st
			m.notify("STATUS=" + st)
		}
	}
	if (!m.readySent || m.roll != nil) && m.progress && now.Sub(m.lastExtend) >= time.Second {
		m.progress = false
		m.lastExtend = now
		m.notify(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", m.pendingBoot(now).Microseconds()))
	}
	if m.cfg.Watchdog <= 0 {
		return
	}
	quorum := !m.readySent || m.stopping || m.readyCount() >= m.cfg.minReady(len(m.slots))
	if quorum {
		m.quorumLost, m.triggered = time.Time{}, false
	} else if m.quorumLost.IsZero() {
		m.quorumLost = now
		m.log.Logf(prioWarning, "watchdog: %s, below --min-ready %d; no longer pinging systemd", m.countText(), m.cfg.minReady(len(m.slots)))
	}
	if !quorum && !m.triggered {
		if t := m.quorumLost.Add(m.cfg.Watchdog); !now.Before(t) {
			m.triggered = true
			m.log.Logf(prioErr, "watchdog: %s for %s; sending WATCHDOG=trigger", m.countText(), m.cfg.Watchdog)
			m.notify("WATCHDOG=trigger")
		} else {
			m.at(t)
		}
	}
	if !now.Before(m.nextPing) {
		if quorum {
			m.notify("WATCHDOG=1")
		}
		m.nextPing = now.Add(m.cfg.Watchdog / 2)
	}
	m.at(m.nextPing)
}

// pendingBoot is how long the slowest booting worker may still take, plus a
// margin: what systemd is asked to extend its timeout by.
func (m *Master) pendingBoot(now time.Time) time.Duration {
	longest := m.cfg.ReadyAfter
	for _, w := range m.byPID {
		if w.state != wStarting {
			continue
		}
		t := w.deadline
		if m.cfg.Ready == ReadyAlive {
			t = w.started.Add(m.cfg.ReadyAfter)
		}
		longest = max(longest, t.Sub(now))
	}
	return longest + 5*time.Second
}

func (m *Master) countText() string {
	return fmt.Sprintf("%d/%d ready", m.readyCount(), len(m.slots))
}

// statusText is the one-line STATUS= summary.
func (m *Master) statusText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, generation %d, %d restarts", m.countText(), m.servGen, m.restarts)
	if m.lastEvent != "" {
		fmt.Fprintf(&b, ", last: %s", m.lastEvent)
	}
	if m.rollFailNote != "" {
		fmt.Fprintf(&b, "; %s", m.rollFailNote)
	}
	return b.String()
}

func (m *Master) statusJSON() string {
	st := StatusInfo{Status: m.statusText(), Generation: m.servGen}
	for _, s := range m.slots {
		for _, w := range []*worker{s.cur, s.next} {
			if w != nil {
				st.Workers = append(st.Workers, WorkerInfo{Slot: s.idx, Generation: w.id.gen, PID: w.pid(),
					State: w.state.String(), Started: w.started, Status: w.status})
			}
		}
	}
	return mustJSON(st)
}

func monotonicUsec() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("%d", ts.Nano()/1000)
}
