package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// balanceResult is how evenly N workers under sdlaunch shared the requests
// of a CPU-bound handler.
type balanceResult struct {
	name   string
	counts []int // requests per worker process, descending
	err    error
}

func (b *balanceResult) skew() float64 {
	if len(b.counts) == 0 || b.counts[len(b.counts)-1] == 0 {
		return 0
	}
	return float64(b.counts[0]) / float64(b.counts[len(b.counts)-1])
}

// measureBalance loads /cpu of a Go and a Python app, 4 workers each.
func measureBalance(ctx context.Context, cfg *config, res *results) {
	const workers = 4
	d := 8 * time.Second
	if cfg.quick {
		d = 3 * time.Second
	}
	for _, v := range []struct {
		name  string
		argv  []string
		flags []string
	}{
		{"Go (goapp /cpu, 2 ms of CPU)", []string{cfg.goapp}, []string{"--ready", "notify"}},
		{"Python (Flask /cpu under gunicorn, ~2 ms of CPU)", cfg.worker, cfg.runFlags},
	} {
		b := balanceResult{name: v.name}
		b.err = func() error {
			l, err := startLauncher(ctx, cfg, "balance", workers, 0, v.flags, v.argv...)
			if err != nil {
				return err
			}
			defer l.stop(cfg)
			if err := waitServing(ctx, l.url, 60*time.Second); err != nil {
				return err
			}
			r := load.Run(ctx, load.Options{URL: l.url + "cpu", Clients: cfg.clients, Duration: d, Timeout: cfg.timeout, Samples: true, ServerHeader: workerHeader})
			if r.Err != nil || r.Failed > 0 {
				return fmt.Errorf("%v", r)
			}
			per := map[string]int{}
			for _, s := range r.Samples {
				per[s.Server]++
			}
			for _, n := range per {
				b.counts = append(b.counts, n)
			}
			for len(b.counts) < workers {
				b.counts = append(b.counts, 0) // a worker that never answered
			}
			slices.Sort(b.counts)
			slices.Reverse(b.counts)
			return nil
		}()
		if b.err != nil {
			res.fail("balance "+v.name, b.err)
		} else {
			cfg.progress("balance, %s: requests per worker %v, max/min %.2f", v.name, b.counts, b.skew())
		}
		res.balance = append(res.balance, b)
	}
}
