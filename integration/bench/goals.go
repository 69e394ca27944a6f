package main

import (
	"fmt"
	"strings"
	"time"
)

// writeExtras renders the measurements other than the scenario table.
func writeExtras(b *strings.Builder, cfg *config, res *results) {
	if len(res.boot) > 0 {
		fmt.Fprintf(b, "\n**App boot** (`%s` alone, exec to the first answer): median %s of %s.\n", joinArgs(cfg.worker), dur(median(res.boot)), durs(res.boot))
	}
	if len(res.reqpath) > 0 {
		n, each := reqpathRounds(cfg)
		fmt.Fprintf(b, "\n**Request path** (the same workers with no supervisor vs under `sdlaunch run`, closed loop, %d back-to-back pairs of %s rounds, their order alternating; the rates are medians, the ratio the median of the pairs' ratios):\n\n| app, connections | no supervisor | sdlaunch | ratio |\n|---|--:|--:|--:|\n", n, dur(each))
		for _, p := range res.reqpath {
			if p.err != nil {
				fmt.Fprintf(b, "| %s | not run: %v | | |\n", p.name, p.err)
				continue
			}
			fmt.Fprintf(b, "| %s | %.0f req/s | %.0f req/s | %.3f |\n", p.name, medianF(p.bare), medianF(p.sdl), p.ratio())
		}
	}
	if l := res.logs; l != nil {
		b.WriteString("\n**Log forwarding** (a worker writing 100-byte lines as fast as its pipe takes them; CPU of the launcher process):\n\n| sink | lines arrived | lines/s | launcher CPU per 100k lines |\n|---|--:|--:|--:|\n")
		for _, x := range []struct {
			name string
			b    *burst
		}{{"terminal (pty)", l.terminal}, {"journald, LogRateLimitIntervalSec=1s LogRateLimitBurst=1000000", l.journal}, {"journald, default rate limit", l.journalLimited}} {
			if x.b == nil {
				continue
			}
			if x.b.err != nil {
				fmt.Fprintf(b, "| %s | not run: %v | | |\n", x.name, x.b.err)
				continue
			}
			fmt.Fprintf(b, "| %s | %s of %s | %.0f | %s |\n", x.name, thousands(x.b.received), thousands(x.b.lines), x.b.rate(), dur(x.b.cpuPer100k()))
		}
		if w := l.werkzeug; w != nil && w.err == nil {
			fmt.Fprintf(b, "\nWerkzeug's dev server (one access-log line per request), closed loop, %d back-to-back pairs of rounds as for the request path: %.0f req/s as a plain systemd unit (stderr to journald), %.0f under sdlaunch+systemd (ratio %.3f, the median of the pairs'); its threads were blocked writing their log in %d of %d samples (every 2 ms); journald kept %s of the %s access lines; %s.\n",
				len(w.bare), medianF(w.bare), medianF(w.sdl), w.ratio(), w.blocked, w.samples, thousands(w.journaled), thousands(w.requests), w.cpuText())
		}
	}
	if len(res.scale) > 0 {
		b.WriteString("\n**Scale** (the Go worker, `--ready notify`; launcher process only):\n\n| workers | start to READY | reload | launcher RSS | RSS after reload |\n|--:|--:|--:|--:|--:|\n")
		for _, p := range res.scale {
			if p.err != nil {
				fmt.Fprintf(b, "| %d | not run: %v | | | |\n", p.workers, p.err)
				continue
			}
			fmt.Fprintf(b, "| %d | %s | %s | %.1f MiB | %.1f MiB |\n", p.workers, dur(p.ready), dur(p.reload), float64(p.rssKiB)/1024, float64(p.rssReload)/1024)
		}
	}
	if len(res.balance) > 0 {
		b.WriteString("\n**Accept balance** (4 workers under sdlaunch, CPU-bound handler, closed loop, new connection per request):\n\n| app | requests per worker | max/min |\n|---|---|--:|\n")
		for _, x := range res.balance {
			if x.err != nil {
				fmt.Fprintf(b, "| %s | not run: %v | |\n", x.name, x.err)
				continue
			}
			fmt.Fprintf(b, "| %s | %v | %.2f |\n", x.name, x.counts, x.skew())
		}
	}
}

