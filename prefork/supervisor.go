package prefork

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/sdlaunch/sdlaunch/prefork/observe"
	"golang.org/x/sys/unix"
)

const (
	initialBackoff = 100 * time.Millisecond
	// stableAfter: a worker that stayed up this long resets its slot's backoff.
	stableAfter = 10 * time.Second
	// abortGrace: a hung worker gets SIGABRT (a stack dump), then SIGKILL.
	abortGrace = time.Second
	// tailWait bounds how long a boot failure waits for the worker's last
	// output (EOF of its pipe, which comes at once once its group is
	// killed, unless a busy journald slows the forwarder down): the lines
	// that say why it failed are the point of the report.
	tailWait = 2 * time.Second
)

// BootError means workers could not boot; the launcher exits 69.
type BootError struct{ Msg string }

func (e *BootError) Error() string { return e.Msg }

// supervisor is the launcher's state machine. It is driven by one
// goroutine (Master.Run's loop, or a test): events and control requests
// come in with the time they are handled at, reconcile runs after each of
// them, and everything the supervisor does to the world goes through env.
// Nothing in it blocks, sleeps or reads the clock.
type supervisor struct {
	cfg      Config
	env      env
	watchdog time.Duration // systemd's WatchdogSec for the launcher (0: none)
	sdSocket string        // systemd's NOTIFY_SOCKET, for messages only

	pool  pool
	rolls rolls
	rep   reporter

	stopping bool
	exitErr  error
	wake     time.Time // earliest deadline seen during the last reconcile
}

func newSupervisor(cfg Config, e env, watchdog time.Duration, sdSocket string, now time.Time) *supervisor {
	s := &supervisor{cfg: cfg, env: e, watchdog: watchdog, sdSocket: sdSocket,
		pool: pool{byPID: map[int]*worker{}, servGen: 1, lastGen: 1}}
	for i := 0; i < cfg.Workers; i++ {
		s.pool.slots = append(s.pool.slots, newSlot(i, 1, now))
	}
	return s
}

// begin starts the first generation.
func (s *supervisor) begin(now time.Time, sockets string) {
	s.env.log.Logf(prioInfo, "starting %d workers of %q on%s", len(s.pool.slots), s.cfg.Command[0], sockets)
	s.notify(fmt.Sprintf("STATUS=starting %d workers", len(s.pool.slots)))
	if s.watchdog > 0 {
		s.rep.nextPing = now
	}
	s.reconcile(now)
}

// done reports whether the supervisor has nothing left to do: it is
// stopping and every worker has exited.
func (s *supervisor) done() bool {
	return s.stopping && len(s.pool.byPID) == 0 && len(s.pool.leftovers) == 0
}

// The events the loop feeds the supervisor.
type (
	exitEvent struct {
		pid    int
		status unix.WaitStatus
	}
	signalEvent struct{ sig os.Signal }
	rejectEvent struct {
		id         *workerID
		why        string
		suppressed int // rejected since the last report, not logged
	}
)

func (s *supervisor) handle(ev any, now time.Time) {
	switch ev := ev.(type) {
	case exitEvent:
		s.onExit(ev, now)
	case signalEvent:
		s.onSignal(ev.sig, now)
	case notifyMsg:
		s.onNotify(ev, now)
	case rejectEvent:
		more := ""
		if ev.suppressed > 0 {
			more = fmt.Sprintf(" (and %d more rejected datagrams since the last warning)", ev.suppressed)
		}
		s.env.log.Logf(prioWarning, "%s's notify socket: %s%s", ev.id, ev.why, more)
	}
}

// request answers a control request (reload-wait, status).
func (s *supervisor) request(cmd string, answer reply, now time.Time) {
	switch cmd {
	case "reload":
		s.requestReload(answer, now)
	case "status":
		answer(s.statusJSON())
	default:
		answer(fmt.Sprintf("error: unknown request %q", cmd))
	}
}

