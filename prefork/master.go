package prefork

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"
)

const (
	initialBackoff = 100 * time.Millisecond
	// stableAfter: a worker that stayed up this long resets its slot's backoff.
	stableAfter = 10 * time.Second
	// abortGrace: a hung worker gets SIGABRT (a stack dump), then SIGKILL.
	abortGrace = time.Second
	// tailWait bounds how long an exit waits for the worker's last output.
	tailWait = 300 * time.Millisecond
	// sweepWait bounds the final sweep of stray descendants at exit.
	sweepWait = 5 * time.Second
)

// BootError means workers could not boot; the launcher exits 69.
type BootError struct{ Msg string }

func (e *BootError) Error() string { return e.Msg }

// Master is the supervisor. Create it with New and call Run once.
type Master struct {
	cfg  Config
	log  *logSink
	sd   *notifier
	sp   *spawner
	quit chan struct{}

	events   chan any
	requests chan ctlRequest

	slots   []*slot
	byPID   map[int]*worker
	servGen int // generation the slots run (last successful roll)
	lastGen int // highest generation number handed out
	roll    *roll
	queued  []chan string // waiters for a reload queued behind the current roll
	reloadQ bool

	restarts  int
	lastEvent string
	readySent bool
	stopping  bool
	exitErr   error
	stopSince time.Time

	sdStatus     string
	sdFailing    bool
	nextPing     time.Time
	quorumLost   time.Time
	triggered    bool
	lastExtend   time.Time
	progress     bool
	rollFailNote string

	wake time.Time // earliest deadline seen during a reconcile pass
}

type slot struct {
	idx                 int
	cur, next           *worker
	curGen, nextGen     int // nextGen != 0: a successor is wanted
	curFails, nextFails int
	curDelay, nextDelay time.Duration
	curStartAt, nextAt  time.Time
	recycling           bool
	restarts            int
	lastExit            string
}

type roll struct {
	gen     int
	pending []int
	batch   []int
	waiters []chan string
	started time.Time
}

type exitEvent struct {
	pid    int
	status unix.WaitStatus
}

type signalEvent struct{ sig os.Signal }

type rejectEvent struct {
	id  *workerID
	pid int32
}

// New prepares a master; it takes ownership of cfg.Sockets.
func New(cfg Config, stderr io.Writer) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sd, err := newNotifier(cfg.NotifySocket)
	if err != nil {
		return nil, err
	}
	exe := cfg.Exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	devnull, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		sd.close()
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	dir, err := makeNotifyDir()
	if err != nil {
		sd.close()
		unix.Close(devnull)
		return nil, err
	}
	m := &Master{
		cfg:      cfg,
		log:      newLogSink(cfg.Journal, stderr, filepath.Base(cfg.Command[0])),
		sd:       sd,
		quit:     make(chan struct{}),
		events:   make(chan any, 64),
		requests: make(chan ctlRequest),
		byPID:    map[int]*worker{},
		servGen:  1,
		lastGen:  1,
		sp: &spawner{
			exe: exe, command: cfg.Command, socks: cfg.Sockets, baseEnv: cfg.Env,
			devnull: devnull, dir: dir, workDir: cfg.Dir, watchdog: cfg.WorkerWatchdog,
		},
	}
	for i := 0; i < cfg.Workers; i++ {
		m.slots = append(m.slots, newSlot(i, 1))
	}
	return m, nil
}

func newSlot(idx, gen int) *slot {
	return &slot{idx: idx, curGen: gen, curDelay: initialBackoff, nextDelay: initialBackoff}
}

// Logf logs a launcher message through the master's sink.
func (m *Master) Logf(prio int, format string, a ...any) {
	m.log.Logf(journal.Priority(prio), format, a...)
}

