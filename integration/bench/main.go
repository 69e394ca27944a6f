// Command bench measures what a restart or a reload costs the clients of a
// Flask app, under supervisord (the baseline) and under sdlaunch, with and
// without systemd, and the launcher's own footprint. It prints a table and
// ratios and exits 1 if a scenario could not be run, 2 on bad flags.
//
//	go build -o bin/sdlaunch ./cmd/sdlaunch && go run ./integration/bench -sdlaunch bin/sdlaunch
//
// It needs root (systemd-nspawn) and Debian's gunicorn, python3-flask,
// supervisor and systemd-container; all traffic stays on 127.0.0.1.
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

var allScenarios = []string{"supervisord", "systemd", "standalone", "footprint"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	fs.StringVar(&cfg.sdlaunch, "sdlaunch", "bin/sdlaunch", "the sdlaunch binary to measure")
	fs.IntVar(&cfg.k, "k", 5, "restarts or reloads per scenario")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "load per scenario (the K operations are spread over it)")
	fs.IntVar(&cfg.clients, "clients", 8, "closed-loop clients, one new connection per request")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.DurationVar(&cfg.idle, "idle", 60*time.Second, "period over which the idle launcher's CPU time is measured")
	fs.DurationVar(&cfg.opTimeout, "op-timeout", 90*time.Second, "limit for one restart or reload")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated subset of "+strings.Join(allScenarios, ","))
	runFlags := fs.String("run-flags", "--ready notify", "flags for every sdlaunch run, space-separated (the README's gunicorn recipe: --ready notify, with gunicorn --preload)")
	keep := fs.Bool("keep", false, "keep the scratch directory (configs, logs, journal) even on success")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	want := map[string]bool{}
	for s := range strings.SplitSeq(*scenarios, ",") {
		if !slices.Contains(allScenarios, s) {
			fmt.Fprintf(stderr, "bench: -scenarios: unknown scenario %q (want %s)\n", s, strings.Join(allScenarios, ","))
			return 2
		}
		want[s] = true
	}
	if fs.NArg() > 0 || cfg.k < 1 || cfg.clients < 1 || cfg.duration <= 0 || cfg.timeout <= 0 || cfg.idle <= 0 || cfg.opTimeout <= 0 {
		fmt.Fprintln(stderr, "bench: -k and -clients must be at least 1, durations positive, and no arguments given")
		return 2
	}
	cfg.runFlags = strings.Fields(*runFlags)
	for _, f := range cfg.runFlags {
		if strings.ContainsAny(f, "'\"\\$%;") {
			fmt.Fprintf(stderr, "bench: -run-flags: %q: no quotes, '$', '%%', ';' or '\\' (the flags go into a unit file)\n", f)
			return 2
		}
	}
	cfg.logf = func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "bench: "+format+"\n", a...)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	cfg.loadStart = loadAvg()
	failed := false
	if err := prepare(cfg); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	defer func() {
		if *keep || failed {
			fmt.Fprintf(stderr, "bench: scratch directory kept: %s\n", cfg.dir)
			return
		}
		os.RemoveAll(cfg.dir)
	}()

	var ms []measurement
	if want["supervisord"] {
		ms = append(ms, check(supervisordPreflight, "supervisord restart", func() []measurement {
			return []measurement{supervisordRestart(ctx, cfg)}
		})...)
	}
	if want["systemd"] {
		ms = append(ms, check(systemdPreflight, "systemd restart", func() []measurement {
			return systemdScenarios(ctx, cfg)
		})...)
	}
	if want["standalone"] {
		ms = append(ms, standaloneReload(ctx, cfg))
	}
	var fp *footprint
	if want["footprint"] {
		f := measureFootprint(ctx, cfg)
		fp = &f
	}

	cfg.loadEnd = loadAvg()
	failed = report(stdout, cfg, ms, fp)
	fmt.Fprintf(stdout, "\nbench took %s\n", time.Since(start).Round(time.Second))
	if failed {
		return 1
	}
	return 0
}

// prepare checks what every scenario needs and fills the scratch dir with
// a copy of the binary and the app (the container bind-mounts that dir).
func prepare(cfg *config) error {
	bin, err := filepath.Abs(cfg.sdlaunch)
	if err != nil {
		return fmt.Errorf("-sdlaunch: %w", err)
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("-sdlaunch %s: %w (build it: go build -o bin/sdlaunch ./cmd/sdlaunch)", cfg.sdlaunch, err)
	}
	if out, err := exec.Command("/usr/bin/python3", "-c", "import flask").CombinedOutput(); err != nil {
		return fmt.Errorf("python3-flask from Debian is needed: /usr/bin/python3 -c 'import flask': %w: %s", err, out)
	}
	if _, err := exec.LookPath("/usr/bin/gunicorn"); err != nil {
		return fmt.Errorf("gunicorn from Debian is needed: %w", err)
	}
	if cfg.dir, err = os.MkdirTemp("", "sdlaunch-bench-"); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	cfg.appDir = filepath.Join(cfg.dir, "app")
	if err := os.Mkdir(cfg.appDir, 0o755); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.appDir, "app.py"), appPy, 0o644); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("-sdlaunch: %w", err)
	}
	cfg.sdlaunch = filepath.Join(cfg.dir, "sdlaunch")
	if err := os.WriteFile(cfg.sdlaunch, b, 0o755); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
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

// check runs the scenarios of f unless preflight fails, which fails them.
func check(preflight func() error, name string, f func() []measurement) []measurement {
	if err := preflight(); err != nil {
		return []measurement{{name: name, err: err}}
	}
	return f()
}