func (s *supervisor) onSignal(sig os.Signal, now time.Time) {
	switch sig {
	case unix.SIGTERM, unix.SIGINT:
		if s.stopping {
			s.env.log.Logf(prioNotice, "second SIG%s: stopping now", signalName(sig.(syscall.Signal)))
			s.beginStop(now, true)
			return
		}
		s.env.log.Logf(prioInfo, "SIG%s: stopping workers gracefully (SIG%s, up to %s)", signalName(sig.(syscall.Signal)), signalName(s.cfg.StopSignal), s.cfg.GracefulTimeout)
		s.beginStop(now, false)
	case unix.SIGQUIT:
		s.env.log.Logf(prioNotice, "SIGQUIT: fast stop")
		s.beginStop(now, true)
	case unix.SIGHUP:
		s.requestReload(nil, now)
	case unix.SIGTTIN:
		s.scale(len(s.pool.slots)+1, now)
	case unix.SIGTTOU:
		s.scale(len(s.pool.slots)-1, now)
	}
}

func (s *supervisor) onExit(ev exitEvent, now time.Time) {
	w := s.pool.byPID[ev.pid]
	if w == nil {
		return // a re-parented descendant
	}
	delete(s.pool.byPID, ev.pid)
	w.io.close()
	how := exitText(ev.status)
	if w.errno != "" { // the worker's own last word, sd_notify ERRNO=
		how += " (ERRNO=" + w.errno + ")"
	}
	sl, inc := s.pool.find(w)
	if sl == nil || s.stopping {
		// A worker asked to stop (retired by a roll, scaled down, or the
		// launcher's stop): what is left of its group is stopped in turn.
		s.env.log.Logf(prioInfo, "%s %s", w.id, how)
		s.leftover(w, now)
		return
	}
	inc.w = nil
	switch {
	case !w.readyAt.IsZero() && inc == sl.cur:
		s.pool.lastEvent = fmt.Sprintf("worker %d %s", sl.idx, how)
		if w.selfStop {
			how += " after STOPPING=1"
		}
		// A serving worker killed from outside had booted fine: no crash
		// loop to slow down. Backing off would let random kills of healthy
		// workers (a chaos test, the OOM killer) drain the pool for seconds.
		crash := !killedFromOutside(ev.status) || w.selfStop
		s.restartLater(sl, inc, w, how+" after "+now.Sub(w.started).Round(time.Millisecond).String(), crash, now)
		// Its group may still hold requests (the children of a master that
		// died): they get the stop signal, not SIGKILL.
		s.leftover(w, now)
	case w.state != wDying && killedFromOutside(ev.status):
		// Exit 69 means "this app cannot boot", never "someone killed my
		// workers": an operator, a script or the OOM killer stopped a
		// worker that was booting fine.
		_ = s.env.kill(-w.pid(), unix.SIGKILL)
		s.forget(w)
		s.pool.lastEvent = fmt.Sprintf("worker %d %s before ready", sl.idx, how)
		s.restartLater(sl, inc, w, how+" before it was ready, by a signal the launcher did not send (not a boot failure)", true, now)
	default:
		// Nothing of a worker that never got ready serves: its group goes
		// at once, and its last output is what the boot failure reports.
		_ = s.env.kill(-w.pid(), unix.SIGKILL)
		s.forget(w)
		w.io.settle(tailWait)
		tail := w.io.tail()
		if tail == "" {
			tail = "(no output)"
		}
		if w.timedOut {
			how = w.busyWhy // why it never became ready, set at the timeout
		}
		s.bootFailed(sl, inc, w.id.String(), how, tail, w.timedOut, now)
	}
}

