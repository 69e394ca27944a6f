package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// config is the bench's flags.
type config struct {
	sdlaunch  string        // the sdlaunch binary
	k         int           // operations (restarts, reloads) per scenario
	duration  time.Duration // load per scenario
	clients   int           // closed-loop clients
	timeout   time.Duration // per request
	idle      time.Duration // idle CPU measurement
	opTimeout time.Duration // one restart or reload
	runFlags  []string      // extra flags for every `sdlaunch run`
	loadStart string        // /proc/loadavg when the bench started
	loadEnd   string        // and when it ended
	dir       string        // scratch dir: binary, app, configs, logs
	appDir    string        // the app, in dir
	logf      func(format string, a ...any)
}

// tail is how long the load keeps running after the last operation, so
// that failures right after it are seen.
const tail = 2 * time.Second

// measurement is one scenario's outcome.
type measurement struct {
	name string
	ops  []time.Duration // how long each restart or reload took
	load load.Result
	err  error // the scenario could not be run (completely)
}

// underLoad runs the load for cfg.duration (at least until tail after the
// last op) against url, while op runs cfg.k times, evenly spread.
func underLoad(ctx context.Context, cfg *config, name, url string, op func(context.Context) error) measurement {
	m := measurement{name: name}
	if err := waitServing(ctx, url, 60*time.Second); err != nil {
		m.err = err
		return m
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	results := make(chan load.Result, 1)
	go func() {
		results <- load.Run(loadCtx, load.Options{URL: url, Clients: cfg.clients, Timeout: cfg.timeout})
	}()
	start := time.Now()
	interval := cfg.duration / time.Duration(cfg.k)
	for i := range cfg.k {
		if sleepUntil(ctx, start.Add(interval*time.Duration(i)+interval/2)) != nil {
			m.err = fmt.Errorf("interrupted: %w", ctx.Err())
			break
		}
		opCtx, cancel := context.WithTimeout(ctx, cfg.opTimeout)
		t0 := time.Now()
		err := op(opCtx)
		took := time.Since(t0)
		cancel()
		if ctx.Err() != nil {
			m.err = fmt.Errorf("interrupted during operation %d of %d: %w", i+1, cfg.k, ctx.Err())
			break
		}
		if err != nil {
			m.err = fmt.Errorf("operation %d of %d: %w", i+1, cfg.k, err)
			break
		}
		m.ops = append(m.ops, took)
		cfg.logf("%s: operation %d/%d took %s", name, i+1, cfg.k, took.Round(time.Millisecond))
	}
	_ = sleepUntil(ctx, later(start.Add(cfg.duration), time.Now().Add(tail)))
	stopLoad()
	m.load = <-results
	if m.err == nil && m.load.Err != nil {
		m.err = m.load.Err
	}
	cfg.logf("%s: %v", name, m.load)
	return m
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
		if sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) != nil {
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
