package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// report prints the table, the ratios against the supervisord baseline and
// the footprint; it answers whether something could not be run.
func report(w io.Writer, cfg *config, ms []measurement, fp *footprint) (failed bool) {
	fmt.Fprintf(w, "\nsdlaunch bench: %d closed-loop clients, new connection per request, %d operations per scenario over %s, Flask app under /usr/bin/gunicorn, %d CPUs\n\n",
		cfg.clients, cfg.k, cfg.duration, runtime.NumCPU())
	if len(cfg.runFlags) > 0 {
		fmt.Fprintf(w, "sdlaunch run flags: %s\n", strings.Join(cfg.runFlags, " "))
	}
	fmt.Fprintf(w, "load average at start %s, at end %s", cfg.loadStart, cfg.loadEnd)
	if busy(cfg.loadStart) || busy(cfg.loadEnd) {
		fmt.Fprintf(w, " -- the machine was busy with other work: timings are noisy, compare within this run only")
	}
	fmt.Fprint(w, "\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tops\top avg\top max\trequests\treq/s\tfailed\tfailed/op\tp50\tp99\tworst latency\tlongest stall\t")
	for _, m := range ms {
		if m.err != nil && m.load.Total == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t\n", m.name)
			continue
		}
		avg, mx := opStats(m.ops)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m.name, len(m.ops), dur(avg), dur(mx),
			thousands(m.load.Total), float64(m.load.Total)/max(m.load.Elapsed.Seconds(), 1e-9), thousands(m.load.Failed), perOp(m), dur(m.load.P50), dur(m.load.P99), dur(m.load.MaxLatency), dur(m.load.LongestStall))
	}
	tw.Flush()
	fmt.Fprintf(w, "(op: one restart or reload, until its command returned; longest stall: longest time, in %s steps, in which no request succeeded)\n", load.StallResolution)

	fmt.Fprintln(w)
	for _, m := range ms {
		if len(m.load.Errors) > 0 {
			fmt.Fprintf(w, "%s errors: %s\n", m.name, errorList(m.load))
		}
		if len(m.ops) > 0 {
			fmt.Fprintf(w, "%s op times: %s\n", m.name, opList(m.ops))
		}
	}

	base := find(ms, "supervisord restart")
	if base != nil && base.err == nil {
		fmt.Fprintf(w, "\nvs the baseline (supervisord restart: %s failed / %s, %s per restart, worst latency %s):\n",
			thousands(base.load.Failed), thousands(base.load.Total), perOp(*base), dur(base.load.MaxLatency))
		for _, m := range ms {
			if m.name == base.name || m.err != nil {
				continue
			}
			fmt.Fprintf(w, "  %-18s %s failed / %s vs %s / %s; failed per op %s vs %s (%s); worst latency %s vs %s (%s); longest stall %s vs %s\n",
				m.name+":", thousands(m.load.Failed), thousands(m.load.Total), thousands(base.load.Failed), thousands(base.load.Total),
				perOp(m), perOp(*base), ratio(rate(m), rate(*base)),
				dur(m.load.MaxLatency), dur(base.load.MaxLatency), ratio(float64(m.load.MaxLatency), float64(base.load.MaxLatency)),
				dur(m.load.LongestStall), dur(base.load.LongestStall))
		}
	}

	if fp != nil && fp.err == nil {
		cpu := fmt.Sprintf("%s over %s (%.3f%% of one CPU)", fp.idleCPU, fp.idle, 100*fp.idleCPU.Seconds()/fp.idle.Seconds())
		if fp.idleCPU == 0 {
			cpu = fmt.Sprintf("below the %s clock tick over %s", time.Second/userHZ, fp.idle)
		}
		fmt.Fprintf(w, "\nlauncher footprint (sdlaunch run -w 4 -- gunicorn --preload -w 1 app:app, launcher pid only): RSS %.1f MiB; start to READY=1 %s; CPU (user+system) at idle %s\n",
			float64(fp.rssKiB)/1024, dur(fp.ready), cpu)
	}

	var problems []string
	for _, m := range ms {
		if m.err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", m.name, m.err))
		}
	}
	if fp != nil && fp.err != nil {
		problems = append(problems, fmt.Sprintf("footprint: %v", fp.err))
	}
	if len(problems) > 0 {
		fmt.Fprintf(w, "\nCOULD NOT RUN:\n  %s\n", strings.Join(problems, "\n  "))
	}
	return len(problems) > 0
}

// busy says whether a /proc/loadavg reading shows more runnable work than
// half the CPUs.
func busy(loadavg string) bool {
	var one float64
	if _, err := fmt.Sscan(loadavg, &one); err != nil {
		return false
	}
	return one > float64(runtime.NumCPU())/2
}

func find(ms []measurement, name string) *measurement {
	for i := range ms {
		if ms[i].name == name {
			return &ms[i]
		}
	}
	return nil
}

func opStats(ops []time.Duration) (avg, mx time.Duration) {
	if len(ops) == 0 {
		return 0, 0
	}
	var sum time.Duration
	for _, d := range ops {
		sum += d
		mx = max(mx, d)
	}
	return sum / time.Duration(len(ops)), mx
}

// rate is failed requests per operation.
func rate(m measurement) float64 {
	if len(m.ops) == 0 {
		return 0
	}
	return float64(m.load.Failed) / float64(len(m.ops))
}

func perOp(m measurement) string {
	if len(m.ops) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", rate(m))
}

func ratio(a, b float64) string {
	if b == 0 {
		return "no ratio: baseline is 0"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func errorList(r load.Result) string {
	var parts []string
	for _, c := range r.Classes() {
		parts = append(parts, fmt.Sprintf("%s %s", c, thousands(r.Errors[c])))
	}
	return strings.Join(parts, ", ")
}

func opList(ops []time.Duration) string {
	parts := make([]string, len(ops))
	for i, d := range ops {
		parts[i] = dur(d)
	}
	return strings.Join(parts, " ")
}
