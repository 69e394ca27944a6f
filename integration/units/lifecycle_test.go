package units

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// The lifecycle tests prove issue 3's promises through the generated units
// under a real systemd 252: a broken deploy is refused while the old workers
// keep serving, reloads lose no request, systemd's watchdog sees a lost
// quorum, a slow boot extends TimeoutStartSec=, worker output reaches the
// journal with its fields, and `sdlaunch status` exits like `systemctl
// status`. One container per test; the app is testdata/lifeapp.py behind an
// app.sh wrapper in the work directory, so a test can "deploy" new code by
// rewriting app.sh on disk.

// lifeBox is a booted container with sdlaunch and lifeapp in its work dir.
type lifeBox struct {
	*box
	dir string
	sdl string // the sdlaunch binary
	app string // app.sh, the command the units run
}

func newLifeBox(t *testing.T) *lifeBox {
	t.Helper()
	requireEnv(t)
	dir := newWorkDir(t)
	buildInto(t, dir)
	data, err := os.ReadFile(filepath.Join("testdata", "lifeapp.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lifeapp.py"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	lb := &lifeBox{dir: dir, sdl: filepath.Join(dir, "sdlaunch"), app: filepath.Join(dir, "app.sh")}
	lb.deploy(t, lb.goodApp())
	lb.box = bootBox(t, dir)
	return lb
}

// goodApp is an app.sh that execs lifeapp with args.
func (lb *lifeBox) goodApp(args ...string) string {
	return fmt.Sprintf("#!/bin/sh\nexec /usr/bin/python3 %s %s \"$@\"\n", filepath.Join(lb.dir, "lifeapp.py"), strings.Join(args, " "))
}

// brokenApp cannot boot: it exits 1 at once with a telling last line.
const brokenApp = "#!/bin/sh\necho 'app.sh: ImportError: cannot import name settings (broken deploy)'\nexit 1\n"

// deploy replaces app.sh atomically, as a deployment would.
func (lb *lifeBox) deploy(t *testing.T, script string) {
	t.Helper()
	tmp := lb.app + ".new"
	if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, lb.app); err != nil {
		t.Fatal(err)
	}
}

// install runs `sdlaunch install` with a listen address, flags, NAME and
// the command, and returns stdout, stderr and the exit status.
func (lb *lifeBox) install(name string, port int, flags []string, command ...string) (string, string, int) {
	args := []string{lb.sdl, "install", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--graceful-timeout=5s"}
	args = append(append(append(args, flags...), name, "--"), command...)
	return lb.run(args...)
}

func (lb *lifeBox) mustInstall(t *testing.T, name string, port int, flags []string, command ...string) {
	t.Helper()
	start := time.Now()
	out, errOut, code := lb.install(name, port, flags, command...)
	if code != 0 {
		t.Fatalf("install %s: exit %d\n%s%s", name, code, out, errOut)
	}
	t.Logf("install %s took %s", name, time.Since(start).Round(time.Millisecond))
}

// show returns systemctl show properties of a unit.
func (lb *lifeBox) show(t *testing.T, unit string, props ...string) map[string]string {
	t.Helper()
	out := lb.mustRun("systemctl", "show", "-p", strings.Join(props, ","), unit)
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// journal returns the entries journalctl -o json prints for args.
func (lb *lifeBox) journal(t *testing.T, args ...string) []map[string]string {
	t.Helper()
	out := lb.mustRun(append([]string{"journalctl", "--no-pager", "-o", "json"}, args...)...)
	var entries []map[string]string
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("journalctl -o json: %v: %q", err, line)
		}
		e := map[string]string{}
		for k, v := range raw {
			e[k] = jsonField(v)
		}
		entries = append(entries, e)
	}
	return entries
}

// jsonField renders a journal JSON field: a string, or an array of bytes
// (journalctl's encoding of non-printable values).
func jsonField(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var b []byte
		for _, n := range x {
			f, ok := n.(float64)
			if !ok {
				return fmt.Sprint(v)
			}
			b = append(b, byte(f))
		}
		return string(b)
	}
	return fmt.Sprint(v)
}

