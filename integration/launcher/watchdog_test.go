package launcher

import (
	"fmt"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// --worker-watchdog gives each worker WATCHDOG_USEC (and WATCHDOG_PID = its
// own pid, so go-systemd's SdWatchdogEnabled accepts it); a worker that
// stops pinging is detected, logged with its slot and pid, killed and
// replaced, while the others keep serving.
//
// How soon (the interval, then a second's grace before SIGKILL) is the
// launcher's clock arithmetic, for a test with a fake clock; here the
// deadlines only bound a hang and the latencies are logged. The interval is
// long enough that the healthy worker, pinging every third of it, is not
// taken for stuck because a busy machine delayed one ping.
func TestWorkerWatchdogReplacesStuckWorker(t *testing.T) {
	const interval = 3 * time.Second
	for _, how := range []string{"SIGSTOP", "deadlock"} {
		t.Run(how, func(t *testing.T) {
			l, pids := startServing(t, spec{Args: []string{"-w", "2", "--ready-after", "200ms",
				"--worker-watchdog", interval.String()}}, 2)
			usec := strconv.FormatInt(interval.Microseconds(), 10)
			for pid, r := range l.collectEnv(pids, 10*time.Second) {
				if r.Env["WATCHDOG_USEC"] != usec || r.Env["WATCHDOG_PID"] != strconv.Itoa(pid) {
					t.Errorf("worker %d: WATCHDOG_USEC=%q WATCHDOG_PID=%q, want %s and its pid", pid, r.Env["WATCHDOG_USEC"], r.Env["WATCHDOG_PID"], usec)
				}
			}
			workers := l.waitWorkers(2, 10*time.Second)
			from := l.stderr.len()
			var victim int
			switch how {
			case "SIGSTOP":
				victim = workers[0]
				if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
			case "deadlock":
				body := l.mustGet("/hang")
				fmt.Sscanf(body, "hung %d", &victim)
			}
			stuck := time.Now()
			// Detection is logged, naming the worker's pid.
			re := regexp.MustCompile(fmt.Sprintf(`^sdlaunch: .*\b%d\b`, victim))
			i, line := l.stderr.waitFor(from, time.Minute, re.MatchString)
			if i < 0 {
				t.Fatalf("no `sdlaunch: ` line naming stuck worker %d", victim)
			}
			t.Logf("detected after %s (interval %s): %s", time.Since(stuck).Round(time.Millisecond), interval, line)
			waitUntil(t, 30*time.Second, fmt.Sprintf("stuck worker %d is gone", victim), func() bool { return !alive(victim) })
			var after []int
			waitUntil(t, 30*time.Second, "a replacement runs", func() bool {
				after = l.workerPids()
				return len(after) == 2 && !contains(after, victim)
			})
			t.Logf("replaced after %s", time.Since(stuck).Round(time.Millisecond))
			for _, p := range workers {
				if p != victim && !contains(after, p) {
					t.Errorf("healthy worker %d was replaced too", p)
				}
			}
			// Serving goes on; the healthy worker never stopped answering.
			for range 10 {
				l.mustGet("/pid")
			}
		})
	}
}

// The launcher pings systemd's watchdog (WATCHDOG_USEC/WATCHDOG_PID given to
// it, as systemd does) only while at least --min-ready workers are healthy:
// it sends WATCHDOG=trigger and stops pinging when the quorum is lost, and
// resumes when it is back.
//
// The workers are ready only when the test says so (--ready notify, and
// GET /notify?state=READY=1 makes whichever worker answers send READY=1), so
// the quorum comes back when the test decides, never because a timer ran
// out on a busy machine. The launcher's datagrams arrive in the order it
// sent them, and each STATUS= comes before the pings of the same moment:
// between the STATUS= that says 0/2 and the one that says 1/2 there must be
// a WATCHDOG=trigger and no WATCHDOG=1. How soon the trigger comes (one
// interval after the loss) is clock arithmetic for a fake-clock test.
func TestLauncherWatchdogFollowsQuorum(t *testing.T) {
	l := start(t, spec{
		// WATCHDOG_PID must be the launcher's pid: set it the way systemd
		// does, from the process that then execs the launcher.
		Wrap:   []string{"/bin/sh", "-c", `WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"`, "sh"},
		Args:   []string{"-w", "2", "--min-ready", "1", "--ready", "notify", "--start-timeout", "10m"},
		Env:    []string{"WATCHDOG_USEC=1000000"},
		Notify: true,
	})
	n := l.notify
	// makeReady sends READY=1 from whichever workers answer until the
	// launcher's STATUS= matches want; it returns that datagram's index.
	makeReady := func(from int, want string) int {
		t.Helper()
		re := regexp.MustCompile(want)
		deadline := time.Now().Add(time.Minute)
		for {
			if i := n.waitStatus(from, re, 0); i >= 0 {
				return i
			}
			if time.Now().After(deadline) {
				t.Fatalf("no STATUS= matching %q:\n%s", want, n.dump())
			}
			_, _, _ = l.get("/notify?state=READY=1")
			n.waitStatus(from, re, 100*time.Millisecond)
		}
	}
	ri := makeReady(0, `^2/2 ready`)
	// Regular pings.
	a, _ := n.waitField(t, ri, "WATCHDOG=1", 30*time.Second)
	b, _ := n.waitField(t, a+1, "WATCHDOG=1", 30*time.Second)
	n.waitField(t, b+1, "WATCHDOG=1", 30*time.Second)

	workers := l.waitWorkers(2, 10*time.Second)
	// One worker down (its replacement is not ready): quorum (1) holds,
	// pings go on.
	if err := syscall.Kill(workers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	one := n.waitStatus(b+1, regexp.MustCompile(`^1/2 ready`), 30*time.Second)
	if one < 0 {
		t.Fatalf("no STATUS= 1/2 ready after a worker was killed:\n%s", n.dump())
	}
	p, _ := n.waitField(t, one+1, "WATCHDOG=1", 30*time.Second)
	n.waitField(t, p+1, "WATCHDOG=1", 30*time.Second)

	// Both down: no ready worker until the test makes one ready.
	for _, w := range l.workerPids() {
		_ = syscall.Kill(w, syscall.SIGKILL)
	}
	lost := n.waitStatus(p+1, regexp.MustCompile(`^0/2 ready`), 30*time.Second)
	if lost < 0 {
		t.Fatalf("no STATUS= 0/2 ready after both workers were killed:\n%s", n.dump())
	}
	ti, _ := n.waitField(t, lost+1, "WATCHDOG=trigger", 30*time.Second)
	back := makeReady(ti+1, `^1/2 ready`)
	for i, m := range n.msgs.snapshot()[lost+1 : back] {
		if m.has("WATCHDOG=1") {
			t.Errorf("datagram %d: WATCHDOG=1 while no worker was ready (quorum lost at %d, back at %d)", lost+1+i, lost, back)
		}
	}
	// Back to quorum: pings resume.
	n.waitField(t, back+1, "WATCHDOG=1", 30*time.Second)
	for _, m := range n.msgs.snapshot() {
		if m.PID != l.pid {
			t.Errorf("datagram from pid %d, not the launcher %d: %s", m.PID, l.pid, m)
		}
	}
}