// leftover keeps stopping what remains of w's process group once its main
// process exited: the stop signal goes to the whole group now (a wrapper
// shell that died without forwarding it, seed 000's orphan), SIGKILL at
// the stop's deadline.
func (s *supervisor) leftover(w *worker, now time.Time) {
	if w.state == wDying || s.env.alive == nil || !s.env.alive(w.pid()) {
		_ = s.env.kill(-w.pid(), unix.SIGKILL) // nothing to spare; make sure
		s.forget(w)
		return
	}
	if w.state != wStopping {
		s.beginStopping(w, now)
	}
	w.mainGone, w.signalled, w.looks = true, false, 0
	w.nextLook = now
	s.pool.leftovers = append(s.pool.leftovers, w)
	s.env.log.Logf(prioInfo, "%s: its main process exited; stopping the rest of its process group", w.id)
	s.stepStop(w, now)
}

// killedFromOutside reports whether a worker died of a signal that someone
// else sends to a process (kill, an operator's Ctrl-C, the OOM killer),
// rather than one it brought on itself (SIGSEGV, SIGABRT, ...). The
// launcher's own kills of booting workers are told apart by their state.
func killedFromOutside(ws unix.WaitStatus) bool {
	if !ws.Signaled() {
		return false
	}
	switch ws.Signal() {
	case unix.SIGKILL, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2:
		return true
	}
	return false
}

// restartLater restarts a slot position whose worker exited without failing
// to boot (a crash of a serving worker, or a kill from outside): counted as
// a restart, after a backoff that doubles to --backoff-max with every crash
// (grow) and is reset once a worker stayed up stableAfter, or by a serving
// worker's death at someone else's hand (!grow).
func (s *supervisor) restartLater(sl *slot, inc *incarnation, w *worker, what string, grow bool, now time.Time) {
	if !grow || now.Sub(w.started) >= stableAfter {
		inc.delay = initialBackoff
	}
	inc.startAt = now.Add(inc.delay)
	s.at(inc.startAt)
	s.pool.restarts++
	s.env.log.Logf(prioWarning, "%s %s; restarting in %s", w.id, what, inc.delay)
	if grow {
		inc.delay = min(2*inc.delay, s.cfg.BackoffMax)
	}
}

// bootFailed handles a worker of inc that exited (or could not start)
// before it was ready: retry with backoff, then halt with 69, roll back a
// reload, or keep the slot degraded while others serve.
// A final failure (no readiness by --start-timeout: retrying would only
// repeat a long wait) skips the retries.
func (s *supervisor) bootFailed(sl *slot, inc *incarnation, who, how, tail string, final bool, now time.Time) {
	inc.fails++
	if final {
		inc.fails = max(inc.fails, s.cfg.BootRetries)
	}
	s.pool.lastEvent = fmt.Sprintf("worker %d %s before ready", sl.idx, how)
	if inc.fails < s.cfg.BootRetries {
		s.env.log.Logf(prioWarning, "%s %s before it was ready (boot failure %d of %d), retrying in %s; last output: %s",
			who, how, inc.fails, s.cfg.BootRetries, inc.delay, tail)
		inc.startAt = now.Add(inc.delay)
		s.at(inc.startAt) // the failure may come from within this reconcile pass
		inc.delay = min(2*inc.delay, s.cfg.BackoffMax)
		return
	}
	reason := fmt.Sprintf("worker %d %s before it was ready, %d times in a row; last output: %s", sl.idx, how, inc.fails, tail)
	if final {
		reason = fmt.Sprintf("worker %d %s; last output: %s", sl.idx, how, tail)
	}
	switch {
	case inc == sl.next && sl.recycling:
		s.env.log.Logf(prioErr, "recycling worker %d failed: %s; keeping the old worker", sl.idx, reason)
		s.abandonSuccessor(sl, now)
		if w := sl.cur.w; w != nil && s.cfg.MaxLifetime > 0 {
			w.expires = now.Add(s.cfg.MaxLifetime)
		}
	case inc == sl.next && s.rolls.cur != nil:
		s.rollback(reason, now)
	case s.rep.readySent && s.pool.readyCount() > 0:
		// The service is up and other workers serve: halting would turn one
		// slot's trouble (a crash replacement that meets broken code left by
		// a rolled-back deploy, a database that is down right now) into an
		// outage. Keep the slot degraded, retried at the backoff cap, and
		// say so; exit 69 once no worker serves at all.
		s.env.log.Logf(prioErr, "worker %d cannot boot: %s; %s keep serving, retrying every %s", sl.idx, reason, s.countText(), s.cfg.BackoffMax)
		s.pool.lastEvent = fmt.Sprintf("worker %d cannot boot (%s)", sl.idx, how)
		inc.startAt = now.Add(s.cfg.BackoffMax)
		s.at(inc.startAt)
	default:
		s.env.log.Logf(prioErr, "workers could not boot: %s; stopping (exit status 69)", reason)
		s.exitErr = &BootError{Msg: "workers could not boot: " + reason}
		s.beginStop(now, false)
	}
}