// answer is who served a request.
type answer struct{ worker, gen, pid int }

var answerRe = regexp.MustCompile(`^worker=(\d+) generation=(\d+) pid=(\d+)\n$`)

// noKeepAlive opens a new connection for every request, never retrying.
var noKeepAlive = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// ask sends one request.
func ask(url string) (answer, error) {
	resp, err := noKeepAlive.Get(url)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	m := answerRe.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || m == nil {
		return answer{}, fmt.Errorf("status %d: %q", resp.StatusCode, body)
	}
	w, _ := strconv.Atoi(m[1])
	g, _ := strconv.Atoi(m[2])
	p, _ := strconv.Atoi(m[3])
	return answer{w, g, p}, nil
}

// askUntil sends requests (one at a time, new connection each) until done
// says so, failing the test on any failed request or at the deadline. It
// returns every answer seen.
func askUntil(t *testing.T, url string, within time.Duration, what string, done func([]answer) bool) []answer {
	t.Helper()
	var seen []answer
	deadline := time.Now().Add(within)
	for {
		a, err := ask(url)
		if err != nil {
			t.Fatalf("%s: request %d failed: %v", what, len(seen)+1, err)
		}
		seen = append(seen, a)
		if done(seen) {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %s; answers: %v", what, within, summarize(seen))
		}
	}
}

// waitUp polls a freshly installed service until it answers (a socket unit
// queues, so the first answer may take a moment).
func waitUp(t *testing.T, url string) answer {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		a, err := ask(url)
		if err == nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func summarize(as []answer) string {
	count := map[answer]int{}
	for _, a := range as {
		count[a]++
	}
	var parts []string
	for a, n := range count {
		parts = append(parts, fmt.Sprintf("w%d/g%d/pid%d×%d", a.worker, a.gen, a.pid, n))
	}
	return strings.Join(parts, " ")
}

// pidsOf returns the distinct pids among answers of generation gen.
func pidsOf(as []answer, gen int) map[int]bool {
	pids := map[int]bool{}
	for _, a := range as {
		if a.gen == gen {
			pids[a.pid] = true
		}
	}
	return pids
}

// startLoad runs 8 closed-loop clients (new connection per request, no
// retries) against url until the returned stop is called. Each request may
// take far longer than any boot of this machine: these tests count lost
// requests, not slow ones (latency is make bench's business), and a
// restart keeps every client waiting in the socket's queue while the new
// workers boot (10 to 16 s for gunicorn on a busy 2-core machine).
func startLoad(t *testing.T, url string) (stop func() load.Result) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan load.Result, 1)
	go func() { ch <- load.Run(ctx, load.Options{URL: url, Clients: 8, Timeout: 2 * time.Minute}) }()
	var once sync.Once
	var res load.Result
	stop = func() load.Result {
		once.Do(func() { cancel(); res = <-ch })
		return res
	}
	t.Cleanup(func() { stop() })
	return stop
}

func checkLoad(t *testing.T, res load.Result, minTotal int) {
	t.Helper()
	t.Logf("load: %s", res)
	if res.Err != nil || res.Failed != 0 || res.Total < minTotal {
		t.Errorf("load: want 0 failed of at least %d requests, got %s", minTotal, res)
	}
}

// reload runs `sdlaunch reload NAME` and returns stdout, stderr, the exit
// status and how long it took.
func (lb *lifeBox) reload(name string) (string, string, int, time.Duration) {
	start := time.Now()
	out, errOut, code := lb.run(lb.sdl, "reload", name)
	return out, errOut, code, time.Since(start)
}

