package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// pathResult compares the same N workers with and without sdlaunch: the
// launcher must not be on the request path.
type pathResult struct {
	name      string
	keepAlive bool
	bare, sdl []float64 // req/s of each round
	err       error
}

// reqpathRounds is how many pairs of rounds the request path runs, and
// how long each round is.
func reqpathRounds(cfg *config) (int, time.Duration) {
	if cfg.quick {
		return 4, 500 * time.Millisecond
	}
	return 10, 1500 * time.Millisecond
}

func (p *pathResult) ratio() float64 { return pairedRatio(p.bare, p.sdl) }

// pairedRatio is the median over rounds of sdl[i]/bare[i], each pair run
// back to back: on this machine a round's rate moves by ±15 % from one
// round to the next of the same side (keep-alive, 22,600-29,800 req/s in
// one run), which a ratio of the two sides' medians carries whole, while
// the two halves of a pair share most of it.
func pairedRatio(bare, sdl []float64) float64 {
	var r []float64
	for i := range min(len(bare), len(sdl)) {
		if bare[i] > 0 {
			r = append(r, sdl[i]/bare[i])
		}
	}
	return medianF(r)
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// measureRequestPath runs, for each app and connection mode, closed-loop
// rounds alternating between the bare workers and the same workers under
// `sdlaunch run` (both stay started; only one is loaded at a time).
func measureRequestPath(ctx context.Context, cfg *config, res *results) {
	rounds, each := reqpathRounds(cfg)
	goWorker := []string{cfg.goapp}
	variants := []struct {
		name      string
		argv      []string
		flags     []string
		keepAlive bool
	}{
		{"Flask/gunicorn, new connection per request", cfg.worker, cfg.runFlags, false},
		{"Go, new connection per request", goWorker, []string{"--ready", "notify"}, false},
		{"Go, keep-alive", goWorker, []string{"--ready", "notify"}, true},
	}
	for _, v := range variants {
		p := pathResult{name: v.name, keepAlive: v.keepAlive}
		p.err = func() error {
			b, err := startBare(cfg, "reqpath-bare", cfg.workers, v.argv...)
			if err != nil {
				return err
			}
			defer b.stop(cfg)
			l, err := startLauncher(ctx, cfg, "reqpath-sdlaunch", cfg.workers, 0, v.flags, v.argv...)
			if err != nil {
				return err
			}
			defer l.stop(cfg)
			for _, u := range []string{b.url(), l.url} {
				if err := waitServing(ctx, u, 60*time.Second); err != nil {
					return err
				}
			}
			type side struct {
				url string
				out *[]float64
			}
			for i := range rounds {
				// The order alternates from round to round: a round
				// leaves its connections in TIME_WAIT, its heat and its
				// caches to the one after it, which is not always
				// sdlaunch's.
				sides := []side{{b.url(), &p.bare}, {l.url, &p.sdl}}
				if i%2 == 1 {
					slices.Reverse(sides)
				}
				for _, side := range sides {
					r := load.Run(ctx, load.Options{URL: side.url, Clients: cfg.clients, Duration: each, KeepAlive: v.keepAlive, Timeout: cfg.timeout})
					if r.Err != nil || r.Failed > 0 {
						return fmt.Errorf("%s: %v", side.url, r)
					}
					*side.out = append(*side.out, float64(r.OK)/r.Elapsed.Seconds())
				}
			}
			return nil
		}()
		if p.err != nil {
			res.fail("request path "+v.name, p.err)
		} else {
			cfg.progress("request path, %s: %.0f req/s bare, %.0f under sdlaunch: %.3f", v.name, medianF(p.bare), medianF(p.sdl), p.ratio())
		}
		res.reqpath = append(res.reqpath, p)
	}
}