func (s *supervisor) onNotify(n notifyMsg, now time.Time) {
	w := s.pool.byPID[n.id.pid]
	if w == nil || w.id != n.id {
		return
	}
	f := n.fields
	if v, ok := f["STATUS"]; ok {
		w.status = v
		s.rep.progress = true
	}
	if v, ok := f["ERRNO"]; ok {
		w.errno = v
	}
	if v, ok := f["EXTEND_TIMEOUT_USEC"]; ok && w.state == wStarting {
		if us, ok := parseUsec(v); ok {
			if d := now.Add(time.Duration(us) * time.Microsecond); d.After(w.deadline) {
				w.deadline = d
			}
			s.rep.progress = true
		}
	}
	if f["STOPPING"] == "1" {
		w.selfStop = true
	}
	if f["READY"] == "1" && w.state == wStarting && !w.gotReady {
		w.gotReady = true
		s.rep.progress = true
		if s.cfg.Ready == ReadyNotify {
			// READY=1 is half of it: gunicorn's arbiter sends it before its
			// worker has imported the app. Look now.
			s.look(w, now)
		}
	}
	switch f["WATCHDOG"] {
	case "1":
		w.lastPing = now
	case "trigger":
		if w.state == wReady || w.state == wStarting {
			s.hung(w, "sent WATCHDOG=trigger", now)
		}
	}
}

func (s *supervisor) markReady(w *worker, now time.Time) {
	s.relisten() // readiness by READY=1 or a timer is seen without a look
	w.state = wReady
	s.raise(w)
	w.readyAt = now
	w.lastPing = now
	if s.cfg.MaxLifetime > 0 {
		w.expires = now.Add(s.cfg.MaxLifetime + s.env.jitter(s.cfg.MaxLifetime/10))
	}
	s.rep.progress = true
	if _, inc := s.pool.find(w); inc != nil {
		inc.fails = 0
	}
}

// hung handles a worker that stopped feeding its watchdog: SIGABRT for a
// stack dump (with SIGCONT, so a SIGSTOPped one can act on it), SIGKILL
// after abortGrace, and an immediate replacement.
func (s *supervisor) hung(w *worker, why string, now time.Time) {
	s.env.log.Logf(prioErr, "%s %s: sending SIGABRT, SIGKILL in %s, and replacing it", w.id, why, abortGrace)
	_ = s.env.kill(w.pid(), unix.SIGABRT)
	_ = s.env.kill(-w.pid(), unix.SIGCONT)
	w.state = wDying
	w.deadline = now.Add(abortGrace)
	sl, inc := s.pool.find(w)
	if sl == nil {
		return
	}
	s.pool.restarts++
	s.pool.lastEvent = fmt.Sprintf("worker %d hung", sl.idx)
	inc.w = nil
	inc.startAt = now
}

