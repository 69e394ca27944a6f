package main

import (
	"context"
	"fmt"
	"time"
)

// scalePoint is the launcher's cost with n workers of the Go app.
type scalePoint struct {
	workers   int
	rssKiB    int           // launcher only, once ready
	rssReload int           // after a reload
	ready     time.Duration // start to READY=1
	reload    time.Duration // SIGHUP to READY=1
	err       error
}

// measureScale starts the Go app with 1, 4, 16 and 64 workers (cheap
// workers, so that the launcher's own cost shows) and reloads it once.
func measureScale(ctx context.Context, cfg *config, res *results) {
	for _, n := range []int{1, 4, 16, 64} {
		p := scalePoint{workers: n}
		p.err = func() error {
			l, err := startLauncher(ctx, cfg, "scale", n, 0, []string{"--ready", "notify"}, cfg.goapp)
			if err != nil {
				return err
			}
			defer l.stop(cfg)
			p.ready = l.ready
			if p.rssKiB, err = rssKiB(l.p.pid()); err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, 120*time.Second)
			defer cancel()
			t0 := time.Now()
			if err := l.reload(rctx); err != nil {
				return fmt.Errorf("reload: %w", err)
			}
			p.reload = time.Since(t0)
			p.rssReload, err = rssKiB(l.p.pid())
			return err
		}()
		if p.err != nil {
			res.fail(fmt.Sprintf("scale %d workers", n), p.err)
		} else {
			cfg.progress("scale, %d workers: start to READY %s, reload %s, launcher RSS %.1f MiB (%.1f after the reload)", n, dur(p.ready), dur(p.reload), float64(p.rssKiB)/1024, float64(p.rssReload)/1024)
		}
		res.scale = append(res.scale, p)
	}
}
