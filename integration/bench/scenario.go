package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// config is the bench's flags and what prepare made of them.
type config struct {
	sdlaunch  string        // the sdlaunch binary (a copy in dir)
	compare   string        // another sdlaunch binary to run under systemd too ("": none)
	goapp     string        // the Go worker (built into dir)
	k         int           // operations (restarts, reloads) per scenario
	duration  time.Duration // load per scenario
	clients   int           // closed-loop clients
	rate      float64       // open-loop rate (0: half the measured capacity)
	loops     []string      // "closed", "open"
	timeout   time.Duration // per request
	opTimeout time.Duration // one restart or reload
	workers   int           // workers of every setup
	quick     bool
	tail      time.Duration // load kept after the last operation, so that failures right after it are seen
	long      int           // restarts in the long mode (0: not run)
	longLoop  string        // the long mode's load: "closed" or "open"
	runFlags  []string      // extra flags for every `sdlaunch run` of the Flask app
	worker    []string      // one worker of the Flask app, as sdlaunch and the baseline run it
	loadStart string        // /proc/loadavg when the bench started
	loadEnd   string        // and when it ended
	autogroup autogroup     // what the bench did to the autogroup scheduler
	dir       string        // scratch dir: binaries, app, configs, logs
	appDir    string        // the app, in dir
	logf      func(format string, a ...any)
	progress  func(format string, a ...any)
}

// workerHeader names the worker that answered (testdata/app.py, goapp).
const workerHeader = "X-Worker-Pid"

// opSpan is one restart or reload, as offsets from the load's start.
type opSpan struct {
	Start, End time.Duration
}

// measurement is one scenario's outcome: a setup, an operation ("" for
// steady state) and a loop.
type measurement struct {
	setup, op, loop string
	rate            float64 // open loop: requests per second
	ops             []opSpan
	load            load.Result
	stall           time.Duration // longest gap between successful answers
	steadyMax       time.Duration // worst latency away from operations
	series          []bin         // latency over time, for the charts
	samples         []load.Sample // kept for the reload timeline only
	overflows       int64         // TcpExt ListenOverflows during the scenario (-1: unknown)
	err             error
}

func (m *measurement) name() string {
	s := m.setup
	if m.op != "" {
		s += " " + m.op
	} else {
		s += " steady"
	}
	return s
}

func (m *measurement) scenario() string { return m.name() + " (" + m.loop + ")" }

// settle is how long after an operation ended requests still count as
// affected by it (steady_max leaves them out).
const settle = time.Second

// loadOpts is the load every scenario of a loop gets.
func loadOpts(cfg *config, loop, url string) load.Options {
	o := load.Options{URL: url, Clients: cfg.clients, Timeout: cfg.timeout, Samples: true, ServerHeader: workerHeader}
	if loop == "open" {
		o.Rate = cfg.rate
	}
	return o
}