// Run supervises workers until a stop signal, or until workers cannot boot.
// It returns nil after a clean stop and a *BootError when workers could not
// boot.
func (m *Master) Run() error {
	// Pdeathsig is tied to the forking thread: keep this goroutine, which
	// forks every worker, on one thread for the launcher's whole life.
	runtime.LockOSThread()
	defer m.cleanup()

	// Orphaned grandchildren are re-parented to us and reaped by the one
	// reaper, so nothing a worker started can outlive the launcher.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGQUIT,
		unix.SIGHUP, unix.SIGTTIN, unix.SIGTTOU)
	defer func() {
		signal.Stop(sigs)
		close(sigs) // no delivery after Stop returns; ends the signals goroutine
	}()
	go m.signals(sigs)

	if m.cfg.ControlSocket != "" {
		// Serving matters more than reload-wait and status: without the
		// control socket, SIGHUP still reloads.
		if l, err := listenControl(m.cfg.ControlSocket); err != nil {
			m.log.Logf(prioWarning, "%v; reload-wait and status cannot reach this launcher (SIGHUP still reloads)", err)
		} else {
			defer l.Close()
			go serveControl(l, m.requests, m.quit)
		}
	}

	socks := ""
	for _, s := range m.cfg.Sockets {
		socks += " " + s.String()
	}
	m.log.Logf(prioInfo, "starting %d workers of %q on%s", len(m.slots), m.cfg.Command[0], socks)
	m.notify(fmt.Sprintf("STATUS=starting %d workers", len(m.slots)))
	now := time.Now()
	if m.cfg.Watchdog > 0 {
		m.nextPing = now
	}
	m.reconcile(now)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for !m.done() {
		if !m.wake.IsZero() {
			timer.Reset(max(time.Until(m.wake), 0))
		}
		select {
		case ev := <-m.events:
			m.handle(ev)
		case req := <-m.requests:
			m.handleRequest(req)
		case <-timer.C:
		}
		m.reconcile(time.Now())
	}
	m.sweep()
	return m.exitErr
}

func (m *Master) done() bool { return m.stopping && len(m.byPID) == 0 }

// signals turns signals into events and reaps children: the only place
// that calls wait4.
func (m *Master) signals(sigs <-chan os.Signal) {
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			m.post(signalEvent{sig})
			continue
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if pid <= 0 || err != nil {
				break
			}
			m.post(exitEvent{pid, ws})
		}
	}
}

func (m *Master) post(ev any) {
	select {
	case m.events <- ev:
	case <-m.quit:
	}
}

func (m *Master) handle(ev any) {
	now := time.Now()
	switch ev := ev.(type) {
	case exitEvent:
		m.onExit(ev, now)
	case signalEvent:
		m.onSignal(ev.sig, now)
	case notifyMsg:
		m.onNotify(ev, now)
	case rejectEvent:
		m.log.Logf(prioWarning, "ignored a notify message on %s's socket from pid %d, which is not in its process group", ev.id, ev.pid)
	}
}

func (m *Master) onSignal(sig os.Signal, now time.Time) {
	switch sig {
	case unix.SIGTERM, unix.SIGINT:
		if m.stopping {
			m.log.Logf(prioNotice, "second SIG%s: stopping now", signalName(sig.(syscall.Signal)))
			m.beginStop(now, true)
			return
		}
		m.log.Logf(prioInfo, "SIG%s: stopping workers gracefully (SIG%s, up to %s)", signalName(sig.(syscall.Signal)), signalName(m.cfg.StopSignal), m.cfg.GracefulTimeout)
		m.beginStop(now, false)
	case unix.SIGQUIT:
		m.log.Logf(prioNotice, "SIGQUIT: fast stop")
		m.beginStop(now, true)
	case unix.SIGHUP:
		m.requestReload(nil, now)
	case unix.SIGTTIN:
		m.scale(len(m.slots)+1, now)
	case unix.SIGTTOU:
		m.scale(len(m.slots)-1, now)
	}
}

func (m *Master) handleRequest(req ctlRequest) {
	now := time.Now()
	switch req.cmd {
	case "reload":
		m.requestReload(req.reply, now)
	case "status":
		req.reply <- m.statusJSON()
	default:
		req.reply <- fmt.Sprintf("error: unknown request %q", req.cmd)
	}
}

// find returns the slot holding w and whether w is that slot's successor.
func (m *Master) find(w *worker) (*slot, bool) {
	for _, s := range m.slots {
		if s.cur == w {
			return s, false
		}
		if s.next == w {
			return s, true
		}
	}
	return nil, false
}

func (m *Master) onExit(ev exitEvent, now time.Time) {
	w := m.byPID[ev.pid]
	if w == nil {
		return // a re-parented descendant
	}
	delete(m.byPID, ev.pid)
	// Whatever the worker left in its group (children of a forking app)
	// goes with it.
	w.signalGroup(unix.SIGKILL)
	w.ntf.close()
	select {
	case <-w.fwd.done:
	case <-time.After(tailWait):
	}
	how := exitText(ev.status)
	if w.errno != "" { // the worker's own last word, sd_notify ERRNO=
		how += " (ERRNO=" + w.errno + ")"
	}
	s, isNext := m.find(w)
	if s == nil || m.stopping {
		m.log.Logf(prioInfo, "%s %s", w.id, how)
		return
	}
	wasReady := !w.readyAt.IsZero()
	if isNext {
		s.next = nil
	} else {
		s.cur = nil
	}
	if wasReady && !isNext {
		m.crashed(s, w, how, now)
		return
	}
	tail := w.fwd.lastLines()
	if tail == "" {
		tail = "(no output)"
	}
	m.bootFailed(s, isNext, w.id.String(), how, tail, now)
}

