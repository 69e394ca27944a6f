package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The CPU one reload costs, with no load: the new generation's boot and the
// old one's teardown, summed over every process of the setup's tree
// (utime+stime of the live ones, and cutime+cstime: what they reaped). On
// a machine that serves, a reload can take only what serving leaves, so
// this is what an open-loop reload is bound by.

// reloadCost is the CPU per reload of sdlaunch running the Flask recipe
// and of gunicorn's own HUP with as many workers.
type reloadCost struct {
	sdlaunch, hup float64 // CPU seconds per reload
	reloads       int
	err           error
}

// treeCPU sums the CPU of root and its descendants, and counts them.
func treeCPU(root int) (seconds float64, procs int, err error) {
	hz := 100.0 // USER_HZ: what /proc/PID/stat counts in, on every Linux ABI Go supports
	kids := map[int][]int{}
	ticks := map[int]int64{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, fmt.Errorf("reload cost: %w", err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone
		}
		ppid, t, err := statTicks(string(b))
		if err != nil {
			return 0, 0, fmt.Errorf("reload cost: /proc/%d/stat: %w", pid, err)
		}
		kids[ppid] = append(kids[ppid], pid)
		ticks[pid] = t
	}
	if _, ok := ticks[root]; !ok {
		return 0, 0, fmt.Errorf("reload cost: pid %d is gone", root)
	}
	var total int64
	for queue := []int{root}; len(queue) > 0; queue = queue[1:] {
		total += ticks[queue[0]]
		procs++
		queue = append(queue, kids[queue[0]]...)
	}
	return float64(total) / hz, procs, nil
}

// statTicks parses a /proc/PID/stat line: the parent's pid, and
// utime+stime+cutime+cstime.
func statTicks(stat string) (ppid int, ticks int64, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no command in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("%d fields after the command", len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, err
	}
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		ticks += n
	}
	return ppid, ticks, nil
}

// awaitProcs waits until root's tree has n processes (the old generation
// is gone, the new one complete).
func awaitProcs(ctx context.Context, root, n int) error {
	deadline := time.Now().Add(2 * time.Minute)
	return pollEvery(ctx, 20*time.Millisecond, func() (bool, error) {
		_, got, err := treeCPU(root)
		switch {
		case err != nil || got == n:
			return true, err
		case time.Now().After(deadline):
			return true, fmt.Errorf("reload cost: %d processes after 2 minutes, want %d", got, n)
		}
		return false, nil
	})
}

// pollEvery calls f every d until it is done (or fails) or ctx ends.
func pollEvery(ctx context.Context, d time.Duration, f func() (bool, error)) error {
	for {
		if done, err := f(); done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// awaitIdle waits until root's tree spends no CPU for 200 ms: the new
// workers have booted, the old ones have torn down. It returns the tree's
// CPU then.
func awaitIdle(ctx context.Context, root int) (float64, error) {
	deadline := time.Now().Add(time.Minute)
	last, _, err := treeCPU(root)
	for err == nil {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		var now float64
		if now, _, err = treeCPU(root); err == nil && now == last {
			return now, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("reload cost: pid %d's tree still busy after a minute", root)
		}
		last = now
	}
	return 0, err
}

// perReload runs reload k times on root's tree, each until the tree is
// back to its size and idle, and returns the CPU per reload.
func perReload(ctx context.Context, root, k int, reload func(context.Context) error) (float64, error) {
	_, n, err := treeCPU(root)
	if err != nil {
		return 0, err
	}
	c0, err := awaitIdle(ctx, root)
	if err != nil {
		return 0, err
	}
	for range k {
		if err := reload(ctx); err != nil {
			return 0, err
		}
		if err := awaitProcs(ctx, root, n); err != nil {
			return 0, err
		}
	}
	c1, err := awaitIdle(ctx, root)
	if err != nil {
		return 0, err
	}
	return (c1 - c0) / float64(k), nil
}

// hupReload is gunicorn's own reload: SIGHUP to the arbiter, done once
// none of its workers of before is left and as many new ones run
// (waitRolled), within 2 minutes.
func hupReload(ctx context.Context, p *proc, workers int) error {
	before := children(p.pid())
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return waitRolled(ctx, p.pid(), before, workers)
}

func measureReloadCost(ctx context.Context, cfg *config, res *results) {
	rc := reloadCost{reloads: cfg.k}
	rc.err = func() error {
		l, err := startLauncher(ctx, cfg, "reloadcost", cfg.workers, 0, cfg.runFlags, cfg.worker...)
		if err != nil {
			return err
		}
		defer l.stop(cfg)
		if err := waitServing(ctx, l.url, 60*time.Second); err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		if rc.sdlaunch, err = perReload(rctx, l.p.pid(), cfg.k, l.reload); err != nil {
			return fmt.Errorf("sdlaunch: %w", err)
		}
		return nil
	}()
	if rc.err == nil {
		rc.err = func() error {
			port, err := freePort()
			if err != nil {
				return err
			}
			dir := filepath.Join(cfg.dir, "reloadcost-hup")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("reload cost: %w", err)
			}
			p, err := startProc("gunicorn", cfg.appDir, filepath.Join(dir, "gunicorn.log"), os.Environ(), false,
				"/usr/bin/gunicorn", "-w", strconv.Itoa(cfg.workers), "-b", fmt.Sprintf("127.0.0.1:%d", port), "app:app")
			if err != nil {
				return err
			}
			defer func() { _ = p.stop(syscall.SIGTERM, 40*time.Second) }()
			if err := waitServing(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port), 60*time.Second); err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			if err := awaitProcs(rctx, p.pid(), cfg.workers+1); err != nil {
				return err
			}
			hup := func(ctx context.Context) error { return hupReload(ctx, p, cfg.workers) }
			if rc.hup, err = perReload(rctx, p.pid(), cfg.k, hup); err != nil {
				return fmt.Errorf("gunicorn HUP: %w", err)
			}
			return nil
		}()
	}
	if rc.err != nil {
		res.fail("reload cost", rc.err)
	} else {
		cfg.progress("reload cost, no load: sdlaunch %.2f CPU s per reload, gunicorn's HUP %.2f (ratio %.2f)", rc.sdlaunch, rc.hup, rc.sdlaunch/rc.hup)
	}
	res.reloadCost = &rc
}
