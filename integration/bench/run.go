package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// results is everything one run measured.
type results struct {
	boot       []time.Duration // the app's own boot, alone
	capacity   float64         // closed-loop req/s of the baseline
	ms         []measurement
	timelines  []timeline
	long       *measurement
	reqpath    []pathResult
	logs       *logResult
	scale      []scalePoint
	reloadCost *reloadCost
	balance    []balanceResult
	problems   []string
	took       time.Duration
	loadStart  string
	loadEnd    string
}

// timeline is the reload timeline of one scenario's worst operation.
type timeline struct {
	scenario string
	op       int
	events   []event
}

func (r *results) fail(what string, err error) {
	r.problems = append(r.problems, fmt.Sprintf("%s: %v", what, err))
}

// measureAll runs the wanted parts in order.
func measureAll(ctx context.Context, cfg *config, want map[string]bool) *results {
	res := &results{}
	if want["boot"] {
		runs := 5
		if cfg.quick {
			runs = 3
		}
		cfg.progress("boot: starting %s alone %d times", joinArgs(cfg.worker), runs)
		b, err := bootTime(ctx, cfg, runs)
		if err != nil {
			res.fail("boot", err)
		}
		res.boot = b
		if len(b) > 0 {
			cfg.progress("boot: exec to first answer %s (median of %v)", dur(median(b)), durs(b))
		}
	}
	needRate := cfg.rate == 0 && contains(cfg.loops, "open") && (want["baseline"] || want["supervisord"] || want["systemd"] || want["standalone"])
	if want["baseline"] || needRate {
		baseline(ctx, cfg, res, want["baseline"])
	}
	if res.capacity > 0 && cfg.rate == 0 {
		cfg.rate = float64(int(res.capacity / 2))
	}
	if want["supervisord"] {
		if err := supervisordPreflight(); err != nil {
			res.fail("supervisord", err)
		} else if s, err := startSupervisord(ctx, cfg); err != nil {
			res.fail("supervisord", err)
		} else {
			measureSetup(ctx, cfg, res, s, "")
			s.stop()
		}
	}
	if want["systemd"] || want["worker-ready"] || want["logs"] || cfg.compare != "" {
		if err := systemdPreflight(); err != nil {
			res.fail("systemd", err)
		} else {
			systemdPart(ctx, cfg, res, want)
		}
	}
	if want["standalone"] {
		if s, err := startStandalone(ctx, cfg); err != nil {
			res.fail("sdlaunch standalone", err)
		} else {
			measureSetup(ctx, cfg, res, s, "")
			s.stop()
		}
	}
	if want["reqpath"] {
		measureRequestPath(ctx, cfg, res)
	}
	if want["logs"] {
		if res.logs == nil {
			res.logs = &logResult{}
		}
		measureLogsTerminal(ctx, cfg, res)
	}
	if want["scale"] {
		measureScale(ctx, cfg, res)
	}
	if want["reloadcost"] {
		measureReloadCost(ctx, cfg, res)
	}
	if want["balance"] {
		measureBalance(ctx, cfg, res)
	}
	return res
}

// baseline runs the physical baseline: the same workers on one socket, no
// supervisor. It measures the capacity the open loop's rate comes from,
// then (if wanted) the steady state in every loop.
func baseline(ctx context.Context, cfg *config, res *results, steady bool) {
	const name = "baseline (no supervisor)"
	b, err := startBare(cfg, "baseline", cfg.workers, cfg.worker...)
	if err != nil {
		res.fail(name, err)
		return
	}
	defer b.stop(cfg)
	if err := waitServing(ctx, b.url(), 60*time.Second); err != nil {
		res.fail(name, err)
		return
	}
	capDur := 5 * time.Second
	if cfg.quick {
		capDur = 3 * time.Second
	}
	r := load.Run(ctx, load.Options{URL: b.url(), Clients: cfg.clients, Duration: capDur, Timeout: cfg.timeout})
	if r.Err != nil || r.Failed > 0 || r.Elapsed == 0 {
		res.fail(name+" capacity", fmt.Errorf("%v", r))
		return
	}
	res.capacity = float64(r.OK) / r.Elapsed.Seconds()
	rate := cfg.rate
	if rate == 0 {
		rate = float64(int(res.capacity / 2))
	}
	cfg.progress("capacity: %.0f req/s closed-loop (%d clients) on the baseline; open loop at %.0f req/s", res.capacity, cfg.clients, rate)
	if !steady {
		return
	}
	saved := cfg.rate
	cfg.rate = rate
	defer func() { cfg.rate = saved }()
	for _, loop := range cfg.loops {
		m := underLoad(ctx, cfg, measurement{setup: name, loop: loop}, b.url(), nil)
		res.ms = append(res.ms, m)
		if m.err != nil {
			res.fail(m.scenario(), m.err)
		}
	}
	// The floor a reload cannot go below on this machine: a generation's
	// boot and stop, with no handover (bootBeside). -quick measures it in
	// the open loop only: a boot at nice 10 under the saturating closed
	// loop takes about 9 s of a quick run.
	floorLoops := cfg.loops
	if cfg.quick && contains(cfg.loops, "open") {
		floorLoops = []string{"open"}
	}
	for _, loop := range floorLoops {
		m := underLoad(ctx, cfg, measurement{setup: name, op: bootBesideOp, loop: loop}, b.url(), bootBeside(cfg, reloadNice(cfg.runFlags)))
		res.ms = append(res.ms, m)
		if m.err != nil {
			res.fail(m.scenario(), m.err)
		}
	}
}

// bootBesideOp names bootBeside's scenarios.
const bootBesideOp = "boot beside"