// stopWorker asks w to finish its requests and exit, SIGKILL at
// --graceful-timeout (see stepStop).
func (s *supervisor) stopWorker(w *worker, now time.Time) {
	if w == nil || w.state == wStopping || w.state == wDying {
		return
	}
	s.beginStopping(w, now)
	s.stepStop(w, now)
}

func (s *supervisor) beginStopping(w *worker, now time.Time) {
	w.state = wStopping
	w.deadline = now.Add(s.cfg.GracefulTimeout)
	w.cleanBy = now.Add(s.cfg.GracefulTimeout / 2)
	w.signalled, w.looks, w.nextLook = false, 0, now
}

// stepStop moves a stopping worker on. Before the stop signal goes out, the
// worker's group is frozen and looked at: the signal goes out (then
// SIGCONT) only at a moment when it holds no accepted connection with a
// request in progress, so that an app that does not drain loses nothing;
// otherwise it is thawed and looked at again shortly. At half of
// --graceful-timeout the signal goes out anyway, at --graceful-timeout the
// whole group gets SIGKILL. The signal goes to the main process, and to
// the rest of the group only once the main process exited: a master's
// children are the master's to stop.
func (s *supervisor) stepStop(w *worker, now time.Time) {
	if !now.Before(w.deadline) {
		s.env.log.Logf(prioWarning, "%s still running %s after the stop signal: SIGKILL", w.id, s.cfg.GracefulTimeout)
		_ = s.env.kill(-w.pid(), unix.SIGKILL)
		_ = s.env.kill(-w.pid(), unix.SIGCONT)
		w.state = wDying
		w.deadline = now.Add(time.Hour)
		w.nextLook = now.Add(inspectDelay(0))
		s.at(w.nextLook)
		return
	}
	s.at(w.deadline)
	if now.Before(w.nextLook) {
		s.at(w.nextLook)
		return
	}
	if w.signalled {
		s.lowerRetired(w, now)
		s.pollLeftover(w, now)
		return
	}
	target := w.pid()
	if w.mainGone {
		target = -w.pid()
	}
	if s.env.freeze == nil {
		s.signalStop(w, target, now)
		return
	}
	if !w.mainGone && w.acceptor != 0 && w.acceptor != w.pid() && s.env.catches != nil && s.env.catches(w.pid(), s.cfg.StopSignal) {
		// A master that handles the stop signal while its children accept
		// (gunicorn's arbiter): stopping them is its job, and it does it
		// between their requests. Waiting for a moment when none of a
		// saturated sync worker's connections is in progress only delayed
		// it: systemctl restart took 31.8 s on average in the bench, with
		// nothing more saved.
		if w.looks == 0 {
			s.env.log.Logf(prioDebug, "%s: its main process handles %s and its child %d accepts: a master stopping its own workers; sending the stop signal now", w.id, SignalName(s.cfg.StopSignal), w.acceptor)
		}
		s.signalStop(w, target, now)
		return
	}
	if err := s.env.freeze(w.pid()); err != nil {
		if errors.Is(err, observe.ErrNotStopped) && now.Before(w.cleanBy) {
			// A thread did not stop in time (on a busy machine a runnable
			// thread may wait longer for a CPU): the group was thawed;
			// look again shortly, as with a request in progress. Signalling
			// without a look cut a request (CI run 26).
			w.busy, w.busyWhy = 0, err.Error()
			w.looks++
			w.nextLook = now.Add(inspectDelay(w.looks))
			s.at(w.nextLook)
			return
		}
		s.env.log.Logf(prioWarning, "%s: cannot freeze its process group to look for requests in progress (%v); sending the stop signal now", w.id, err)
		s.signalStop(w, target, now)
		return
	}
	n, why, err := s.env.busy(w.pid())
	if err == nil && n == 0 && s.stopping && s.env.queued != nil {
		// A final stop: what is queued has nobody else to go to.
		if q := s.env.queued(); q > 0 {
			n, why = q, fmt.Sprintf("%d connections still queued on the launcher's sockets", q)
		}
	}
	switch {
	case err != nil:
		s.env.log.Logf(prioWarning, "%s: cannot see its connections (%v); sending the stop signal now", w.id, err)
		s.signalStop(w, target, now)
	case n == 0 && !w.mainGone && w.acceptor == w.pid() && w.deadline.Sub(now) > s.cfg.GracefulTimeout-lateWait && s.lateHandler(w):
		// Its main process accepts and handles the stop signal itself, but
		// at its next step (Python raises KeyboardInterrupt when it next
		// checks): frozen between poll and accept it may accept once more
		// and drop that connection. For a moment, signal it only while it
		// waits for connections; then at any moment with nothing in
		// progress, so that a saturated worker is not starved.
		s.env.thaw(w.pid())
		w.busy, w.busyWhy = 0, "its main process, which accepts, was not waiting for connections"
		w.looks++
		w.nextLook = now.Add(inspectDelay(w.looks))
		s.at(w.nextLook)
	case n == 0:
		if w.looks > 0 {
			s.env.log.Logf(prioDebug, "%s: no request in progress after %d looks; sending the stop signal", w.id, w.looks+1)
		}
		s.signalStop(w, target, now)
	case !now.Before(w.cleanBy):
		s.env.log.Logf(prioWarning, "%s still had %d requests in progress %s after it was asked to stop (%s); sending SIG%s anyway: an app that does not drain cuts them",
			w.id, n, s.cfg.GracefulTimeout/2, why, signalName(s.cfg.StopSignal))
		s.signalStop(w, target, now)
	default:
		s.env.thaw(w.pid())
		w.busy, w.busyWhy = n, why
		w.looks++
		w.nextLook = now.Add(inspectDelay(w.looks))
		s.at(w.nextLook)
	}
}