// crashed handles a serving worker that exited: restart with backoff.
func (m *Master) crashed(s *slot, w *worker, how string, now time.Time) {
	if now.Sub(w.started) >= stableAfter {
		s.curDelay = initialBackoff
	}
	s.curStartAt = now.Add(s.curDelay)
	s.curFails = 0
	if w.selfStop {
		m.log.Logf(prioInfo, "%s %s after STOPPING=1; replacing it", w.id, how)
		s.curStartAt = now
	} else {
		s.restarts++
		m.restarts++
		m.lastEvent = fmt.Sprintf("worker %d %s", s.idx, how)
		s.lastExit = how
		m.log.Logf(prioWarning, "%s %s after %s; restarting in %s", w.id, how, now.Sub(w.started).Round(time.Millisecond), s.curDelay)
		s.curDelay = min(2*s.curDelay, m.cfg.BackoffMax)
	}
}

// bootFailed handles a worker that exited (or was killed) before it was
// ready: retry with backoff, then halt with 69 (or roll back a reload).
func (m *Master) bootFailed(s *slot, isNext bool, who, how, tail string, now time.Time) {
	fails, delay, at := &s.curFails, &s.curDelay, &s.curStartAt
	if isNext {
		fails, delay, at = &s.nextFails, &s.nextDelay, &s.nextAt
	}
	*fails++
	m.lastEvent = fmt.Sprintf("worker %d %s before ready", s.idx, how)
	s.lastExit = how
	if *fails < m.cfg.BootRetries {
		m.log.Logf(prioWarning, "%s %s before it was ready (boot failure %d of %d), retrying in %s; last output: %s",
			who, how, *fails, m.cfg.BootRetries, *delay, tail)
		*at = now.Add(*delay)
		m.at(*at) // the failure may come from within this reconcile pass
		*delay = min(2**delay, m.cfg.BackoffMax)
		return
	}
	reason := fmt.Sprintf("worker %d %s before it was ready, %d times in a row; last output: %s", s.idx, how, *fails, tail)
	switch {
	case isNext && s.recycling:
		m.log.Logf(prioErr, "recycling worker %d failed: %s; keeping the old worker", s.idx, reason)
		m.abandonSuccessor(s, now)
		if s.cur != nil && m.cfg.MaxLifetime > 0 {
			s.cur.expires = now.Add(m.cfg.MaxLifetime)
		}
	case isNext && m.roll != nil:
		m.rollback(reason, now)
	case m.readySent && m.readyCount() > 0:
		// The service is up and other workers serve: halting would turn one
		// slot's trouble (a crash replacement that meets broken code left by
		// a rolled-back deploy, a database that is down right now) into an
		// outage. Keep the slot degraded, retried at the backoff cap, and
		// say so; exit 69 once no worker serves at all.
		m.log.Logf(prioErr, "worker %d cannot boot: %s; %s keep serving, retrying every %s", s.idx, reason, m.countText(), m.cfg.BackoffMax)
		m.lastEvent = fmt.Sprintf("worker %d cannot boot (%s)", s.idx, how)
		*at = now.Add(m.cfg.BackoffMax)
		m.at(*at)
	default:
		m.log.Logf(prioErr, "workers could not boot: %s; stopping (exit status 69)", reason)
		m.exitErr = &BootError{Msg: "workers could not boot: " + reason}
		m.beginStop(now, false)
	}
}

func (m *Master) onNotify(n notifyMsg, now time.Time) {
	w := m.byPID[n.id.pid]
	if w == nil || w.id != n.id {
		return
	}
	f := n.fields
	if v, ok := f["STATUS"]; ok {
		w.status = v
		m.progress = true
	}
	if v, ok := f["ERRNO"]; ok {
		w.errno = v
	}
	if v, ok := f["EXTEND_TIMEOUT_USEC"]; ok && w.state == wStarting {
		if us, ok := parseUsec(v); ok {
			if d := now.Add(time.Duration(us) * time.Microsecond); d.After(w.deadline) {
				w.deadline = d
			}
			m.progress = true
		}
	}
	if f["STOPPING"] == "1" {
		w.selfStop = true
	}
	if f["READY"] == "1" && w.state == wStarting && m.cfg.Ready == ReadyNotify {
		m.markReady(w, now)
	}
	switch f["WATCHDOG"] {
	case "1":
		w.lastPing = now
	case "trigger":
		if w.state == wReady || w.state == wStarting {
			m.hung(w, "sent WATCHDOG=trigger", now)
		}
	}
}