// Test 1: a deploy whose new code cannot boot is refused loudly by
// `sdlaunch reload` and `systemctl reload`, the service stays active with the
// old workers serving, and not one request fails; the fixed deploy then
// rolls out.
func TestLifecycleBrokenDeployIsRefused(t *testing.T) {
	lb := newLifeBox(t)
	port := freePort(t, 21000, 24999)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	const name = "lcrefuse"
	lb.mustInstall(t, name, port, []string{"-w", "2", "--ready", "notify"}, lb.app)
	waitUp(t, url)
	before := askUntil(t, url, 30*time.Second, "both generation-1 workers answer", func(as []answer) bool { return len(pidsOf(as, 1)) == 2 })
	oldPIDs := pidsOf(before, 1)
	mainPID := lb.show(t, name+".service", "MainPID")["MainPID"]

	stopLoad := startLoad(t, url)
	// The load is on before the deploy: the probe shares the service with it.
	askUntil(t, url, 30*time.Second, "an answer under load", func(as []answer) bool { return len(as) >= 5 })

	lb.deploy(t, brokenApp)
	out, errOut, code, took := lb.reload(name)
	t.Logf("sdlaunch reload of a broken deploy: exit %d in %s\nstdout:\n%sstderr:\n%s", code, took.Round(time.Millisecond), out, errOut)
	if code == 0 {
		t.Errorf("sdlaunch reload of a broken deploy exited 0")
	}
	// The journal tail shows the launcher's verdict, and so does the last
	// line (from the launcher's STATUS=), which no chatty app can push out.
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	for _, want := range []string{"reload to generation 2 failed", "broken deploy"} {
		if !strings.Contains(errOut, "last journal lines of "+name+".service") || !strings.Contains(lines[len(lines)-1], want) || strings.Count(errOut, want) < 2 {
			t.Errorf("sdlaunch reload stderr lacks %q in the journal tail or its last line", want)
		}
	}
	if got := strings.TrimSpace(lb.mustRun("systemctl", "is-active", name+".service")); got != "active" {
		t.Errorf("after the refused reload: is-active = %q", got)
	}
	props := lb.show(t, name+".service", "StatusText", "MainPID", "NRestarts")
	if !strings.Contains(props["StatusText"], "reload to generation 2 failed") || !strings.Contains(props["StatusText"], "2/2 ready, generation 1") {
		t.Errorf("StatusText after the refused reload: %q", props["StatusText"])
	}
	if props["MainPID"] != mainPID || props["NRestarts"] != "0" {
		t.Errorf("the service was restarted: MainPID %s -> %s, NRestarts %s", mainPID, props["MainPID"], props["NRestarts"])
	}
	after := askUntil(t, url, 30*time.Second, "the old workers still answer", func(as []answer) bool { return len(pidsOf(as, 1)) == 2 })
	for _, a := range after {
		if a.gen != 1 || !oldPIDs[a.pid] {
			t.Errorf("after the refused reload, %v answered; want only the old workers %v", a, oldPIDs)
			break
		}
	}

	sOut, sErr, sCode := lb.run("systemctl", "reload", name)
	t.Logf("systemctl reload of a broken deploy: exit %d\n%s%s", sCode, sOut, sErr)
	if sCode == 0 {
		t.Errorf("systemctl reload of a broken deploy exited 0")
	}
	if got := strings.TrimSpace(lb.mustRun("systemctl", "is-active", name+".service")); got != "active" {
		t.Errorf("after systemctl reload: is-active = %q", got)
	}
	askUntil(t, url, 30*time.Second, "the old workers still answer after systemctl reload", func(as []answer) bool { return len(pidsOf(as, 1)) == 2 })

	lb.deploy(t, lb.goodApp())
	out, errOut, code, took = lb.reload(name)
	t.Logf("sdlaunch reload of the fixed deploy: exit %d in %s: %s%s", code, took.Round(time.Millisecond), out, errOut)
	if code != 0 {
		t.Fatalf("sdlaunch reload of the fixed deploy: exit %d\n%s%s", code, out, errOut)
	}
	// Generations 2 and 3 were the refused ones.
	askUntil(t, url, 30*time.Second, "generation 4 answers", func(as []answer) bool { return as[len(as)-1].gen == 4 })
	if st := lb.show(t, name+".service", "StatusText")["StatusText"]; !strings.HasPrefix(st, "2/2 ready, generation 4") || strings.Contains(st, "failed") {
		t.Errorf("StatusText after the fixed deploy: %q", st)
	}
	checkLoad(t, stopLoad(), 200)
}

