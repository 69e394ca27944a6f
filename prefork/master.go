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
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sdlaunch/sdlaunch/prefork/observe"
	"golang.org/x/sys/unix"
)

const (
	// sweepWait bounds the final sweep of stray descendants at exit.
	sweepWait = 5 * time.Second
	// flushWait bounds how long the launcher waits, once every process is
	// gone, for the forwarders to log what is still in the pipes.
	flushWait = 5 * time.Second
)

// Master runs the supervisor against the real world: it owns the signal
// handler and reaper, the control socket, the notify and output goroutines,
// and the loop that feeds their events to the supervisor. Create it with
// New and call Run once.
type Master struct {
	sup      *supervisor
	rt       Runtime
	log      *logSink
	sd       *notifier
	sp       *spawner
	outputs  sync.WaitGroup // one per worker output forwarder still reading
	quit     chan struct{}
	events   chan any
	requests chan ctlRequest

	// What relisten said; the supervisor's goroutine owns them.
	relistenFailed, relistenSaid bool
}

// New prepares a master; it takes ownership of rt.Sockets.
func New(cfg Config, rt Runtime, stderr io.Writer) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := rt.validate(); err != nil {
		return nil, err
	}
	sd, err := newNotifier(rt.NotifySocket)
	if err != nil {
		return nil, err
	}
	exe := rt.Exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	devnull, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		sd.close()
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	dir := rt.NotifyDir
	if dir == "" {
		dir, err = makeNotifyDir()
	}
	if err != nil {
		sd.close()
		unix.Close(devnull)
		return nil, err
	}
	m := &Master{
		rt:       rt,
		log:      newLogSink(rt.Journal, stderr, filepath.Base(cfg.Command[0])),
		sd:       sd,
		quit:     make(chan struct{}),
		events:   make(chan any, 64),
		requests: make(chan ctlRequest),
	}
	m.sp = &spawner{
		exe: exe, command: cfg.Command, socks: rt.Sockets, baseEnv: rt.Env,
		devnull: devnull, dir: dir, workDir: cfg.Dir, watchdog: cfg.WorkerWatchdog,
		sink:    m.log,
		deliver: func(n notifyMsg) { m.post(n) },
		reject:  func(id *workerID, why string, n int) { m.post(rejectEvent{id, why, n}) },
	}
	look := newLooker(rt.Sockets, m.log.Logf)
	e := env{
		spawn:      m.spawn,
		kill:       func(pid int, sig syscall.Signal) error { return unix.Kill(pid, sig) },
		stopSignal: stopSignal,
		notify:     sd.send,
		jitter:     func(n time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(n) + 1)) },
		log:        m.log,
		observe:    look.observe,
		freeze:     look.freeze,
		busy:       look.busy,
		thaw:       look.thaw,
		catches:    catches,
		parked:     look.parked,
		alive:      observe.GroupAlive,
		forget:     look.forget,
		hold:       m.hold,
		queued:     m.queued,
		unlisten:   m.unlisten,
	}
	if cfg.Backlog > 0 {
		e.relisten = func() { m.relisten(cfg.Backlog) }
	}
	if ok, why := canSetPriority(); ok {
		e.serving, e.retire = look.serving, m.retire
	} else {
		m.log.Logf(prioInfo, "retired workers tear down at the priority they served at: %s (a unit allows it with SystemCallFilter=setpriority)", why)
	}
	if cfg.ReloadNice > 0 {
		if p, why := newBootPriority(cfg.ReloadNice); p == nil {
			// A default the operator did not ask for is no news on a
			// terminal (a user's shell has RLIMIT_NICE 0): the journal
			// keeps it, at debug priority.
			prio := prioInfo
			if cfg.ReloadNiceQuiet {
				prio = prioDebug
			}
			m.log.Logf(prio, "--reload-nice %d: off, successors boot at the launcher's priority: %s", cfg.ReloadNice, why)
		} else {
			e.priority = func(pgid int, booting bool) {
				if err := p.set(pgid, booting); err != nil {
					m.log.Logf(prioWarning, "%v", err)
				}
			}
		}
	}
	m.sup = newSupervisor(cfg, e, rt.Watchdog, rt.NotifySocket, time.Now())
	return m, nil
}