// underLoad runs the load for cfg.duration (at least until tail after the
// last op) against url, while op (nil: none) runs cfg.k times, evenly
// spread, and prints the scenario's progress line.
func underLoad(ctx context.Context, cfg *config, m measurement, url string, op func(context.Context) error) measurement {
	if err := waitServing(ctx, url, 60*time.Second); err != nil {
		m.err = err
		return m
	}
	if err := awaitQuiet(ctx, url); err != nil {
		m.err = fmt.Errorf("before the load: %w", err)
		return m
	}
	overflowsBefore, overflowsErr := listenOverflows()
	opts := loadOpts(cfg, m.loop, url)
	m.rate = opts.Rate
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	results := make(chan load.Result, 1)
	go func() { results <- load.Run(loadCtx, opts) }()
	start := time.Now() // within microseconds of the load's own start
	k := cfg.k
	if op == nil {
		k = 0
	}
	interval := cfg.duration / time.Duration(max(k, 1))
	for i := range k {
		if sleepUntil(ctx, start.Add(interval*time.Duration(i)+interval/2)) != nil {
			m.err = fmt.Errorf("interrupted: %w", ctx.Err())
			break
		}
		opCtx, cancel := context.WithTimeout(ctx, cfg.opTimeout)
		t0 := time.Now()
		err := op(opCtx)
		t1 := time.Now()
		cancel()
		if ctx.Err() != nil {
			m.err = fmt.Errorf("interrupted during operation %d of %d: %w", i+1, k, ctx.Err())
			break
		}
		if err != nil {
			m.err = fmt.Errorf("operation %d of %d: %w", i+1, k, err)
			break
		}
		m.ops = append(m.ops, opSpan{Start: t0.Sub(start), End: t1.Sub(start)})
	}
	end := start.Add(cfg.duration)
	if k > 0 {
		end = later(end, time.Now().Add(cfg.tail))
	}
	_ = sleepUntil(ctx, end)
	stopLoad()
	m.load = <-results
	m.overflows = -1
	if after, err := listenOverflows(); err == nil && overflowsErr == nil {
		m.overflows = after - overflowsBefore
	}
	if m.err == nil && m.load.Err != nil {
		m.err = m.load.Err
	}
	// Re-base the operations on the load's own start.
	shift := m.load.Start.Sub(start)
	for i := range m.ops {
		m.ops[i].Start -= shift
		m.ops[i].End -= shift
	}
	m.stall = longestGap(m.load.Samples)
	m.steadyMax = steadyMax(m.load.Samples, m.ops)
	m.series = binSamples(m.load.Samples, chartBins)
	m.samples = m.load.Samples
	m.load.Samples = nil
	cfg.progress("%s", progressLine(&m))
	return m
}

// longestGap is the longest time in which no request succeeded while the
// load was sending: from its start to the first success, between two
// successes, or from the last success to the last request sent.
func longestGap(samples []load.Sample) time.Duration {
	var ends []time.Duration
	var last time.Duration
	for _, s := range samples {
		last = max(last, s.Start)
		if s.Class == "" {
			ends = append(ends, s.Start+s.Latency)
		}
	}
	if len(ends) == 0 {
		return last
	}
	slices.Sort(ends)
	gap, prev := ends[0], ends[0]
	for _, e := range ends[1:] {
		gap = max(gap, e-prev)
		prev = e
	}
	return max(gap, last-prev)
}

// steadyMax is the worst latency of the successful requests that neither
// overlap an operation nor end within settle after one.
func steadyMax(samples []load.Sample, ops []opSpan) time.Duration {
	var worst time.Duration
	for _, s := range samples {
		if s.Class != "" {
			continue
		}
		affected := false
		for _, o := range ops {
			if s.Start < o.End+settle && s.Start+s.Latency > o.Start {
				affected = true
				break
			}
		}
		if !affected {
			worst = max(worst, s.Latency)
		}
	}
	return worst
}

// bin is a slice of a scenario's run: the requests that started in it.
type bin struct {
	at           time.Duration // the bin's start
	n, failed    int
	max, p50Like time.Duration // worst and median latency of the successes
}

// chartBins is how many bins a run's latency-over-time chart has.
const chartBins = 400

func binSamples(samples []load.Sample, n int) []bin {
	var last time.Duration
	for _, s := range samples {
		last = max(last, s.Start)
	}
	if len(samples) == 0 || last == 0 {
		return nil
	}
	width := last/time.Duration(n) + 1
	bins := make([]bin, n)
	lat := make([][]time.Duration, n)
	for _, s := range samples {
		i := min(int(s.Start/width), n-1)
		bins[i].n++
		if s.Class != "" {
			bins[i].failed++
			continue
		}
		bins[i].max = max(bins[i].max, s.Latency)
		lat[i] = append(lat[i], s.Latency)
	}
	for i := range bins {
		bins[i].at = time.Duration(i) * width
		if l := lat[i]; len(l) > 0 {
			slices.Sort(l)
			bins[i].p50Like = l[len(l)/2]
		}
	}
	return bins
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// waitServing polls url until it answers 2xx.
func waitServing(ctx context.Context, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		if sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) != nil {
			return fmt.Errorf("%s did not answer 2xx within %s: %w", url, limit, last)
		}
	}
}

// freePort is a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeFile writes a config file under dir.
func writeFile(dir, name, text string) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return p, nil
}
