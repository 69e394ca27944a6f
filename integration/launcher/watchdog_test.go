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
// stops pinging is detected within the interval plus one second, logged with
// its slot and pid, killed and replaced, while the others keep serving.
func TestWorkerWatchdogReplacesStuckWorker(t *testing.T) {
	const interval = time.Second
	for _, how := range []string{"SIGSTOP", "deadlock"} {
		t.Run(how, func(t *testing.T) {
			l := start(t, spec{Args: []string{"-w", "2", "--ready-after", "200ms",
				"--worker-watchdog", interval.String()}})
			l.waitServing("/pid", 20*time.Second)
			pids := l.distinctPids("/pid", 2, 15*time.Second)
			for pid, r := range l.collectEnv(pids, 10*time.Second) {
				if r.Env["WATCHDOG_USEC"] != "1000000" || r.Env["WATCHDOG_PID"] != strconv.Itoa(pid) {
					t.Errorf("worker %d: WATCHDOG_USEC=%q WATCHDOG_PID=%q, want 1000000 and its pid", pid, r.Env["WATCHDOG_USEC"], r.Env["WATCHDOG_PID"])
				}
			}
			// A healthy, pinging worker is left alone for several intervals.
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
			// Detection is logged, naming the worker's pid, within interval + 1s.
			re := regexp.MustCompile(fmt.Sprintf(`^sdlaunch: .*\b%d\b`, victim))
			i, line := l.stderr.waitFor(from, interval+time.Second+300*time.Millisecond, re.MatchString)
			if i < 0 {
				t.Fatalf("no `sdlaunch: ` line naming stuck worker %d within %s", victim, interval+time.Second)
			}
			t.Logf("detected after %s: %s", time.Since(stuck).Round(time.Millisecond), line)
			waitUntil(t, 10*time.Second, fmt.Sprintf("stuck worker %d is gone", victim), func() bool { return !alive(victim) })
			var after []int
			waitUntil(t, 10*time.Second, "a replacement runs", func() bool {
				after = l.workerPids()
				return len(after) == 2 && !contains(after, victim)
			})
			// Replacement: detection, SIGABRT, at most a second's grace
			// before SIGKILL (a stopped process cannot act on SIGABRT),
			// and the first restart backoff.
			replaced := time.Since(stuck)
			t.Logf("replaced after %s", replaced.Round(time.Millisecond))
			if limit := interval + 3*time.Second; replaced > limit {
				t.Errorf("stuck worker replaced after %s, want within %s", replaced, limit)
			}
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
// it, as systemd does) at about half the interval only while at least
// --min-ready workers are healthy: it sends WATCHDOG=trigger and stops
// pinging when the quorum is lost, and resumes when it is back.
func TestLauncherWatchdogFollowsQuorum(t *testing.T) {
	const readyAfter = 3 * time.Second
	l := start(t, spec{
		// WATCHDOG_PID must be the launcher's pid: set it the way systemd
		// does, from the process that then execs the launcher.
		Wrap:   []string{"/bin/sh", "-c", `WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"`, "sh"},
		Args:   []string{"-w", "2", "--min-ready", "1", "--ready-after", readyAfter.String()},
		Env:    []string{"WATCHDOG_USEC=1000000"},
		Notify: true,
	})
	n := l.notify
	ri, _ := n.waitField(t, 0, "READY=1", 20*time.Second)
	// Regular pings: at least 3 in the next 2 seconds.
	a, _ := n.waitField(t, ri, "WATCHDOG=1", 1500*time.Millisecond)
	b, _ := n.waitField(t, a+1, "WATCHDOG=1", 1500*time.Millisecond)
	n.waitField(t, b+1, "WATCHDOG=1", 1500*time.Millisecond)

	workers := l.waitWorkers(2, 10*time.Second)
	// One worker down: quorum (1) holds, pings go on.
	if err := syscall.Kill(workers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	mark := n.msgs.len()
	p, _ := n.waitField(t, mark, "WATCHDOG=1", 1500*time.Millisecond)
	n.waitField(t, p+1, "WATCHDOG=1", 1500*time.Millisecond)

	// Both down: no ready worker for about --ready-after.
	for _, w := range l.workerPids() {
		_ = syscall.Kill(w, syscall.SIGKILL)
	}
	lost := time.Now()
	mark = n.msgs.len()
	ti, _ := n.waitField(t, mark, "WATCHDOG=trigger", 1500*time.Millisecond)
	// From shortly after the loss until the replacements are ready (about
	// readyAfter later), no WATCHDOG=1 may be sent.
	quiet := lost.Add(700 * time.Millisecond)
	quietEnd := lost.Add(readyAfter - 500*time.Millisecond)
	if d := time.Until(quietEnd); d > 0 {
		n.msgs.waitFor(n.msgs.len(), d, func(notifyMsg) bool { return false })
	}
	for _, m := range n.msgs.snapshot()[mark:] {
		if m.has("WATCHDOG=1") && m.At.After(quiet) && m.At.Before(quietEnd) {
			t.Errorf("WATCHDOG=1 %s after quorum was lost (trigger was datagram %d)", m.At.Sub(lost).Round(time.Millisecond), ti)
		}
	}
	// Back to quorum: pings resume.
	n.waitField(t, ti+1, "WATCHDOG=1", readyAfter+5*time.Second)
	for _, m := range n.msgs.snapshot() {
		if m.PID != l.pid {
			t.Errorf("datagram from pid %d, not the launcher %d: %s", m.PID, l.pid, m)
		}
	}
}