func (m *Master) spawn(slot, gen int) (*worker, error) {
	w, err := m.sp.spawn(slot, gen)
	if err == nil {
		m.outputs.Add(1)
		done := w.io.(realIO).fwd.done
		go func() { <-done; m.outputs.Done() }()
	}
	return w, err
}

// hold, queued and unlisten carry out a stop on the sockets the launcher
// bound itself (see env); systemd's are left for systemd.
func (m *Master) hold() {
	for _, s := range m.rt.Sockets {
		if err := s.StopAdmitting(); err != nil {
			m.log.Logf(prioWarning, "%v", err)
		}
	}
}

func (m *Master) queued() int {
	n := 0
	for _, s := range m.rt.Sockets {
		n += s.Queued()
	}
	return n
}

func (m *Master) unlisten() {
	for _, s := range m.rt.Sockets {
		if err := s.Release(); err != nil {
			m.log.Logf(prioWarning, "%v", err)
		}
	}
}

// relisten sets every socket's backlog back to backlog (env.relisten). It
// says at info the first time a worker's listen(2) had changed it, at debug
// after that (gunicorn does at every boot); a failure, which would repeat
// at every look, is said once.
func (m *Master) relisten(backlog int) {
	for _, s := range m.rt.Sockets {
		was, err := s.Relisten(backlog)
		switch {
		case err != nil && !m.relistenFailed:
			m.relistenFailed = true
			m.log.Logf(prioWarning, "%v: the app's own backlog stays", err)
		case was != 0:
			prio := prioInfo
			if m.relistenSaid {
				prio = prioDebug
			}
			m.relistenSaid = true
			m.log.Logf(prio, "%s: a worker's listen(2) had set the backlog to %d; set back to --backlog %d", s, was, backlog)
		}
	}
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
	commands := []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, unix.SIGHUP, unix.SIGTTIN, unix.SIGTTOU}
	signal.Notify(sigs, append(commands, unix.SIGCHLD)...)
	defer func() {
		// From here on the launcher only tears down and exits with the
		// status Run returns. A signal that arrives now must not end it by
		// Go's default action instead (SIGQUIT: a stack dump, then death by
		// SIGABRT). It does arrive: a SIGKILLed guardian's Pdeathsig comes
		// once per guardian thread, as the kernel hands the launcher from
		// each dying thread to the next, the last ones after a fast stop
		// may already be done.
		signal.Ignore(commands...)
		signal.Stop(sigs)
		close(sigs) // no delivery after Stop returns; ends the signals goroutine
	}()
	go m.signals(sigs)

	if m.rt.ControlSocket != "" {
		// Serving matters more than reload-wait and status: without the
		// control socket, SIGHUP still reloads.
		if l, err := listenControl(m.rt.ControlSocket); err != nil {
			m.log.Logf(prioWarning, "%v; reload-wait and status cannot reach this launcher (SIGHUP still reloads)", err)
		} else {
			defer l.Close()
			go serveControl(l, m.requests, m.quit, m.log.Logf)
		}
	}

	var socks strings.Builder
	for _, s := range m.rt.Sockets {
		socks.WriteString(" " + s.String())
	}
	s := m.sup
	s.begin(time.Now(), socks.String())
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for !s.done() {
		if !s.wake.IsZero() {
			timer.Reset(max(time.Until(s.wake), 0))
		}
		select {
		case ev := <-m.events:
			s.handle(ev, time.Now())
		case req := <-m.requests:
			s.request(req.cmd, func(a string) { req.reply <- a }, time.Now())
		case <-timer.C:
		}
		s.reconcile(time.Now())
	}
	m.sweep()
	m.flush()
	return s.exitErr
}

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

func (m *Master) cleanup() {
	close(m.quit)
	for _, w := range m.sup.pool.byPID {
		w.io.close()
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

// flush waits until every worker's output has been logged: once no process
// holds a pipe's write end any more, its forwarder reaches EOF.
func (m *Master) flush() {
	done := make(chan struct{})
	go func() { m.outputs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(flushWait):
		m.log.Logf(prioWarning, "worker output still being read %s after the last worker exited; some lines may be lost", flushWait)
	}
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
