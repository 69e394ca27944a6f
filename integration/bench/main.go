// Command bench puts sdlaunch beside every setup a user would pick instead,
// on the same Flask app (testdata/app.py) and the same load, and measures
// what restarts and reloads cost its clients, in a closed loop and in an
// open loop (a constant rate at half the measured capacity, so that a stall
// shows as latency). It also measures the app's own boot time, the request
// path, log forwarding, how the launcher scales, and how evenly workers
// share the requests, then writes bench/results/ (results.md, results.json,
// PNG charts, the reload timeline) and checks the goals of issue 10.
//
//	make bench                  # the full run, ~12 min
//	make bench BENCHFLAGS=-quick  # about 3 min
//	make bench BENCHFLAGS="-long 200 -scenarios systemd"  # 200 systemctl restarts
//
// It needs root (systemd-nspawn) and Debian's gunicorn, python3-flask,
// supervisor and systemd-container; all traffic stays on 127.0.0.1. It exits
// 1 if a scenario could not be run, 2 on bad flags.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// appPy is the app every scenario serves.
//
//go:embed testdata/app.py
var appPy []byte

// readyFromWorker is a gunicorn config that sends READY=1 from the worker.
//
//go:embed testdata/ready_from_worker.py
var readyFromWorker []byte

// gcFreeze is contrib/examples/gunicorn/gunicorn.conf.py, for -worker
// '/usr/bin/gunicorn -c gc_freeze.py -w 1 app:app'.
//
//go:embed testdata/gc_freeze.py
var gcFreeze []byte

// allScenarios are the parts of a run, in the order they run.
var allScenarios = []string{"boot", "baseline", "supervisord", "systemd", "worker-ready", "standalone", "reqpath", "logs", "scale", "reloadcost", "balance"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	fs.StringVar(&cfg.sdlaunch, "sdlaunch", "bin/sdlaunch", "the sdlaunch binary to measure")
	fs.StringVar(&cfg.compare, "compare", "", "another sdlaunch binary (a change to try): its systemd scenarios run too, as \"sdlaunch+systemd [compare]\"")
	fs.StringVar(&cfg.goapp, "goapp", "bin/bench-goapp", "the bench's Go worker (go build -o bin/bench-goapp ./integration/bench/goapp)")
	fs.BoolVar(&cfg.quick, "quick", false, "a short run (about 3 minutes on 2 CPUs): one operation per scenario, shorter loads")
	fs.IntVar(&cfg.long, "long", 0, "also run this many `systemctl restart`s of sdlaunch under load (the restart goal asks for 200)")
	fs.StringVar(&cfg.longLoop, "long-loop", "closed", "the long mode's load: closed (one restart every 3 s: is any request lost?) or open (at -rate, one every 4 s: a stress run)")
	k := fs.Int("k", 0, "restarts or reloads per scenario (default 5, 1 with -quick)")
	duration := fs.Duration("duration", 0, "load per scenario, over which the operations are spread (default 20s, 4s with -quick)")
	fs.IntVar(&cfg.clients, "clients", 8, "closed-loop clients, one new connection per request")
	fs.Float64Var(&cfg.rate, "rate", 0, "open-loop requests per second (default: half the closed-loop capacity of the baseline, measured first)")
	loops := fs.String("loops", "closed,open", "which loads: closed, open or both")
	fs.IntVar(&cfg.workers, "workers", 2, "workers in every setup")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.DurationVar(&cfg.opTimeout, "op-timeout", 90*time.Second, "limit for one restart or reload")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated subset of "+strings.Join(allScenarios, ","))
	runFlags := fs.String("run-flags", "", "flags for every sdlaunch run of the Flask app, space-separated (the README's gunicorn recipe has none; the older one: --ready notify, with -worker '/usr/bin/gunicorn --preload -w 1 app:app')")
	worker := fs.String("worker", "/usr/bin/gunicorn -w 1 app:app", "one worker of the Flask app as sdlaunch and the baseline run it, space-separated (default: the README's gunicorn recipe)")
	out := fs.String("out", "bench/results", "directory for results.md, results.json, the charts and the timeline (\"\": none)")
	readme := fs.String("readme", "", "README whose <!-- bench:begin --> ... <!-- bench:end --> section gets the new table")
	keep := fs.Bool("keep", false, "keep the scratch directory (configs, logs, journal) even on success")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	keepAutogroup := fs.Bool("autogroup", false, "leave the kernel's autogroup scheduler on if it is (by default the bench turns it off for its run and back on after: see autogroup.go)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	want := map[string]bool{}
	scenariosSet := false
	fs.Visit(func(f *flag.Flag) { scenariosSet = scenariosSet || f.Name == "scenarios" })
	for s := range strings.SplitSeq(*scenarios, ",") {
		if !slices.Contains(allScenarios, s) {
			fmt.Fprintf(stderr, "bench: -scenarios: unknown scenario %q (want %s)\n", s, strings.Join(allScenarios, ","))
			return 2
		}
		want[s] = true
	}
	if cfg.quick && !scenariosSet {
		delete(want, "worker-ready") // an experiment, not a setup: full runs only
		delete(want, "reloadcost")   // an explanation, not a goal: full runs only
	}
	for l := range strings.SplitSeq(*loops, ",") {
		if l != "closed" && l != "open" {
			fmt.Fprintf(stderr, "bench: -loops: unknown loop %q (want closed, open)\n", l)
			return 2
		}
		if !slices.Contains(cfg.loops, l) {
			cfg.loops = append(cfg.loops, l)
		}
	}
	if cfg.longLoop != "closed" && cfg.longLoop != "open" {
		fmt.Fprintf(stderr, "bench: -long-loop: unknown loop %q (want closed, open)\n", cfg.longLoop)
		return 2
	}
	cfg.k, cfg.duration, cfg.tail = 5, 20*time.Second, 2*time.Second
	if cfg.quick {
		cfg.k, cfg.duration, cfg.tail = 1, 4*time.Second, time.Second
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "k":
			cfg.k = *k
		case "duration":
			cfg.duration = *duration
		}
	})
	if fs.NArg() > 0 || cfg.k < 1 || cfg.clients < 1 || cfg.workers < 1 || cfg.duration <= 0 || cfg.timeout <= 0 || cfg.opTimeout <= 0 || cfg.rate < 0 || cfg.long < 0 {
		fmt.Fprintln(stderr, "bench: -k, -clients and -workers must be at least 1, durations positive, -rate and -long not negative, and no arguments given")
		return 2
	}
	cfg.runFlags = strings.Fields(*runFlags)
	cfg.worker = strings.Fields(*worker)
	for _, v := range []struct {
		flag  string
		words []string
	}{{"-run-flags", cfg.runFlags}, {"-worker", cfg.worker}} {
		for _, f := range v.words {
			if strings.ContainsAny(f, "'\"\\$%;") {
				fmt.Fprintf(stderr, "bench: %s: %q: no quotes, '$', '%%', ';' or '\\' (the flags go into a unit file)\n", v.flag, f)
				return 2
			}
		}
	}
	if len(cfg.worker) == 0 {
		fmt.Fprintln(stderr, "bench: -worker: empty: give the command of one worker of the Flask app")
		return 2
	}
	cfg.logf = func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "bench:   "+format+"\n", a...)
		}
	}
	started := time.Now()
	cfg.progress = func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "bench: [%s] "+format+"\n", append([]any{time.Since(started).Round(time.Second)}, a...)...)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg.loadStart = loadAvg()
	ag, err := neutralizeAutogroup(*keepAutogroup)
	if err != nil { // not root: the systemd scenarios will say so too
		fmt.Fprintf(stderr, "bench: %v (left as it is)\n", err)
	}
	defer func() {
		if err := ag.restore(); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
		}
	}()
	cfg.autogroup = ag
	if err := prepare(cfg); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	failed := false
	defer func() {
		if *keep || failed {
			fmt.Fprintf(stderr, "bench: scratch directory kept: %s\n", cfg.dir)
			return
		}
		os.RemoveAll(cfg.dir)
	}()

	res := measureAll(ctx, cfg, want)
	res.took = time.Since(started)
	cfg.loadEnd = loadAvg()
	res.loadStart, res.loadEnd = cfg.loadStart, cfg.loadEnd
	md := markdown(cfg, res)
	fmt.Fprint(stdout, md)
	if *out != "" {
		if err := writeResults(cfg, res, md, *out); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			res.problems = append(res.problems, err.Error())
		} else {
			fmt.Fprintf(stderr, "bench: results written to %s\n", *out)
		}
	}
	if *readme != "" {
		if err := updateReadme(*readme, md, *out); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			res.problems = append(res.problems, err.Error())
		}
	}
	fmt.Fprintf(stdout, "\nbench took %s\n", time.Since(started).Round(time.Second))
	failed = len(res.problems) > 0
	if failed {
		return 1
	}
	return 0
}