func (m *Master) markReady(w *worker, now time.Time) {
	w.state = wReady
	w.readyAt = now
	w.lastPing = now
	if m.cfg.MaxLifetime > 0 {
		jitter := time.Duration(rand.Int64N(int64(m.cfg.MaxLifetime)/10 + 1))
		w.expires = now.Add(m.cfg.MaxLifetime + jitter)
	}
	m.progress = true
	if s, isNext := m.find(w); s != nil {
		if isNext {
			s.nextFails = 0
		} else {
			s.curFails = 0
		}
	}
}

// hung handles a worker that stopped feeding its watchdog: SIGABRT for a
// stack dump (with SIGCONT, so a SIGSTOPped one can act on it), SIGKILL
// after abortGrace, and an immediate replacement.
func (m *Master) hung(w *worker, why string, now time.Time) {
	m.log.Logf(prioErr, "%s %s: sending SIGABRT, SIGKILL in %s, and replacing it", w.id, why, abortGrace)
	_ = unix.Kill(w.pid(), unix.SIGABRT)
	w.signalGroup(unix.SIGCONT)
	w.state = wDying
	w.deadline = now.Add(abortGrace)
	s, isNext := m.find(w)
	if s == nil {
		return
	}
	m.restarts++
	s.restarts++
	m.lastEvent = fmt.Sprintf("worker %d hung", s.idx)
	if isNext {
		s.next = nil
		s.nextAt = now
	} else {
		s.cur = nil
		s.curStartAt = now
	}
}

// stopWorker asks w to finish its requests and exit; SIGKILL at the deadline.
func (m *Master) stopWorker(w *worker, now time.Time) {
	if w == nil || w.state == wStopping || w.state == wDying {
		return
	}
	w.state = wStopping
	w.deadline = now.Add(m.cfg.GracefulTimeout)
	w.signalGroup(m.cfg.StopSignal)
	w.signalGroup(unix.SIGCONT)
}

func (m *Master) beginStop(now time.Time, fast bool) {
	if !m.stopping {
		m.stopping = true
		m.stopSince = now
		m.notify("STOPPING=1", "STATUS=stopping: "+m.countText())
		m.failWaiters("launcher is stopping")
	}
	for _, w := range m.byPID {
		if fast {
			w.signalGroup(unix.SIGKILL)
			w.state = wDying
			continue
		}
		m.stopWorker(w, now)
	}
}

func (m *Master) failWaiters(why string) {
	if m.roll != nil {
		for _, c := range m.roll.waiters {
			c <- "error: " + why
		}
		m.roll.waiters = nil
	}
	for _, c := range m.queued {
		c <- "error: " + why
	}
	m.queued = nil
}

func (m *Master) scale(n int, now time.Time) {
	if n < 1 || m.stopping {
		m.log.Logf(prioNotice, "not scaling to %d workers", n)
		return
	}
	if n > len(m.slots) {
		gen := m.servGen
		if m.roll != nil {
			gen = m.roll.gen // a slot added during a roll starts on the new code
		}
		m.slots = append(m.slots, newSlot(n-1, gen))
		m.log.Logf(prioInfo, "scaling up to %d workers", n)
		return
	}
	last := m.slots[n]
	m.slots = m.slots[:n]
	m.stopWorker(last.cur, now)
	m.stopWorker(last.next, now)
	m.log.Logf(prioInfo, "scaling down to %d workers", n)
}

func (m *Master) cleanup() {
	close(m.quit)
	for _, w := range m.byPID {
		w.ntf.close()
	}
	m.sd.close()
	unix.Close(m.sp.devnull)
	os.RemoveAll(m.sp.dir)
}

// sweep kills and reaps whatever descendants are left once every worker has
// exited (daemonised grandchildren re-parented to us), so that no process
// and no copy of a listening socket outlives the launcher.
func (m *Master) sweep() {
	deadline := time.Now().Add(sweepWait)
	for time.Now().Before(deadline) {
		kids := children()
		if len(kids) == 0 {
			return
		}
		for _, pid := range kids {
			_ = unix.Kill(-pid, unix.SIGKILL)
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		select {
		case ev := <-m.events:
			if e, ok := ev.(exitEvent); ok {
				m.log.Logf(prioNotice, "killed stray process %d left behind by a worker", e.pid)
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
	m.log.Logf(prioWarning, "processes still running after stop: %v", children())
}

// children lists this process's children from /proc.
func children() []int {
	var pids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		var pid int
		for _, f := range strings.Fields(string(b)) {
			if _, err := fmt.Sscan(f, &pid); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func exitText(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		s := "was killed by SIG" + signalName(ws.Signal())
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("ended (wait status %#x)", uint32(ws))
}