// Test 2: reloads under load lose no request, and `sdlaunch reload` returns
// only once the new generation is ready (its workers take 1.5 s to boot).
func TestLifecycleReloadUnderLoad(t *testing.T) {
	lb := newLifeBox(t)
	port := freePort(t, 25000, 28999)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	const name = "lcreload"
	const bootDelay = 1500 * time.Millisecond
	lb.deploy(t, lb.goodApp("--boot-delay", "1.5"))
	lb.mustInstall(t, name, port, []string{"-w", "2", "--ready", "notify", "--reload-nice", "10"}, lb.app)
	waitUp(t, url)
	stopLoad := startLoad(t, url)
	askUntil(t, url, 30*time.Second, "an answer under load", func(as []answer) bool { return len(as) >= 5 })
	var worst time.Duration
	for gen := 2; gen <= 4; gen++ {
		out, errOut, code, took := lb.reload(name)
		worst = max(worst, took)
		t.Logf("reload to generation %d: exit %d in %s: %s", gen, code, took.Round(time.Millisecond), strings.TrimSpace(out))
		if code != 0 {
			t.Fatalf("sdlaunch reload: exit %d\n%s%s", code, out, errOut)
		}
		if took < bootDelay {
			t.Errorf("sdlaunch reload returned after %s, before the new workers could be ready (they boot in %s)", took, bootDelay)
		}
		// The verdict came from a ready generation: the launcher says so,
		// and it answers (the old one drains in the meantime and may still
		// take a connection: how soon the new one has them all is the
		// machine's speed, logged, not asserted).
		if st := lb.show(t, name+".service", "StatusText")["StatusText"]; !strings.HasPrefix(st, fmt.Sprintf("2/2 ready, generation %d", gen)) {
			t.Errorf("StatusText right after reload %d: %q", gen, st)
		}
		as := askUntil(t, url, 30*time.Second, fmt.Sprintf("generation %d answers", gen), func(as []answer) bool { return as[len(as)-1].gen == gen })
		t.Logf("generation %d answered request %d after the reload: %s", gen, len(as), summarize(as))
	}
	res := stopLoad()
	checkLoad(t, res, 300)
	t.Logf("3 reloads under load: %d/%d failed, worst latency %s, slowest sdlaunch reload %s", res.Failed, res.Total, res.MaxLatency.Round(time.Millisecond), worst.Round(time.Millisecond))
	// As a DynamicUser, with the unit's LimitNICE=+0: the successors boot
	// at a lower priority and get the launcher's back. systemd can apply
	// LimitNICE=+0 only with CAP_SYS_RESOURCE, which a host's PID 1 has and
	// nspawn withholds (here even root lacks it: prlimit --nice=0:20 is
	// refused). Without it the launcher must say, once, that it is off.
	// The unit allows setpriority, so retired workers may tear down at
	// nice 19 (whether one lives long enough to be seen idle is the
	// machine's speed): the launcher must not say that is off, and no
	// lowering may fail.
	lowered, off := 0, ""
	for _, e := range lb.journal(t, "-u", name+".service", "SYSLOG_IDENTIFIER=sdlaunch") {
		switch m := e["MESSAGE"]; {
		case strings.Contains(m, "booting at nice +10 until ready"):
			lowered++
		case strings.HasPrefix(m, "--reload-nice"):
			off = m
		case strings.HasPrefix(m, "retired workers tear down at the priority they served at"), strings.HasPrefix(m, "setpriority("):
			t.Errorf("with setpriority allowed by the unit, the launcher said %q", m)
		}
	}
	if pid1CanRaiseLimits(t, lb) {
		if lowered != 3 || off != "" {
			t.Errorf("%d of 3 reloads booted at nice +10; %q", lowered, off)
		}
	} else {
		t.Logf("PID 1 lacks CAP_SYS_RESOURCE: LimitNICE=+0 cannot apply here; the launcher said %q", off)
		if lowered != 0 || !strings.Contains(off, "off, successors boot at the launcher's priority") || !strings.Contains(off, "RLIMIT_NICE 0") {
			t.Errorf("%d reloads booted at nice +10; want none, and the launcher saying why: %q", lowered, off)
		}
	}
}

