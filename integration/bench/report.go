package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// progressLine is the one line a scenario prints when it ends.
func progressLine(m *measurement) string {
	r := m.load
	if r.Err != nil {
		return fmt.Sprintf("%s: %v", m.scenario(), r.Err)
	}
	s := fmt.Sprintf("%s: %s failed / %s, p50 %s p99 %s max %s, stall %s, steady max %s",
		m.scenario(), thousands(r.Failed), thousands(r.Total), dur(r.P50), dur(r.P99), dur(r.MaxLatency), dur(m.stall), dur(m.steadyMax))
	if len(m.ops) > 0 {
		s += ", ops " + opList(m.ops)
	}
	if m.overflows > 0 {
		s += fmt.Sprintf(", accept queue overflowed %s times", thousands(int(m.overflows)))
	}
	if m.err != nil {
		s += "; ERROR: " + m.err.Error()
	}
	return s
}

// record is one scenario in results.json.
type record struct {
	Scenario    string    `json:"scenario"`
	Setup       string    `json:"setup"`
	Op          string    `json:"op"`
	Loop        string    `json:"loop"`
	Rate        float64   `json:"rate,omitempty"`
	Ops         int       `json:"ops"`
	OpMS        []float64 `json:"op_ms"`
	Requests    int       `json:"requests"`
	Failed      int       `json:"failed"`
	Errors      any       `json:"errors"`
	P50MS       float64   `json:"p50_ms"`
	P99MS       float64   `json:"p99_ms"`
	MaxMS       float64   `json:"max_ms"`
	StallMS     float64   `json:"stall_ms"`
	SteadyMaxMS float64   `json:"steady_max_ms"`
	Overflows   int64     `json:"listen_overflows"` // TcpExt ListenOverflows during it; -1: unknown
	Error       string    `json:"error,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func toRecord(m *measurement) record {
	r := record{Scenario: m.scenario(), Setup: m.setup, Op: m.op, Loop: m.loop, Rate: m.rate, Ops: len(m.ops), OpMS: []float64{},
		Requests: m.load.Total, Failed: m.load.Failed, Errors: m.load.Errors,
		P50MS: ms(m.load.P50), P99MS: ms(m.load.P99), MaxMS: ms(m.load.MaxLatency), StallMS: ms(m.stall), SteadyMaxMS: ms(m.steadyMax),
		Overflows: m.overflows}
	for _, o := range m.ops {
		r.OpMS = append(r.OpMS, ms(o.End-o.Start))
	}
	if m.err != nil {
		r.Error = m.err.Error()
	}
	return r
}

// writeResults writes results.md, results.json (one record per scenario),
// measurements.json (everything else), the charts and the timelines.
func writeResults(cfg *config, res *results, md, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	recs := []record{}
	for i := range res.ms {
		recs = append(recs, toRecord(&res.ms[i]))
	}
	if res.long != nil {
		recs = append(recs, toRecord(res.long))
	}
	if err := writeJSON(filepath.Join(dir, "results.json"), recs); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "measurements.json"), extrasJSON(cfg, res)); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	var tl strings.Builder
	tl.WriteString("# Reload timelines\n\nEach is the reload that the scenario's worst request overlapped (or, when it overlapped none, the last one before it, up to its answer), in ms from the start of `systemctl reload`: the bench's command, systemd's job (journal), the launcher's messages (`TRACE` lines need a build with the trace instrumentation), each worker's lines with its generation, and what the load saw: the first and last answer of each worker process (`X-Worker-Pid`), the longest time without an answer, and the three slowest requests.\n")
	for _, t := range res.timelines {
		fmt.Fprintf(&tl, "\n## %s, operation %d\n\n```\n%s```\n", t.scenario, t.op+1, formatTimeline(t.events))
	}
	if err := os.WriteFile(filepath.Join(dir, "timeline.md"), []byte(tl.String()), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return writeCharts(res, dir)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// markdown renders the run: the table, the other measurements and the goals.
func markdown(cfg *config, res *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Restarts and reloads under load\n\n")
	fmt.Fprintf(&b, "%d workers of the Flask app (`testdata/app.py`) under Debian's gunicorn in every setup; %d operations per scenario over %s; closed loop: %d clients; open loop: %.0f req/s (half the baseline's closed-loop capacity of %.0f req/s); a new connection per request; %d CPUs; load average %s at the start, %s at the end%s; %s. Run took %s.\n\n",
		cfg.workers, cfg.k, cfg.duration, cfg.clients, cfg.rate, res.capacity, runtime.NumCPU(), res.loadStart, res.loadEnd, busyNote(res), cfg.autogroup.note(), res.took.Round(time.Second))
	b.WriteString("| scenario | loop | ops | requests | failed | failed/op | p50 | p99 | worst | stall | steady worst | op time (avg) |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	rows := res.ms
	if res.long != nil {
		rows = append(rows[:len(rows):len(rows)], *res.long)
	}
	for _, m := range rows {
		if m.load.Total == 0 {
			fmt.Fprintf(&b, "| %s | %s | - | - | - | - | - | - | - | - | - | not run: %v |\n", m.name(), m.loop, m.err)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m.name(), m.loop, len(m.ops), thousands(m.load.Total),
			thousands(m.load.Failed), perOp(m), dur(m.load.P50), dur(m.load.P99), dur(m.load.MaxLatency), dur(m.stall), dur(m.steadyMax), opAvg(m.ops))
	}
	b.WriteString("\n*stall*: longest time in which no request got an answer. *steady worst*: worst latency of the requests that neither overlapped an operation nor ended within 1 s of one. *op time*: until the command returned (for gunicorn's HUP, until every worker was replaced). gunicorn's own reload re-imports the app in its new workers (no `--preload`).\n")
	fmt.Fprintf(&b, "sdlaunch runs each worker as `%s`%s; the worker READY setup as `%s` with `--ready notify`.\n", joinArgs(cfg.worker), flagsNote(cfg.runFlags), joinArgs(workerReadyArgv))
	for _, m := range rows {
		if len(m.load.Errors) > 0 {
			fmt.Fprintf(&b, "\n- %s (%s) errors: %s", m.name(), m.loop, errorList(m.load))
		}
	}
	b.WriteString("\n")
	if o := overflowList(rows); o != "" {
		fmt.Fprintf(&b, "\nThe accept queue overflowed (the kernel's TcpExt ListenOverflows: SYNs dropped, requests that then time out) in %s; in no other scenario. Each scenario starts with an empty queue and no client socket left by the one before.\n", o)
	}
	writeExtras(&b, cfg, res)
	writeGoals(&b, cfg, res)
	if len(res.problems) > 0 {
		fmt.Fprintf(&b, "\n**Could not run:**\n\n- %s\n", strings.Join(res.problems, "\n- "))
	}
	return b.String()
}

// overflowList names the scenarios whose accept queue overflowed, with
// the counts.
func overflowList(ms []measurement) string {
	var out []string
	for _, m := range ms {
		if m.overflows > 0 {
			out = append(out, fmt.Sprintf("%s (%s): %s", m.name(), m.loop, thousands(int(m.overflows))))
		}
	}
	return strings.Join(out, ", ")
}

func busyNote(res *results) string {
	if busy(res.loadStart) || busy(res.loadEnd) {
		return " (**the machine was busy with other work: compare only within this run**)"
	}
	return ""
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

// updateReadme replaces the text between the bench markers in path.
func updateReadme(path, md, outDir string) error {
	const begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("readme: %w", err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("readme: %s has no %s ... %s section", path, begin, end)
	}
	charts := fmt.Sprintf("\n![latency over time, open loop](%[1]s/latency-open.png)\n![latency over time, closed loop](%[1]s/latency-closed.png)\n![failed requests per operation](%[1]s/failed-per-op.png)\n", outDir)
	s = s[:i+len(begin)] + "\n" + md + charts + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

func perOp(m measurement) string {
	if len(m.ops) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(m.load.Failed)/float64(len(m.ops)))
}

func opAvg(ops []opSpan) string {
	if len(ops) == 0 {
		return "-"
	}
	var sum time.Duration
	for _, o := range ops {
		sum += o.End - o.Start
	}
	return dur(sum / time.Duration(len(ops)))
}

func opList(ops []opSpan) string {
	parts := make([]string, len(ops))
	for i, o := range ops {
		parts[i] = dur(o.End - o.Start)
	}
	if len(parts) > 8 {
		parts = append(parts[:8], "...")
	}
	return strings.Join(parts, " ")
}

func durs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = dur(d)
	}
	return strings.Join(parts, " ")
}

func joinArgs(a []string) string { return strings.Join(a, " ") }

// flagsNote names the sdlaunch run flags of the Flask app, if any.
func flagsNote(flags []string) string {
	if len(flags) == 0 {
		return " with sdlaunch's default options"
	}
	return " with `" + joinArgs(flags) + "`"
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