// measureSetup runs every operation of s in every loop. With unit set, it
// also draws the reload timeline from the journal.
func measureSetup(ctx context.Context, cfg *config, res *results, s *setup, unit string) {
	for _, op := range s.ops {
		for _, loop := range cfg.loops {
			m := underLoad(ctx, cfg, measurement{setup: s.name, op: op.name, loop: loop}, s.url, op.fn)
			if m.err != nil {
				res.fail(m.scenario(), m.err)
			}
			if unit != "" && s.journal != nil && op.name == "reload" && len(m.ops) > 0 {
				jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				from := m.load.Start.Add(-time.Second)
				raw, err := s.journal(jctx, from, from.Add(m.load.Elapsed+2*time.Second))
				cancel()
				if err != nil {
					res.fail(m.scenario()+" timeline", err)
				} else {
					i, ev := reloadTimeline(&m, raw, unit)
					res.timelines = append(res.timelines, timeline{scenario: m.scenario(), op: i, events: ev})
				}
			}
			m.samples = nil
			res.ms = append(res.ms, m)
		}
	}
}

// systemdPart boots the container once for the hand-written gunicorn unit,
// sdlaunch under systemd, the long restart run and the journald half of the
// log forwarding.
func systemdPart(ctx context.Context, cfg *config, res *results, want map[string]bool) {
	c, ports, err := bootSystemd(ctx, cfg)
	if err != nil {
		res.fail("systemd", err)
		return
	}
	defer func() {
		saveJournal(cfg, c)
		cfg.logf("systemd: powering off %s", c.name)
		c.powerOff()
	}()
	if want["systemd"] {
		if s, err := unitSetup(ctx, cfg, c, "gunicorn unit", gunicornUnit, ports[gunicornUnit], true); err != nil {
			res.fail("gunicorn unit", err)
		} else {
			measureSetup(ctx, cfg, res, s, gunicornUnit)
			s.stop()
		}
		if s, err := unitSetup(ctx, cfg, c, "sdlaunch+systemd", sdlaunchUnit, ports[sdlaunchUnit], false); err != nil {
			res.fail("sdlaunch+systemd", err)
		} else {
			measureSetup(ctx, cfg, res, s, sdlaunchUnit)
			s.stop()
		}
	}
	if want["worker-ready"] {
		if s, err := unitSetup(ctx, cfg, c, "sdlaunch+systemd, worker READY", workerReadyUnit, ports[workerReadyUnit], false); err != nil {
			res.fail("sdlaunch+systemd, worker READY", err)
		} else {
			s.ops = onlyOp(s.ops, "reload") // the question is the reload
			measureSetup(ctx, cfg, res, s, workerReadyUnit)
			s.stop()
		}
	}
	if cfg.compare != "" {
		const name = "sdlaunch+systemd [compare]"
		if s, err := unitSetup(ctx, cfg, c, name, compareUnit, ports[compareUnit], false); err != nil {
			res.fail(name, err)
		} else {
			measureSetup(ctx, cfg, res, s, compareUnit)
			s.stop()
		}
	}
	// Last of the setups: hundreds of thousands of loopback connections
	// can leave a port picked at the start in use as a client's ephemeral
	// port.
	if want["systemd"] && cfg.long > 0 {
		if s, err := unitSetup(ctx, cfg, c, "sdlaunch+systemd", sdlaunchUnit, ports[sdlaunchUnit], false); err != nil {
			res.fail("sdlaunch+systemd, long", err)
		} else {
			longRestarts(ctx, cfg, res, s)
			s.stop()
		}
	}
	if want["logs"] {
		if res.logs == nil {
			res.logs = &logResult{}
		}
		measureLogsJournal(ctx, cfg, res, c)
	}
}

// longRestarts is the restart goal's long mode: cfg.long `systemctl
// restart`s under cfg.longLoop's load.
//
// Closed loop (the default), one restart every 3 s: the question is
// whether any request is lost, and a closed loop never queues more than
// its clients. 3 s keeps the unit within its start limit (30 a minute,
// as `sdlaunch generate` writes it) even when a slow restart delays the
// next one.
//
// Open loop, one every 4 s: at half the capacity a restart's stall (about
// 1.5 s on 2 CPUs) queues some 2,000 requests that take as long again to
// drain, so closer restarts overload any setup and its requests time out
// however little it loses. Sustained for minutes, the client's own
// loopback connections also outrun the machine (ephemeral ports, its cap
// of requests in flight): a stress run, not a loss count.
func longRestarts(ctx context.Context, cfg *config, res *results, s *setup) {
	every := 3 * time.Second
	if cfg.longLoop == "open" {
		every = 4 * time.Second
	}
	savedK, savedDur := cfg.k, cfg.duration
	defer func() { cfg.k, cfg.duration = savedK, savedDur }()
	cfg.k = cfg.long
	cfg.duration = time.Duration(cfg.long) * every
	cfg.progress("long: %d systemctl restarts of sdlaunch over %s, %s loop", cfg.long, cfg.duration, cfg.longLoop)
	for _, op := range s.ops {
		if op.name != "restart" {
			continue
		}
		m := underLoad(ctx, cfg, measurement{setup: s.name, op: fmt.Sprintf("restart x%d", cfg.long), loop: cfg.longLoop}, s.url, op.fn)
		if m.err != nil {
			res.fail(m.scenario(), m.err)
		}
		m.samples = nil
		res.long = &m
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func onlyOp(ops []namedOp, name string) []namedOp {
	var out []namedOp
	for _, o := range ops {
		if o.name == name {
			out = append(out, o)
		}
	}
	return out
}