// pid1CanRaiseLimits reports whether the container's systemd has
// CAP_SYS_RESOURCE (bit 24 of CapEff), which raising a unit's
// resource limits above its own needs.
func pid1CanRaiseLimits(t *testing.T, lb *lifeBox) bool {
	t.Helper()
	for _, ln := range strings.Split(lb.mustRun("cat", "/proc/1/status"), "\n") {
		if v, ok := strings.CutPrefix(ln, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("/proc/1/status: %q: %v", ln, err)
			}
			return caps&(1<<24) != 0
		}
	}
	t.Fatal("no CapEff in the container's /proc/1/status")
	return false
}

// Test 3: with WatchdogSec= the launcher keeps systemd's watchdog fed while
// its quorum holds, and stops when it is lost: a killed worker whose
// replacement hangs at boot leaves 1/2 ready below --min-ready 2 for longer
// than WatchdogSec=, so systemd must fail the service with result
// "watchdog" and restart it.
//
// (A SIGSTOPped worker without --worker-watchdog cannot lose the quorum:
// the launcher has no way to tell it from a busy one, so it stays "ready".)
func TestLifecycleWatchdog(t *testing.T) {
	lb := newLifeBox(t)
	port := freePort(t, 29000, 32767)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	const name = "lcwatchdog"
	svc := name + ".service"
	lb.mustInstall(t, name, port, []string{"-w", "2", "--min-ready", "2", "--ready", "notify", "--watchdog-sec", "2s", "--restart-sec", "1s"}, lb.app)
	victim := waitUp(t, url)

	// Healthy: fed (4 distinct pings seen by systemd, about 4 s at one a
	// second), never restarted meanwhile. How often it pings is clock
	// arithmetic, for the supervisor's fake-clock tests.
	first := lb.show(t, svc, "MainPID", "NRestarts", "WatchdogUSec", "WatchdogTimestampMonotonic")
	if first["WatchdogUSec"] != "2s" {
		t.Fatalf("WatchdogUSec = %q, want 2s", first["WatchdogUSec"])
	}
	pings := map[string]bool{first["WatchdogTimestampMonotonic"]: true}
	for deadline := time.Now().Add(time.Minute); len(pings) < 4; time.Sleep(200 * time.Millisecond) {
		p := lb.show(t, svc, "MainPID", "NRestarts", "ActiveState", "WatchdogTimestampMonotonic")
		if p["MainPID"] != first["MainPID"] || p["NRestarts"] != "0" || p["ActiveState"] != "active" {
			t.Fatalf("healthy service restarted: %v, was %v", p, first)
		}
		pings[p["WatchdogTimestampMonotonic"]] = true
		if time.Now().After(deadline) {
			t.Fatalf("systemd saw %d distinct watchdog pings in a minute with WatchdogSec=2s", len(pings))
		}
	}

	// Quorum lost: the replacement of the killed worker hangs at boot.
	wedge := filepath.Join(lb.dir, "wedge")
	if err := os.WriteFile(wedge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(wedge) })
	lb.mustRun("kill", "-KILL", strconv.Itoa(victim.pid))
	killed := time.Now()
	var detected time.Duration
	for detected == 0 {
		p := lb.show(t, svc, "Result", "SubState", "NRestarts")
		if p["Result"] == "watchdog" {
			detected = time.Since(killed)
			t.Logf("systemd: Result=watchdog, SubState=%s, NRestarts=%s, %s after the kill", p["SubState"], p["NRestarts"], detected.Round(time.Millisecond))
			break
		}
		if p["NRestarts"] != "0" {
			t.Fatalf("restarted without Result=watchdog: %v", p)
		}
		if time.Since(killed) > time.Minute {
			t.Fatalf("no watchdog failure a minute after quorum was lost (WatchdogSec=2s): %v\n%s", p, lb.mustRun("journalctl", "--no-pager", "-n", "30", "-u", svc))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The failure follows the launcher's decision to stop pinging, in the
	// journal's order (how many seconds after the kill is systemd's
	// WatchdogSec= arithmetic and the machine's speed: logged above).
	var stopped, failed int
	for i, e := range lb.journal(t, "-u", svc) {
		switch msg := e["MESSAGE"]; {
		case stopped == 0 && strings.Contains(msg, "below --min-ready 2; no longer pinging systemd"):
			stopped = i + 1
		case failed == 0 && strings.Contains(msg, "Watchdog timeout"):
			failed = i + 1
		}
	}
	if stopped == 0 || failed == 0 || failed < stopped {
		t.Errorf("journal: the launcher's \"no longer pinging\" at entry %d, systemd's watchdog timeout at entry %d; want the first before the second", stopped, failed)
	}
	_ = os.Remove(wedge)
	// Restart=on-failure brings it back.
	deadline := time.Now().Add(time.Minute)
	for {
		p := lb.show(t, svc, "MainPID", "NRestarts", "ActiveState", "SubState", "Result", "ExecMainCode", "ExecMainStatus")
		if p["ActiveState"] == "active" && p["NRestarts"] == "1" && p["MainPID"] != first["MainPID"] {
			t.Logf("restarted after the watchdog failure: %v", p)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted after the watchdog failure: %v\n%s", p, lb.mustRun("journalctl", "--no-pager", "-n", "40", "-u", svc))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitUp(t, url)
	j := lb.mustRun("journalctl", "--no-pager", "-u", svc)
	for _, want := range []string{"below --min-ready 2; no longer pinging systemd", "Failed with result 'watchdog'"} {
		if !strings.Contains(j, want) {
			t.Errorf("journal lacks %q:\n%s", want, j)
		}
	}
}

// Test 4: workers that take 8 s to boot, sending EXTEND_TIMEOUT_USEC=10s
// every second, come up although TimeoutStartSec=5s and --start-timeout=4s:
// the launcher extends its own deadline and forwards the extension. (Each
// extension outlasts the next message by 9 s, so a busy machine that
// delays one does not decide the verdict; with 3s it had 2 s of slack.)
func TestLifecycleSlowBootExtendsTimeout(t *testing.T) {
	lb := newLifeBox(t)
	port := freePort(t, 15000, 15999)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	const name = "lcslow"
	svc := name + ".service"
	lb.deploy(t, lb.goodApp("--slow-boot", "8"))
	start := time.Now()
	out, errOut, code := lb.install(name, port, []string{"-w", "2", "--ready", "notify", "--start-timeout", "4s", "--timeout-start-sec", "5s"}, lb.app)
	took := time.Since(start)
	t.Logf("install of an 8s-booting app with TimeoutStartSec=5s: exit %d in %s", code, took.Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("install: exit %d (the start timed out?)\n%s%s\n%s", code, out, errOut, lb.mustRun("journalctl", "--no-pager", "-n", "40", "-u", svc))
	}
	p := lb.show(t, svc, "TimeoutStartUSec", "NRestarts", "Result", "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic")
	startUs, _ := strconv.ParseInt(p["ExecMainStartTimestampMonotonic"], 10, 64)
	activeUs, _ := strconv.ParseInt(p["ActiveEnterTimestampMonotonic"], 10, 64)
	bootTook := time.Duration(activeUs-startUs) * time.Microsecond
	t.Logf("systemd: %v; start to active %s", p, bootTook.Round(time.Millisecond))
	if p["TimeoutStartUSec"] != "5s" || p["NRestarts"] != "0" || p["Result"] != "success" {
		t.Errorf("want TimeoutStartUSec=5s, NRestarts=0, Result=success: %v", p)
	}
	if bootTook < 7*time.Second {
		t.Errorf("start to active took %s; the app boots in 8s, so this did not prove an extension past TimeoutStartSec=5s", bootTook)
	}
	waitUp(t, url)
}

// Test 5: worker output in the journal: "<3>" sets the priority, the
// launcher's fields are attached, a traceback arrives as whole lines in
// order; and an app that cannot boot ends the service with status 69, no
// restart, and an error line carrying the app's last output.
func TestLifecycleJournal(t *testing.T) {
	lb := newLifeBox(t)
	port := freePort(t, 16000, 16999)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	const name = "lcjournal"
	svc := name + ".service"
	lb.deploy(t, lb.goodApp("--log-demo"))
	lb.mustInstall(t, name, port, []string{"-w", "2", "--ready", "notify"}, lb.app)
	waitUp(t, url)

	errLine := regexp.MustCompile(`^lifeapp: database down \(worker (\d) pid (\d+)\)$`)
	var errs []map[string]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		errs = errs[:0]
		for _, e := range lb.journal(t, "-p", "err", "-u", svc) {
			if errLine.MatchString(e["MESSAGE"]) {
				errs = append(errs, e)
			}
		}
		if len(errs) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("journalctl -p err -u %s: %d of 2 workers' <3> lines", svc, len(errs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, e := range errs {
		m := errLine.FindStringSubmatch(e["MESSAGE"])
		if e["PRIORITY"] != "3" || e["SDLAUNCH_WORKER"] != m[1] || e["SDLAUNCH_WORKER_PID"] != m[2] || e["SDLAUNCH_GENERATION"] != "1" {
			t.Errorf("entry %q: PRIORITY=%s SDLAUNCH_WORKER=%s SDLAUNCH_WORKER_PID=%s SDLAUNCH_GENERATION=%s",
				e["MESSAGE"], e["PRIORITY"], e["SDLAUNCH_WORKER"], e["SDLAUNCH_WORKER_PID"], e["SDLAUNCH_GENERATION"])
		}
	}
	if out := lb.mustRun(lb.sdl, "logs", "-p", "err", name); !strings.Contains(out, "lifeapp: database down (worker 0") || strings.Contains(out, "<3>") {
		t.Errorf("sdlaunch logs -p err lacks worker 0's error line (or shows its <3>):\n%s", out)
	}

	// The traceback of each worker: whole lines, in order, nothing else of
	// that worker in between.
	for _, e := range errs {
		pid := e["SDLAUNCH_WORKER_PID"]
		want := []*regexp.Regexp{
			regexp.MustCompile(`^Traceback \(most recent call last\):$`),
			regexp.MustCompile(`^  File ".*lifeapp\.py", line \d+, in log_demo$`),
			regexp.MustCompile(`^    level1\(\)$`),
			regexp.MustCompile(`^  File ".*lifeapp\.py", line \d+, in level1$`),
			regexp.MustCompile(`^    level2\(\)$`),
			regexp.MustCompile(`^  File ".*lifeapp\.py", line \d+, in level2$`),
			regexp.MustCompile(`^    raise ValueError\(.*\)$`),
			regexp.MustCompile(`^ValueError: lifeapp traceback marker worker \d pid ` + pid + `$`),
		}
		var msgs []string
		for _, le := range lb.journal(t, "_SYSTEMD_UNIT="+svc, "SDLAUNCH_WORKER_PID="+pid) {
			msgs = append(msgs, le["MESSAGE"])
		}
		i := 0
		for i < len(msgs) && !want[0].MatchString(msgs[i]) {
			i++
		}
		if len(msgs)-i < len(want) {
			t.Errorf("worker pid %s: no whole traceback in the journal:\n%s", pid, strings.Join(msgs, "\n"))
			continue
		}
		for k, re := range want {
			if !re.MatchString(msgs[i+k]) {
				t.Errorf("worker pid %s: traceback line %d = %q, want %s; lines:\n%s", pid, k, msgs[i+k], re, strings.Join(msgs, "\n"))
				break
			}
		}
	}

	// An app that cannot boot: exit 69, no restart, the reason in the journal.
	// (Installed while it boots, then broken: a failed first install would
	// remove its units again.)
	const bad = "lcnoboot"
	badSvc := bad + ".service"
	badPort := freePort(t, 16000, 16999)
	noboot := filepath.Join(lb.dir, "noboot.sh")
	writeScript := func(script string) {
		if err := os.WriteFile(noboot+".new", []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(noboot+".new", noboot); err != nil {
			t.Fatal(err)
		}
	}
	writeScript(lb.goodApp())
	lb.mustInstall(t, bad, badPort, []string{"-w", "1", "--ready", "notify", "--boot-retries", "1", "--restart-sec", "100ms"}, noboot)
	writeScript(lb.goodApp("--exit-at-boot", "3"))
	out, errOut, code := lb.run(lb.sdl, "restart", bad)
	if code != 1 {
		t.Errorf("restart of an app that exits 3 at boot: exit %d, want 1\n%s%s", code, out, errOut)
	}
	// Observe a window of 15 RestartSec= for a restart that must not come.
	var p map[string]string
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		p = lb.show(t, badSvc, "ActiveState", "Result", "ExecMainCode", "ExecMainStatus", "NRestarts")
		if p["ActiveState"] != "failed" || p["NRestarts"] != "0" {
			break
		}
	}
	t.Logf("%s: %v", badSvc, p)
	if p["ActiveState"] != "failed" || p["Result"] != "exit-code" || p["ExecMainStatus"] != "69" || p["NRestarts"] != "0" {
		t.Errorf("%s: want failed, Result=exit-code, ExecMainStatus=69, NRestarts=0 (RestartPreventExitStatus=69); got %v", badSvc, p)
	}
	// journald may not have written the launcher's last line yet when the
	// start job failed: look until it is there (the deadline bounds a hang).
	found := false
	for deadline := time.Now().Add(30 * time.Second); !found && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, e := range lb.journal(t, "-p", "err", "-u", badSvc) {
			msg := e["MESSAGE"]
			if e["SYSLOG_IDENTIFIER"] == "sdlaunch" && strings.Contains(msg, "workers could not boot") && strings.Contains(msg, "exited with status 3") &&
				strings.Contains(msg, "config missing: /etc/lifeapp.toml") && strings.Contains(msg, "exit status 69") {
				found = true
				t.Logf("launcher's error line: %s", msg)
			}
		}
	}
	if !found {
		t.Errorf("no launcher error line with the app's last output at priority err:\n%s", lb.mustRun("journalctl", "--no-pager", "-u", badSvc))
	}
}

// Test 6: `sdlaunch status` exits 0 while the service is active and 3 (as
// `systemctl status` does) when it is not, still printing the status.
func TestLifecycleStatusExitCode(t *testing.T) {
	lb := newLifeBox(t)
	port := freePort(t, 17000, 17999)
	const name = "lcstatus"
	lb.mustInstall(t, name, port, []string{"-w", "1", "--ready", "notify"}, lb.app)
	out, errOut, code := lb.run(lb.sdl, "status", name)
	if code != 0 || !strings.Contains(out, name+".service: active (running)") {
		t.Errorf("status of an active service: exit %d\n%s%s", code, out, errOut)
	}
	lb.mustRun("systemctl", "stop", name+".service")
	out, errOut, code = lb.run(lb.sdl, "status", name)
	if code != 3 || !strings.Contains(out, name+".service: inactive (dead)") {
		t.Errorf("status of a stopped service: exit %d, want 3\n%s%s", code, out, errOut)
	}
	// systemctl agrees.
	if _, _, sc := lb.run("systemctl", "status", name+".service"); sc != 3 {
		t.Errorf("systemctl status of a stopped service: exit %d", sc)
	}
	lb.mustRun("systemctl", "start", name+".service")
	if out, errOut, code = lb.run(lb.sdl, "status", name); code != 0 {
		t.Errorf("status after start: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code = lb.run(lb.sdl, "status", "nosuchapp"); code != 1 || !strings.Contains(errOut, "not installed") {
		t.Errorf("status of an app that is not installed: exit %d: %s", code, errOut)
	}
}