func findM(res *results, setup, op, loop string) *measurement {
	for i := range res.ms {
		m := &res.ms[i]
		if m.setup == setup && m.op == op && m.loop == loop && m.err == nil && m.load.Total > 0 {
			return m
		}
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// writeGoals reports each goal of issue 10 as met or not, with its ratio.
func writeGoals(b *strings.Builder, cfg *config, res *results) {
	b.WriteString("\n### Goals\n\n")
	const slack = 50 * time.Millisecond
	for _, loop := range cfg.loops {
		base := findM(res, "baseline (no supervisor)", "", loop)
		for _, setup := range []string{"sdlaunch+systemd", "sdlaunch standalone"} {
			m := findM(res, setup, "reload", loop)
			if m == nil || base == nil {
				continue
			}
			limit := base.load.MaxLatency + slack
			hup := findM(res, "supervisord+gunicorn", "HUP", loop)
			unitHUP := findM(res, "gunicorn unit", "reload", loop)
			peer := time.Duration(0)
			for _, p := range []*measurement{hup, unitHUP} {
				if p != nil && (peer == 0 || p.load.MaxLatency < peer) {
					peer = p.load.MaxLatency
				}
			}
			ok := m.load.MaxLatency <= limit && m.load.Failed == 0 && (peer == 0 || m.load.MaxLatency < peer)
			floor := ""
			if f := findM(res, "baseline (no supervisor)", bootBesideOp, loop); f != nil {
				floor = fmt.Sprintf("; the machine's floor, a generation booted and stopped beside the baseline with no handover, worst %s (ratio %.2f)", dur(f.load.MaxLatency), ratioOf(m.load.MaxLatency, f.load.MaxLatency))
			}
			fmt.Fprintf(b, "- Reload, %s, %s loop: worst %s vs steady-state worst %s + 50 ms = %s (ratio %.2f); gunicorn's own HUP worst %s (ratio %.2f)%s; %d failed: %s\n",
				setup, loop, dur(m.load.MaxLatency), dur(base.load.MaxLatency), dur(limit), float64(m.load.MaxLatency)/float64(limit), dur(peer), ratioOf(m.load.MaxLatency, peer), floor, m.load.Failed, verdict(ok))
		}
	}
	boot := median(res.boot)
	for _, loop := range cfg.loops {
		m := findM(res, "sdlaunch+systemd", "restart", loop)
		if m == nil || boot == 0 {
			continue
		}
		limit := boot + slack
		fmt.Fprintf(b, "- Restart stall, sdlaunch+systemd, %s loop: %s vs the app's boot %s + 50 ms = %s (ratio %.2f); %d failed: %s\n",
			loop, dur(m.stall), dur(boot), dur(limit), float64(m.stall)/float64(limit), m.load.Failed, verdict(m.stall <= limit && m.load.Failed == 0))
	}
	if l := res.long; l != nil {
		fmt.Fprintf(b, "- Restart, long mode (%s loop): %d failed of %s over %d `systemctl restart`s (worst stall %s): %s\n", l.loop, l.load.Failed, thousands(l.load.Total), len(l.ops), dur(l.stall), verdict(l.load.Failed == 0 && len(l.ops) >= 200))
	} else {
		b.WriteString("- Restart, long mode (0 failed over ≥ 200 `systemctl restart`s): not part of this run (`make bench BENCHFLAGS=\"-long 200 -scenarios systemd\"`)\n")
	}
	for _, p := range res.reqpath {
		if p.err == nil {
			fmt.Fprintf(b, "- Request path, %s: sdlaunch/bare %.3f (goal ≥ 0.98): %s\n", p.name, p.ratio(), verdict(p.ratio() >= 0.98))
		}
	}
	if l := res.logs; l != nil {
		peak := res.capacity
		for _, x := range []struct {
			name string
			b    *burst
		}{{"terminal", l.terminal}, {"journald", l.journal}} {
			if x.b != nil && x.b.err == nil && peak > 0 {
				fmt.Fprintf(b, "- Log forwarding to the %s: %.0f lines/s, %.1fx the bench's peak request rate (%.0f req/s, one line each); launcher CPU %s per 100k lines: %s\n",
					x.name, x.b.rate(), x.b.rate()/peak, peak, dur(x.b.cpuPer100k()), verdict(x.b.rate() >= 5*peak))
			}
		}
		if w := l.werkzeug; w != nil && w.err == nil {
			fmt.Fprintf(b, "- A worker logging every request is never slowed: blocked on its log pipe in %d of %d samples, throughput ratio %.3f: %s\n", w.blocked, w.samples, w.ratio(), verdict(w.blocked == 0 && w.ratio() >= 0.98))
			if w.journaled < w.requests {
				fmt.Fprintf(b, "- journald dropped %s of %s access lines at %.0f req/s (its default RateLimitBurst): the generated units should set `LogRateLimitIntervalSec=` (or raise the burst)\n", thousands(w.requests-w.journaled), thousands(w.requests), medianF(w.sdl))
			}
		}
	}
	if n := len(res.scale); n > 0 {
		last := res.scale[n-1]
		if last.err == nil {
			fmt.Fprintf(b, "- Scale: launcher RSS %.1f MiB at %d workers (goal < 30 MiB): %s; per worker: %s\n", float64(last.rssKiB)/1024, last.workers, verdict(last.rssKiB < 30*1024), scaleSlopes(res.scale))
		}
	}
	for _, x := range res.balance {
		if x.err == nil {
			fmt.Fprintf(b, "- Accept balance, %s: max/min %.2f (reported; no goal)\n", x.name, x.skew())
		}
	}
	if rc := res.reloadCost; rc != nil && rc.err == nil && rc.hup > 0 {
		fmt.Fprintf(b, "- Reload CPU, no load (the new generation's boot and the old one's teardown, every process): sdlaunch %.2f CPU s per reload, gunicorn's own HUP %.2f, ratio %.2f (reported; what an open-loop reload on a busy machine is bound by)\n", rc.sdlaunch, rc.hup, rc.sdlaunch/rc.hup)
	}
}

func ratioOf(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// scaleSlopes shows how the cost grows from one point to the next, per
// added worker.
func scaleSlopes(ps []scalePoint) string {
	var parts []string
	for i := 1; i < len(ps); i++ {
		a, c := ps[i-1], ps[i]
		if a.err != nil || c.err != nil {
			continue
		}
		dw := float64(c.workers - a.workers)
		parts = append(parts, fmt.Sprintf("%d→%d: %+.0f KiB, %+.1f ms to READY, %+.1f ms reload", a.workers, c.workers,
			float64(c.rssKiB-a.rssKiB)/dw, float64(c.ready-a.ready)/dw/1e6, float64(c.reload-a.reload)/dw/1e6))
	}
	return strings.Join(parts, "; ")
}

// extrasJSON is measurements.json: everything but the scenario records.
func extrasJSON(cfg *config, res *results) any {
	out := map[string]any{
		"capacity_rps": res.capacity, "open_loop_rate": cfg.rate, "workers": cfg.workers, "clients": cfg.clients,
		"ops_per_scenario": cfg.k, "duration_s": cfg.duration.Seconds(), "load_start": res.loadStart, "load_end": res.loadEnd, "autogroup_off": cfg.autogroup.off(),
		"took_s": res.took.Seconds(), "problems": res.problems,
	}
	var boot []float64
	for _, d := range res.boot {
		boot = append(boot, ms(d))
	}
	out["boot_ms"] = boot
	var rp []map[string]any
	for _, p := range res.reqpath {
		rp = append(rp, map[string]any{"name": p.name, "keep_alive": p.keepAlive, "bare_rps": p.bare, "sdlaunch_rps": p.sdl, "ratio": p.ratio(), "error": errText(p.err)})
	}
	out["request_path"] = rp
	if l := res.logs; l != nil {
		lj := map[string]any{}
		for name, x := range map[string]*burst{"terminal": l.terminal, "journald": l.journal, "journald_default_limit": l.journalLimited} {
			if x != nil {
				lj[name] = map[string]any{"lines": x.lines, "received": x.received, "lines_per_s": x.rate(), "cpu_ms_per_100k": ms(x.cpuPer100k()), "error": errText(x.err)}
			}
		}
		if w := l.werkzeug; w != nil {
			lj["werkzeug"] = map[string]any{"bare_rps": w.bare, "sdlaunch_rps": w.sdl, "ratio": w.ratio(), "requests": w.requests, "journaled": w.journaled, "samples": w.samples, "blocked": w.blocked,
				"cpu_us_per_request": map[string]any{"plain": w.plainCPU.json(w.plainReqs), "sdlaunch": w.sdlCPU.json(w.requests)}, "error": errText(w.err)}
		}
		out["logs"] = lj
	}
	var sc []map[string]any
	for _, p := range res.scale {
		sc = append(sc, map[string]any{"workers": p.workers, "rss_kib": p.rssKiB, "rss_after_reload_kib": p.rssReload, "ready_ms": ms(p.ready), "reload_ms": ms(p.reload), "error": errText(p.err)})
	}
	out["scale"] = sc
	var bl []map[string]any
	for _, x := range res.balance {
		bl = append(bl, map[string]any{"app": x.name, "per_worker": x.counts, "max_over_min": x.skew(), "error": errText(x.err)})
	}
	out["balance"] = bl
	if rc := res.reloadCost; rc != nil {
		out["reload_cost"] = map[string]any{"reloads": rc.reloads, "sdlaunch_cpu_s": rc.sdlaunch, "gunicorn_hup_cpu_s": rc.hup, "error": errText(rc.err)}
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