// lateWait bounds how long a stop waits for a late handler to be parked
// in its wait for connections (see stepStop).
const lateWait = time.Second

// lateHandler reports whether w's frozen main process handles the stop
// signal and is not parked in a wait for connections.
func (s *supervisor) lateHandler(w *worker) bool {
	if s.env.catches == nil || s.env.parked == nil || !s.env.catches(w.pid(), s.cfg.StopSignal) {
		return false
	}
	return !s.env.parked(w.pid())
}

func (s *supervisor) signalStop(w *worker, target int, now time.Time) {
	if target > 0 && s.env.stopSignal != nil {
		_ = s.env.stopSignal(target, s.cfg.StopSignal)
	} else {
		_ = s.env.kill(target, s.cfg.StopSignal)
	}
	_ = s.env.kill(-w.pid(), unix.SIGCONT) // thaw it, and wake a SIGSTOPped app
	w.signalled = true
	w.looks = 0
	if w.mainGone || s.lowerable(w) {
		w.nextLook = now.Add(inspectDelay(0))
		s.at(w.nextLook)
	}
}

// A worker retired while others serve (a reload's old generation, a
// scale-down, a recycled worker) tears down at nice 19 once it serves no
// more: its exit (atexit handlers, a Python interpreter's teardown, 2.4-3.2
// s of wall time under load in the bench's timeline, at the priority of
// the generation that serves) then takes only the CPU that serving and
// booting leave. "Serves no more": none of its processes holds a listening
// socket or a connection accepted from one (env.serving), so that nothing
// it still answers is slowed; a gunicorn worker lets go of its listener
// only as it exits, so mostly its arbiter's teardown is lowered. Lowering
// needs no privilege. Not at a final stop: nothing else serves then, and
// systemd waits for the exit.
func (s *supervisor) lowerable(w *worker) bool {
	return !s.stopping && !w.retired && s.env.retire != nil && s.env.serving != nil
}

