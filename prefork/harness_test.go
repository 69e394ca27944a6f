package prefork

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"
)

// The state-machine tests drive a supervisor through a fake env: no
// process is started, time is a value the test moves, and every kill,
// spawn, notify datagram and log line is recorded for the test to read.

type fakeIO struct {
	out    string
	closed bool
}

func (f *fakeIO) tail() string           { return f.out }
func (f *fakeIO) settle(_ time.Duration) {}
func (f *fakeIO) close()                 { f.closed = true }

type sent struct {
	pid int // < 0: a process group
	sig syscall.Signal
}

type harness struct {
	t       *testing.T
	s       *supervisor
	now     time.Time
	nextPID int
	spawned []*worker // every worker started, in order
	kills   []sent
	dgrams  [][]string // datagrams to systemd
	logs    []string
	// spawnErr, when set, makes the next spawns fail.
	spawnErr error
	// notifyErr, when set, makes sends to systemd fail.
	notifyErr error
	// What the fake observer sees, by process group; a group not listed
	// accepts (readiness), holds no request in progress (stops) and is
	// empty once its main process exited.
	seen      map[int]observation
	busyConns map[int]int
	alive     map[int]bool
	frozen    map[int]bool
	freezes   int
	held      int
	queue     int // connections queued on the launcher's own sockets
	unlisten  int
	relistens int          // env.relisten calls
	lowered   map[int]bool // groups at the boot priority (env.priority)
	// serving: groups that still wait for or hold connections (a group
	// not listed serves no more); retired: groups given the lowest
	// priority (env.retire), with how many times.
	serving map[int]bool
	retired map[int]int
}

type logRec struct{ h *harness }

func (l logRec) Logf(prio journal.Priority, format string, a ...any) {
	l.h.logs = append(l.h.logs, fmt.Sprintf("<%d>", prio)+fmt.Sprintf(format, a...))
}

// testConfig is a 2-worker notify-mode launcher: readiness comes only when
// the test says so.
func testConfig() Config {
	return Config{Command: []string{"app"}, Workers: 2, Ready: ReadyNotify, ReadyAfter: time.Second,
		StartTimeout: time.Minute, BootRetries: 3, StopSignal: syscall.SIGTERM,
		GracefulTimeout: 30 * time.Second, BackoffMax: 10 * time.Second}
}

func newHarness(t *testing.T, cfg Config, watchdog time.Duration) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	h := &harness{t: t, now: time.Unix(1_000_000, 0), nextPID: 100,
		seen: map[int]observation{}, busyConns: map[int]int{}, alive: map[int]bool{}, frozen: map[int]bool{}, lowered: map[int]bool{},
		serving: map[int]bool{}, retired: map[int]int{}}
	e := env{
		spawn: func(slot, gen int) (*worker, error) {
			if h.spawnErr != nil {
				return nil, h.spawnErr
			}
			h.nextPID++
			id := &workerID{slot: slot, gen: gen, pid: h.nextPID, prefix: fmt.Sprintf("[w%d] ", slot)}
			w := &worker{id: id, state: wStarting, io: &fakeIO{out: fmt.Sprintf("output of %d", h.nextPID)}}
			h.spawned = append(h.spawned, w)
			return w, nil
		},
		kill: func(pid int, sig syscall.Signal) error {
			h.kills = append(h.kills, sent{pid, sig})
			if sig == syscall.SIGCONT && pid < 0 {
				h.frozen[-pid] = false
			}
			return nil
		},
		notify: func(lines ...string) error {
			if h.notifyErr != nil {
				return h.notifyErr
			}
			h.dgrams = append(h.dgrams, lines)
			return nil
		},
		jitter: func(max time.Duration) time.Duration { return max / 2 },
		log:    logRec{h},
		observe: func(pgid int) observation {
			if o, ok := h.seen[pgid]; ok {
				return o
			}
			return observation{accepting: true, detail: fmt.Sprintf("pid %d in accept on tcp 127.0.0.1:8000 (fd 3)", pgid)}
		},
		freeze: func(pgid int) error {
			if h.frozen[pgid] {
				t.Errorf("group %d frozen twice", pgid)
			}
			h.frozen[pgid] = true
			h.freezes++
			return nil
		},
		busy: func(pgid int) (int, string, error) {
			if !h.frozen[pgid] {
				t.Errorf("group %d inspected without being frozen", pgid)
			}
			n := h.busyConns[pgid]
			return n, fmt.Sprintf("%d connections with a request", n), nil
		},
		thaw:     func(pgid int) { h.frozen[pgid] = false },
		alive:    func(pgid int) bool { return h.alive[pgid] },
		hold:     func() { h.held++ },
		queued:   func() int { return h.queue },
		unlisten: func() { h.unlisten++ },
		relisten: func() { h.relistens++ },
		priority: func(pgid int, booting bool) { h.lowered[pgid] = booting },
		serving:  func(pgid int) bool { return h.serving[pgid] },
		retire:   func(pgid int) { h.retired[pgid]++ },
	}
	h.s = newSupervisor(cfg, e, watchdog, "/run/test/notify", h.now)
	h.s.begin(h.now, " tcp 127.0.0.1:8000")
	return h
}

// advance moves the clock by d and runs a reconcile pass.
func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.s.reconcile(h.now)
}

