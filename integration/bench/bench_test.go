package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 31000: "31,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func rusageCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTime agrees with getrusage, however busy the machine is.
func TestProcStats(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ruBefore := rusageCPU(t)
	for deadline := time.Now().Add(20 * time.Second); rusageCPU(t)-ruBefore < 300*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Skip("could not get 300ms of CPU in 20s")
		}
	}
	after, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	got, want := after-before, rusageCPU(t)-ruBefore
	if got < want-50*time.Millisecond || got > want+50*time.Millisecond {
		t.Errorf("/proc/PID/stat counted %v of CPU, getrusage %v", got, want)
	}
	if kib, err := rssKiB(os.Getpid()); err != nil || kib < 1000 {
		t.Errorf("rss %d KiB, %v", kib, err)
	}
	if _, err := cpuTime(-1); err == nil {
		t.Error("cpuTime of no process: no error")
	}
}

// guardedCPU counts the guardian's child, the launcher, which forwards a
// standalone launcher's logs: the guardian alone burns next to nothing (the
// terminal row read "CPU 0 per 100k lines").
func TestGuardedCPUCountsTheLauncher(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, k := range children(cmd.Process.Pid) {
			_ = syscall.Kill(k, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var kid int
	for deadline := time.Now().Add(30 * time.Second); ; {
		if kids := children(cmd.Process.Pid); len(kids) == 1 {
			if c, err := cpuTime(kids[0]); err == nil && c >= 100*time.Millisecond {
				kid = kids[0]
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the busy child got no 100ms of CPU in 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	own, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	childCPU, err := cpuTime(kid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := guardedCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got < own+childCPU {
		t.Errorf("guardedCPU = %v, want at least the parent's %v plus the child's %v", got, own, childCPU)
	}
	if _, err := guardedCPU(kid); err == nil {
		t.Error("guardedCPU of a process without exactly one child: no error")
	}
}

func TestBusy(t *testing.T) {
	if busy("0.00 0.01 0.05") || !busy("99.0 1 1") || busy("?") {
		t.Error("busy misreads /proc/loadavg")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-k", "0"},
		{"-scenarios", "supervisord,nope"},
		{"-run-flags", "--ready=$(reboot)"},
		{"-worker", "gunicorn;reboot"},
		{"-worker", " "},
		{"extra"},
		{"-duration", "-1s"},
		{"-loops", "sideways"},
		{"-rate", "-5"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, errOut.String())
		}
		if out.Len() != 0 {
			t.Errorf("%q: printed a report: %q", args, out.String())
		}
	}
}

func TestMissingBinaryFails(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-sdlaunch", "/nonexistent/sdlaunch", "-q"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "/nonexistent/sdlaunch") {
		t.Errorf("exit %d, stderr %q; want 1 naming the binary", code, errOut.String())
	}
}

func sample(startMS, latMS int, class string) load.Sample {
	return load.Sample{Start: time.Duration(startMS) * time.Millisecond, Latency: time.Duration(latMS) * time.Millisecond, Class: class}
}

// The stall is the longest time without a successful answer, counting the
// start of the run and the last request sent; failures do not end it.
func TestLongestGap(t *testing.T) {
	s := []load.Sample{sample(0, 10, ""), sample(5, 15, ""), sample(30, 5, "refused"), sample(400, 100, ""), sample(500, 10, ""), sample(600, 1, "refused")}
	if got := longestGap(s); got != 480*time.Millisecond {
		t.Errorf("longestGap = %v, want 480ms (20ms to 500ms)", got)
	}
	if got := longestGap([]load.Sample{sample(0, 1, "refused"), sample(700, 1, "refused")}); got != 700*time.Millisecond {
		t.Errorf("no success at all: %v, want the whole 700ms", got)
	}
}

// Steady-state worst leaves out requests that overlap an operation or end
// within settle after one.
func TestSteadyMax(t *testing.T) {
	ops := []opSpan{{Start: time.Second, End: 2 * time.Second}}
	s := []load.Sample{sample(200, 900, ""), sample(2500, 100, ""), sample(3500, 50, ""), sample(3600, 400, "timeout"), sample(100, 30, "")}
	if got := steadyMax(s, ops); got != 50*time.Millisecond {
		t.Errorf("steadyMax = %v, want 50ms", got)
	}
}

func TestBins(t *testing.T) {
	var s []load.Sample
	for i := range 100 {
		s = append(s, sample(i*10, i, ""))
	}
	s = append(s, sample(995, 5, "reset"))
	b := binSamples(s, 10)
	if len(b) != 10 || b[9].failed != 1 || b[0].n != 10 || b[9].max != 99*time.Millisecond {
		t.Fatalf("bins %+v", b)
	}
}

// journalEvents keeps the unit's systemd job messages, the launcher's and
// the workers' lines (gunicorn's prefix parsed), and nothing else.
func TestJournalEvents(t *testing.T) {
	t0 := time.UnixMicro(1_700_000_000_000_000)
	raw := strings.Join([]string{
		`{"__REALTIME_TIMESTAMP":"1700000000100000","MESSAGE":"Reloading app.service - app...","_PID":"1","UNIT":"app.service"}`,
		`{"__REALTIME_TIMESTAMP":"1700000000200000","MESSAGE":"reloading: rolling generation 2 (surge 2)","SYSLOG_IDENTIFIER":"sdlaunch","_SYSTEMD_UNIT":"app.service","_PID":"7"}`,
		`{"__REALTIME_TIMESTAMP":"1700000000300000","MESSAGE":"[2026-12-01 09:00:11 +0000] [216] [INFO] Booting worker with pid: 216","SYSLOG_IDENTIFIER":"gunicorn","_SYSTEMD_UNIT":"app.service","SDLAUNCH_WORKER_PID":"206","SDLAUNCH_GENERATION":"2","SDLAUNCH_WORKER":"0"}`,
		`{"__REALTIME_TIMESTAMP":"1700000000400000","MESSAGE":"unrelated","_SYSTEMD_UNIT":"other.service","SYSLOG_IDENTIFIER":"x"}`,
		`{"__REALTIME_TIMESTAMP":"1700000000500000","MESSAGE":[104,105],"_SYSTEMD_UNIT":"app.service","SYSLOG_IDENTIFIER":"sdlaunch"}`,
		`not json`,
	}, "\n")
	got := journalEvents([]byte(raw), "app", t0)
	want := []event{
		{100 * time.Millisecond, "systemd: Reloading app.service - app..."},
		{200 * time.Millisecond, "launcher: reloading: rolling generation 2 (surge 2)"},
		{300 * time.Millisecond, "worker 0 gen 2 (pid 206) gunicorn[216]: Booting worker with pid: 216"},
		{500 * time.Millisecond, "launcher: hi"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// The charts draw from any mix of scenarios, including ones with no answer
// for a while, and write PNGs.
func TestCharts(t *testing.T) {
	var s []load.Sample
	for i := range 2000 {
		lat, class := 2+i%7, ""
		if i > 800 && i < 900 {
			class = "refused"
		}
		if i >= 900 && i < 1000 {
			continue // no request answered here
		}
		s = append(s, sample(i*5, lat, class))
	}
	ms := []measurement{
		{setup: "baseline (no supervisor)", loop: "closed", series: binSamples(s, chartBins)},
		{setup: "x", op: "restart", loop: "closed", ops: []opSpan{{4 * time.Second, 5 * time.Second}}, series: binSamples(s, chartBins)},
		{setup: "x", op: "restart", loop: "open", ops: []opSpan{{4 * time.Second, 5 * time.Second}}, series: binSamples(s, chartBins)},
	}
	ms[1].load.Failed, ms[1].load.MaxLatency = 100, 50*time.Millisecond
	dir := t.TempDir()
	if err := writeCharts(&results{ms: ms}, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"latency-closed.png", "latency-open.png", "failed-per-op.png"} {
		if st, err := os.Stat(dir + "/" + f); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if out := os.Getenv("BENCH_CHART_DIR"); out != "" {
		_ = writeCharts(&results{ms: ms}, out)
	}
}

func TestListenQueued(t *testing.T) {
	// /proc/net/tcp entries: a listener on 2024 with 0x12 queued, an
	// established connection to it (not counted), a listener on another
	// port, and a second listener on 2024 (SO_REUSEPORT).
	table := `   0: 0100007F:07E8 00000000:0000 0A 00000000:00000012 00:00000000 00000000     0        0 1076 1 0 100 0 0 10 0
   1: 0100007F:07E8 0100007F:D2F0 01 00000000:00000040 00:00000000 00000000     0        0 1077 1 0 100 0 0 10 0
   2: 0100007F:90CD 00000000:0000 0A 00000000:00000008 00:00000000 00000000     0        0 1078 1 0 100 0 0 10 0
   3: 00000000:07E8 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 1079 1 0 100 0 0 10 0
`
	if n, err := listenQueued(table, 2024); err != nil || n != 0x12+1 {
		t.Errorf("port 2024: %d, %v; want %d", n, err, 0x12+1)
	}
	if _, err := listenQueued(table, 9); err == nil {
		t.Error("port 9: no error for a port nothing listens on")
	}
	if _, err := listenQueued("   0: 0100007F:07E8 00000000:0000 0A 00000000\n", 2024); err == nil {
		t.Error("no error for a bad queue field")
	}
}

func TestClientSockets(t *testing.T) {
	// To port 2024 (07E8): an orphan in FIN_WAIT1 (04), one connecting
	// (02), one in TIME_WAIT (06, left out); the server's side of a
	// connection (local 2024, left out); a client of another port.
	table := `   0: 0100007F:D2F0 0100007F:07E8 04 00000040:00000000 01:00000033 00000000     0        0 0 1 0 100 0 0 10 -1
   1: 0100007F:D2F1 0100007F:07E8 02 00000000:00000000 01:00000033 00000000     0        0 0 1 0 100 0 0 10 -1
   2: 0100007F:D2F2 0100007F:07E8 06 00000000:00000000 03:00000033 00000000     0        0 0 3 0
   3: 0100007F:07E8 0100007F:D2F3 01 00000000:00000000 00:00000000 00000000     0        0 1080 1 0 100 0 0 10 0
   4: 0100007F:D2F4 0100007F:90CD 04 00000040:00000000 01:00000033 00000000     0        0 0 1 0 100 0 0 10 -1
`
	if n := clientSockets(table, 2024); n != 2 {
		t.Errorf("client sockets to 2024: %d, want 2", n)
	}
}

func TestStatTicks(t *testing.T) {
	// pid (comm with ") " in it) state ppid ... utime stime cutime cstime ...
	stat := "4242 (gun) icorn) S 17 4242 17 0 -1 4194304 6250 0 1 0 33 17 5 2 20 0 1 0 6015322 36237312"
	ppid, ticks, err := statTicks(stat)
	if err != nil || ppid != 17 || ticks != 33+17+5+2 {
		t.Errorf("statTicks: ppid %d, ticks %d, %v; want 17, %d", ppid, ticks, err, 33+17+5+2)
	}
	if _, _, err := statTicks("4242 (gunicorn) S 17"); err == nil {
		t.Error("no error for a short stat line")
	}
}

func TestReloadNice(t *testing.T) {
	for _, c := range []struct {
		flags []string
		want  int
	}{
		{nil, 10},
		{[]string{"--ready", "notify"}, 10},
		{[]string{"--reload-nice", "0"}, 0},
		{[]string{"--reload-nice=5", "-w", "2"}, 5},
	} {
		if got := reloadNice(c.flags); got != c.want {
			t.Errorf("reloadNice(%q) = %d, want %d", c.flags, got, c.want)
		}
	}
}

// The timeline follows the worst request: the operation it overlapped, or,
// when it came in the steady state, the last operation before it, up to
// its answer, saying so.
func TestReloadTimelineFollowsTheWorstRequest(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	m := &measurement{op: "reload", ops: []opSpan{{ms(1000), ms(3000)}, {ms(6000), ms(8000)}}}
	m.load.Start = time.Unix(1000, 0)
	m.samples = []load.Sample{{Start: ms(2000), Latency: ms(50), Server: "1"}, {Start: ms(12000), Latency: ms(200), Server: "2"}}
	i, ev := reloadTimeline(m, nil, "u")
	if i != 1 {
		t.Fatalf("operation %d, want 2 (the last before the worst request)", i+1)
	}
	text := formatTimeline(ev)
	for _, want := range []string{"overlapped no operation: it was sent 4s after this one returned", "slow #1 answered after 200ms, pid 2"} {
		if !strings.Contains(text, want) {
			t.Errorf("timeline lacks %q:\n%s", want, text)
		}
	}
	m.samples[0].Latency = ms(300)
	if i, ev = reloadTimeline(m, nil, "u"); i != 0 || strings.Contains(formatTimeline(ev), "overlapped no operation") {
		t.Errorf("operation %d, want 1, the one the worst request overlapped:\n%s", i+1, formatTimeline(ev))
	}
}

// The bench's gc_freeze.py is the gunicorn config the README offers.
func TestGCFreezeIsTheContribConfig(t *testing.T) {
	want, err := os.ReadFile("../../contrib/examples/gunicorn/gunicorn.conf.py")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gcFreeze, want) {
		t.Error("testdata/gc_freeze.py differs from contrib/examples/gunicorn/gunicorn.conf.py: copy it again")
	}
}

// The request path's ratio pairs each round with the one run beside it: a
// machine that slows down for a few rounds moves both halves of a pair.
func TestPairedRatio(t *testing.T) {
	bare := []float64{30000, 22000, 24000, 29000}
	sdl := []float64{29700, 21780, 23760, 28710} // 0.99 of each
	if got := pairedRatio(bare, sdl); got < 0.9899 || got > 0.9901 {
		t.Errorf("pairedRatio = %.4f, want 0.99", got)
	}
	// One sdlaunch round caught a slow moment its pair did not: the ratio
	// of the medians would read 21,780/26,000 = 0.838.
	bare = []float64{30000, 30000, 22000, 22000}
	sdl = []float64{29700, 21780, 21780, 21780}
	if got := pairedRatio(bare, sdl); got < 0.9899 || got > 0.9901 {
		t.Errorf("pairedRatio = %.4f, want 0.99", got)
	}
	if got := medianF([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("medianF of 4 values = %v, want the mean of the middle two, 2.5", got)
	}
	if pairedRatio(nil, nil) != 0 || pairedRatio([]float64{0}, []float64{1}) != 0 {
		t.Error("pairedRatio of no usable pair is not 0")
	}
}