// prepare checks what every scenario needs and fills the scratch dir with
// copies of the binaries and the app (the container bind-mounts that dir).
func prepare(cfg *config) error {
	if out, err := exec.Command("/usr/bin/python3", "-c", "import flask").CombinedOutput(); err != nil {
		return fmt.Errorf("python3-flask from Debian is needed: /usr/bin/python3 -c 'import flask': %w: %s", err, out)
	}
	if _, err := exec.LookPath("/usr/bin/gunicorn"); err != nil {
		return fmt.Errorf("gunicorn from Debian is needed: %w", err)
	}
	var err error
	if cfg.dir, err = os.MkdirTemp("", "sdlaunch-bench-"); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	if err := fill(cfg); err != nil {
		os.RemoveAll(cfg.dir)
		return err
	}
	return nil
}

func fill(cfg *config) error {
	cfg.appDir = filepath.Join(cfg.dir, "app")
	if err := os.Mkdir(cfg.appDir, 0o755); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	for name, b := range map[string][]byte{"app.py": appPy, "ready_from_worker.py": readyFromWorker, "gc_freeze.py": gcFreeze} {
		if err := os.WriteFile(filepath.Join(cfg.appDir, name), b, 0o644); err != nil {
			return fmt.Errorf("scratch dir: %w", err)
		}
	}
	bins := []*string{&cfg.sdlaunch, &cfg.goapp}
	if cfg.compare != "" {
		bins = append(bins, &cfg.compare)
	}
	for i, bin := range bins {
		b, err := os.ReadFile(*bin)
		if err != nil {
			return fmt.Errorf("%w (make bench builds it)", err)
		}
		dst := filepath.Join(cfg.dir, fmt.Sprintf("%d-%s", i, filepath.Base(*bin)))
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			return fmt.Errorf("scratch dir: %w", err)
		}
		*bin = dst
	}
	return nil
}

// loadAvg is the system's 1, 5 and 15 minute load averages ("?" if unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func supervisordPreflight() error {
	for _, p := range []string{"/usr/bin/supervisord", "/usr/bin/supervisorctl"} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("supervisor from Debian is needed: %w", err)
		}
	}
	return nil
}

func systemdPreflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("systemd-nspawn needs root")
	}
	for _, p := range []string{"systemd-nspawn", "unshare", "nsenter"} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("systemd-container and util-linux are needed: %w", err)
		}
	}
	return nil
}