// toWake moves the clock to the supervisor's next deadline and reconciles;
// it fails the test when the supervisor waits for nothing.
func (h *harness) toWake() {
	h.t.Helper()
	if h.s.wake.IsZero() {
		h.t.Fatal("the supervisor has no deadline to wake up for")
	}
	if h.s.wake.After(h.now) {
		h.now = h.s.wake
	}
	h.s.reconcile(h.now)
}

// wakeUntil wakes the supervisor at its deadlines until done (at most 100
// times): for a step that follows other timers (another worker's looks).
func (h *harness) wakeUntil(done func() bool) {
	h.t.Helper()
	for i := 0; i < 100 && !done(); i++ {
		h.toWake()
	}
}

func (h *harness) event(ev any) {
	h.s.handle(ev, h.now)
	h.s.reconcile(h.now)
}

// exit makes w exit with code.
func (h *harness) exit(w *worker, code int) { h.event(exitEvent{w.pid(), unix.WaitStatus(code << 8)}) }

// killed makes w die of sig.
func (h *harness) killed(w *worker, sig syscall.Signal) {
	h.event(exitEvent{w.pid(), unix.WaitStatus(sig)})
}

// send delivers a notify datagram from w.
func (h *harness) send(w *worker, kv ...string) {
	f := map[string]string{}
	for _, x := range kv {
		k, v, _ := strings.Cut(x, "=")
		f[k] = v
	}
	h.event(notifyMsg{id: w.id, fields: f})
}

func (h *harness) signal(sig syscall.Signal) { h.event(signalEvent{sig}) }

// ready sends READY=1 from each worker.
func (h *harness) ready(ws ...*worker) {
	for _, w := range ws {
		h.send(w, "READY=1")
	}
}

// answers collects the replies to control requests.
type answers struct{ got []string }

func (a *answers) reply() reply { return func(s string) { a.got = append(a.got, s) } }

func (h *harness) reload() *answers {
	a := &answers{}
	h.s.request("reload", a.reply(), h.now)
	h.s.reconcile(h.now)
	return a
}

// live returns the workers of slot i's current and next positions.
func (h *harness) cur(i int) *worker {
	h.t.Helper()
	w := h.s.pool.slots[i].cur.w
	if w == nil {
		h.t.Fatalf("slot %d has no current worker", i)
	}
	return w
}

func (h *harness) next(i int) *worker {
	h.t.Helper()
	n := h.s.pool.slots[i].next
	if n == nil || n.w == nil {
		h.t.Fatalf("slot %d has no successor worker", i)
	}
	return n.w
}

// killsTo returns the signals sent to w or its group since index from.
func (h *harness) killsTo(w *worker, from int) []syscall.Signal {
	var out []syscall.Signal
	for _, k := range h.kills[from:] {
		if k.pid == w.pid() || k.pid == -w.pid() {
			out = append(out, k.sig)
		}
	}
	return out
}

// sentField reports whether a datagram at index >= from carried kv (or, for
// "KEY=", any value of KEY), and returns that datagram's index.
func (h *harness) sentField(from int, kv string) int {
	for i := from; i < len(h.dgrams); i++ {
		for _, f := range h.dgrams[i] {
			if f == kv || strings.HasSuffix(kv, "=") && strings.HasPrefix(f, kv) {
				return i
			}
		}
	}
	return -1
}

func (h *harness) mustSend(from int, kv string) int {
	h.t.Helper()
	i := h.sentField(from, kv)
	if i < 0 {
		h.t.Fatalf("systemd was not sent %q; datagrams: %q", kv, h.dgrams[from:])
	}
	return i
}

// sentContaining reports whether one datagram carried the field kv and a
// field starting with prefix.
func (h *harness) sentContaining(kv, prefix string) bool {
	for _, d := range h.dgrams {
		if slices.Contains(d, kv) && slices.ContainsFunc(d, func(f string) bool { return strings.HasPrefix(f, prefix) }) {
			return true
		}
	}
	return false
}

func (h *harness) status() string {
	for i := len(h.dgrams) - 1; i >= 0; i-- {
		for _, f := range h.dgrams[i] {
			if v, ok := strings.CutPrefix(f, "STATUS="); ok {
				return v
			}
		}
	}
	return ""
}

func (h *harness) logged(substr string) bool {
	return slices.ContainsFunc(h.logs, func(l string) bool { return strings.Contains(l, substr) })
}

func (h *harness) mustLog(substr string) {
	h.t.Helper()
	if !h.logged(substr) {
		h.t.Fatalf("no log line contains %q; logs:\n%s", substr, strings.Join(h.logs, "\n"))
	}
}

// bootError returns the supervisor's BootError, or fails.
func (h *harness) bootError() *BootError {
	h.t.Helper()
	var be *BootError
	if !errors.As(h.s.exitErr, &be) {
		h.t.Fatalf("exitErr = %v, want a *BootError", h.s.exitErr)
	}
	return be
}

// startReady begins and makes every first-generation worker ready.
func startReady(t *testing.T, cfg Config, watchdog time.Duration) *harness {
	t.Helper()
	h := newHarness(t, cfg, watchdog)
	for i := range h.s.pool.slots {
		h.ready(h.cur(i))
	}
	h.mustSend(0, "READY=1")
	return h
}