// lowerRetired looks at a signalled worker that may be lowered and lowers
// it once it serves no more; else it looks again shortly.
func (s *supervisor) lowerRetired(w *worker, now time.Time) {
	if !s.lowerable(w) {
		return
	}
	if s.env.serving(w.pid()) {
		if !w.mainGone { // pollLeftover schedules the next look otherwise
			w.looks++
			w.nextLook = now.Add(inspectDelay(w.looks))
			s.at(w.nextLook)
		}
		return
	}
	s.env.retire(w.pid())
	w.retired = true
	s.env.log.Logf(prioDebug, "%s serves no more: tearing down at nice 19", w.id)
}

// pollLeftover drops a leftover group once it is empty.
func (s *supervisor) pollLeftover(w *worker, now time.Time) {
	if !w.mainGone {
		return // the main process's exit event ends it
	}
	if s.env.alive != nil && s.env.alive(w.pid()) {
		w.looks++
		w.nextLook = now.Add(inspectDelay(w.looks))
		s.at(w.nextLook)
		return
	}
	for i, l := range s.pool.leftovers {
		if l == w {
			s.pool.leftovers = append(s.pool.leftovers[:i], s.pool.leftovers[i+1:]...)
			break
		}
	}
	s.forget(w)
}

func (s *supervisor) forget(w *worker) {
	if s.env.forget != nil {
		s.env.forget(w.pid())
	}
}

func (s *supervisor) beginStop(now time.Time, fast bool) {
	if !s.stopping {
		s.stopping = true
		s.notify("STOPPING=1", "STATUS=stopping: "+s.countText())
		s.failWaiters("launcher is stopping")
		if s.env.hold != nil {
			s.env.hold()
		}
	}
	for _, w := range s.pool.byPID {
		if fast {
			_ = s.env.kill(-w.pid(), unix.SIGKILL)
			_ = s.env.kill(-w.pid(), unix.SIGCONT)
			w.state = wDying
			continue
		}
		s.stopWorker(w, now)
	}
	if fast {
		for _, w := range s.pool.leftovers {
			_ = s.env.kill(-w.pid(), unix.SIGKILL)
			_ = s.env.kill(-w.pid(), unix.SIGCONT)
			w.state, w.signalled = wDying, true
		}
	}
}

func (s *supervisor) failWaiters(why string) {
	if r := s.rolls.cur; r != nil {
		for _, answer := range r.waiters {
			answer("error: " + why)
		}
		r.waiters = nil
	}
	for _, answer := range s.rolls.queued {
		answer("error: " + why)
	}
	s.rolls.queued = nil
}

func (s *supervisor) scale(n int, now time.Time) {
	if n < 1 || s.stopping {
		s.env.log.Logf(prioNotice, "not scaling to %d workers", n)
		return
	}
	if n > len(s.pool.slots) {
		gen := s.pool.servGen
		if s.rolls.cur != nil {
			gen = s.rolls.cur.gen // a slot added during a roll starts on the new code
		}
		s.pool.slots = append(s.pool.slots, newSlot(n-1, gen, now))
		s.env.log.Logf(prioInfo, "scaling up to %d workers", n)
		return
	}
	last := s.pool.slots[n]
	s.pool.slots = s.pool.slots[:n]
	s.stopWorker(last.cur.w, now)
	if last.next != nil {
		s.stopWorker(last.next.w, now)
	}
	s.env.log.Logf(prioInfo, "scaling down to %d workers", n)
}

func exitText(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		t := "was killed by SIG" + signalName(ws.Signal())
		if ws.CoreDump() {
			t += " (core dumped)"
		}
		return t
	}
	return fmt.Sprintf("ended (wait status %#x)", uint32(ws))
}

func (s *supervisor) relisten() {
	if s.env.relisten != nil && !s.stopping {
		s.env.relisten()
	}
}

// raise gives a lowered successor the launcher's priority back.
func (s *supervisor) raise(w *worker) {
	if w.lowered {
		s.env.priority(w.pid(), false)
		w.lowered = false
	}
}
