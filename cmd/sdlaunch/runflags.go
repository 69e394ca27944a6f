package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/sdlaunch/sdlaunch/activation"
	"github.com/sdlaunch/sdlaunch/prefork"
	"github.com/urfave/cli/v2"
)

// The launcher's flag set. `run` parses it; `generate`/`install` accept the same
// flags and carry the ones the operator set into ExecStart= (runArgs), so an
// installed unit runs with exactly the options `run` understands.

const (
	flagListen          = "listen"
	flagWorkers         = "workers"
	flagMinReady        = "min-ready"
	flagReady           = "ready"
	flagReadyAfter      = "ready-after"
	flagStartTimeout    = "start-timeout"
	flagBootRetries     = "boot-retries"
	flagStopSignal      = "stop-signal"
	flagGracefulTimeout = "graceful-timeout"
	flagBackoffMax      = "backoff-max"
	flagWorkerWatchdog  = "worker-watchdog"
	flagReloadSurge     = "reload-surge"
	flagReloadNice      = "reload-nice"
	flagMaxLifetime     = "max-lifetime"
	flagChdir           = "chdir"
	flagBacklog         = "backlog"
)

// The launcher's defaults, defined here once: the unit commands derive
// TimeoutStopSec= and TimeoutStartSec= from the parsed values.
const (
	defaultGracefulTimeout = 30 * time.Second
	defaultStartTimeout    = 60 * time.Second
	// A reload's successors boot 10 nice levels below the serving workers
	// (nice 10 weighs about a tenth of nice 0): `make bench`, systemd open
	// loop, is where the choice is measured.
	defaultReloadNice = 10
)

func listenFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: flagListen, Aliases: []string{"l"},
		Usage: "listen on `ADDR` when systemd passes no sockets: IP:port, localhost:port, :port, *:port, [::]:port or a bare port (every address), [IPv6]:port, unix:/path, unix:@abstract, each optionally NAME=ADDR (repeatable)"}
}

// launcherFlags are the flags of `run` that an installed unit carries into
// ExecStart= (everything but --listen, which becomes the .socket unit).
func launcherFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: flagWorkers, Aliases: []string{"w"}, Value: runtime.NumCPU(),
			DefaultText: "number of CPUs", Usage: "number of worker processes `N`"},
		&cli.IntFlag{Name: flagMinReady, Usage: "report ready (and keep the watchdog fed) with at least `K` ready workers", DefaultText: "all workers"},
		&cli.StringFlag{Name: flagReady, Value: "accept", Usage: "readiness `MODE`: accept (a process of the worker's group is seen waiting for connections on the sockets), notify (it sent READY=1 and is seen waiting), alive (it stayed up --ready-after)"},
		&cli.DurationFlag{Name: flagReadyAfter, Value: time.Second, Usage: "alive mode, and accept mode where the launcher cannot look at the worker: ready once it has stayed up for `DURATION`"},
		&cli.DurationFlag{Name: flagStartTimeout, Value: defaultStartTimeout, Usage: "accept and notify modes: a worker not ready within `DURATION` failed to boot, with no retry (exit 69, or a rollback)"},
		&cli.IntFlag{Name: flagBootRetries, Value: 3, Usage: "give up after `N` consecutive boot failures in a slot (exit 69, or roll back a reload)"},
		&cli.StringFlag{Name: flagStopSignal, Value: "TERM", Usage: "`SIGNAL` that asks a worker's main process to stop: " + prefork.StopSignalNames()},
		&cli.DurationFlag{Name: flagGracefulTimeout, Value: defaultGracefulTimeout, Usage: "stopping workers get `DURATION` to finish before they are killed"},
		&cli.DurationFlag{Name: flagBackoffMax, Value: 10 * time.Second, Usage: "cap the crash-restart backoff (100ms doubling) at `DURATION`"},
		&cli.DurationFlag{Name: flagWorkerWatchdog, Usage: "give each worker WATCHDOG_USEC of `DURATION`; kill and replace a worker that stops pinging (0: off)"},
		&cli.IntFlag{Name: flagReloadSurge, Usage: "allow `N` extra workers during a reload roll", DefaultText: "--workers"},
		&cli.IntFlag{Name: flagReloadNice, Value: defaultReloadNice, Usage: "a worker that boots while the one it replaces serves (reload, --max-lifetime) runs `N` nice levels lower until it is ready, so serving keeps the CPU (0: off)"},
		&cli.DurationFlag{Name: flagMaxLifetime, Usage: "recycle workers after `DURATION`, plus up to 10% jitter (0: never)"},
		&cli.IntFlag{Name: flagBacklog, Value: activation.Backlog, Usage: "listen(2) backlog `N` of the sockets (a socket unit's Backlog=): the launcher binds --listen with it, and sets it again whenever a worker may have called listen(2) with its own (gunicorn's 2048, Node's 511); sockets systemd passes keep their own unless it is given (sdlaunch install gives it)"},
		&cli.StringFlag{Name: flagChdir, Usage: "start every worker in `DIR`, resolved anew at each start, so a deploy that flips a 'current' symlink is picked up by the next reload", DefaultText: "the current directory"},
	}
}

// runArgs renders the launcher flags the operator set on c as arguments for
// `sdlaunch run`, in a stable order, from cfg where parsing gave a
// canonical form (the stop signal's name).
func runArgs(c *cli.Context, cfg prefork.Config) []string {
	var args []string
	for _, f := range launcherFlags() {
		name := f.Names()[0]
		if !c.IsSet(name) || name == flagChdir || name == flagBacklog { // install passes --chdir made absolute, and --backlog always
			continue
		}
		var v string
		switch f.(type) {
		case *cli.IntFlag:
			v = fmt.Sprint(c.Int(name))
		case *cli.DurationFlag:
			v = c.Duration(name).String()
		default:
			v = c.String(name)
		}
		if name == flagStopSignal {
			v = prefork.SignalName(cfg.StopSignal) // "int" becomes INT
		}
		args = append(args, "--"+name+"="+v)
	}
	return args
}
