package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sdlaunch/sdlaunch/activation"
	"github.com/sdlaunch/sdlaunch/prefork"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "pre-fork and supervise workers of COMMAND on the sockets systemd passes (or --listen ones)",
		ArgsUsage: "-- COMMAND [ARG...]",
		Description: `Runs as the main process of a Type=notify service. Each worker gets every
socket as fd 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (its own
pid), SDLAUNCH_WORKER (slot) and SDLAUNCH_GENERATION, a private NOTIFY_SOCKET,
and WERKZEUG_RUN_MAIN/WERKZEUG_SERVER_FD so Flask's app.run() serves on fd 3.

Signals: TERM/INT graceful stop, QUIT fast stop, HUP reload (rolling restart),
TTIN/TTOU one worker more/less.`,
		Flags:  append([]cli.Flag{listenFlag()}, launcherFlags()...),
		Action: runAction,
	}
}

func runAction(c *cli.Context) error {
	// Go exits 2 on a panic or fatal error, and on SIGABRT (systemd's
	// default WatchdogSignal); units reserve 2 for bad configuration
	// (RestartPreventExitStatus=2 69). Die by the signal instead, after the
	// stack dump, so systemd's Restart=on-failure applies.
	debug.SetTraceback("crash")
	cfg, err := launcherConfig(c, c.Args().Slice())
	if err != nil {
		return err
	}
	if err := checkCommand(cfg.Command[0], cfg.Dir); err != nil {
		return err
	}
	if err := checkCapacity(cfg); err != nil {
		return err
	}
	if err := activation.CloseOnExecFrom(activation.ListenFDsStart); err != nil {
		return err
	}
	if standalone() {
		// A guardian above the launcher, so that nothing a worker started
		// outlives a SIGKILLed launcher (systemd's cgroup does that for a
		// unit). It runs this same command line as its child.
		return &exitError{code: prefork.Guard("/proc/self/exe", os.Args, os.Environ(), os.Stderr)}
	}
	socks, notice, err := sockets(c.StringSlice(flagListen), cfg.Backlog)
	if err != nil {
		return err
	}
	if !socks[0].Bound() && !c.IsSet(flagBacklog) {
		cfg.Backlog = 0 // systemd's sockets keep their unit's Backlog=, which the launcher cannot read back
	}
	controlPID := os.Getpid()
	if p, err := strconv.Atoi(os.Getenv(prefork.EnvControlPID)); err == nil && p > 0 {
		controlPID = p // the guardian's: the pid the operator knows
	}
	rt := prefork.Runtime{
		Sockets:       socks,
		Env:           activation.StripLauncherEnv(os.Environ()),
		NotifySocket:  os.Getenv("NOTIFY_SOCKET"),
		ControlSocket: prefork.ControlSocketName(controlPID),
		NotifyDir:     os.Getenv(prefork.EnvNotifyDir),
	}
	if wd, err := daemon.SdWatchdogEnabled(false); err == nil {
		rt.Watchdog = wd
	}
	rt.Journal, _ = journal.StderrIsJournalStream()
	m, err := prefork.New(cfg, rt, os.Stderr)
	if err != nil {
		_ = activation.CloseAll(socks)
		return usageErrorf("%v", err)
	}
	if notice != "" {
		m.Logf(5, "%s", notice)
	}
	err = m.Run()
	_ = activation.CloseAll(socks)
	var boot *prefork.BootError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &boot):
		return &exitError{code: exitNoBoot} // already logged in full
	default:
		return &exitError{code: exitUnexpected, msg: err.Error()}
	}
}

// standalone reports whether this launcher runs outside systemd (no notify
// socket, no invocation id, no sockets passed) and is not already the
// child of a guardian.
func standalone() bool {
	for _, k := range []string{"NOTIFY_SOCKET", "INVOCATION_ID", "LISTEN_FDS", prefork.EnvGuarded} {
		if os.Getenv(k) != "" {
			return false
		}
	}
	return true
}

// launcherConfig turns the launcher flags and command into a config,
// refusing bad values before any socket is bound. install and generate use
// it too, so a unit never carries options `run` would refuse.
func launcherConfig(c *cli.Context, command []string) (prefork.Config, error) {
	cfg := prefork.Config{
		Command:         command,
		Workers:         c.Int(flagWorkers),
		MinReady:        c.Int(flagMinReady),
		ReadyAfter:      c.Duration(flagReadyAfter),
		StartTimeout:    c.Duration(flagStartTimeout),
		BootRetries:     c.Int(flagBootRetries),
		GracefulTimeout: c.Duration(flagGracefulTimeout),
		BackoffMax:      c.Duration(flagBackoffMax),
		WorkerWatchdog:  c.Duration(flagWorkerWatchdog),
		ReloadSurge:     c.Int(flagReloadSurge),
		ReloadNice:      c.Int(flagReloadNice),
		ReloadNiceQuiet: !c.IsSet(flagReloadNice),
		MaxLifetime:     c.Duration(flagMaxLifetime),
		Dir:             c.String(flagChdir),
		Backlog:         c.Int(flagBacklog),
	}
	var err error
	if cfg.Ready, err = prefork.ParseReadyMode(c.String(flagReady)); err != nil {
		return cfg, usageErrorf("%v", err)
	}
	if cfg.StopSignal, err = prefork.ParseStopSignal(c.String(flagStopSignal)); err != nil {
		return cfg, usageErrorf("--stop-signal: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageErrorf("%v", err)
	}
	if cfg.Backlog == 0 {
		return cfg, usageErrorf("--backlog 0: must be between 1 and %d", prefork.MaxBacklog)
	}
	return cfg, checkWorkerCap(cfg)
}

// checkCommand refuses a COMMAND the workers could not run: not in PATH, or
// (a relative path) not in the workers' directory.
func checkCommand(command, dir string) error {
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return usageErrorf("--chdir %q: not a directory", dir)
		}
	}
	p := command
	if strings.Contains(p, "/") && !filepath.IsAbs(p) && dir != "" {
		p = filepath.Join(dir, p)
	}
	if _, err := exec.LookPath(p); err != nil {
		return usageErrorf("COMMAND %q: %v", command, errors.Unwrap(err))
	}
	return nil
}

// sockets takes systemd's sockets, or binds the --listen addresses.
func sockets(listen []string, backlog int) ([]*activation.Socket, string, error) {
	inherited, notice, err := activation.Inherited()
	if err != nil {
		return nil, "", usageErrorf("%v", err)
	}
	if len(inherited) > 0 {
		if len(listen) > 0 {
			notice = fmt.Sprintf("systemd passed %d socket(s); ignoring --listen %v", len(inherited), listen)
		}
		return inherited, notice, nil
	}
	if len(listen) == 0 {
		return nil, "", usageErrorf("no socket: systemd passed none (LISTEN_FDS) and no --listen address was given")
	}
	specs, err := activation.ParseAddrs(listen)
	if err != nil {
		return nil, "", usageErrorf("--listen: %v", err)
	}
	socks, err := activation.Bind(specs, backlog)
	if err != nil {
		return nil, "", usageErrorf("%v", err)
	}
	return socks, notice, nil
}

func reloadWaitCommand() *cli.Command {
	return &cli.Command{
		Name:      "reload-wait",
		Usage:     "reload the launcher PID (a rolling restart) and wait for the verdict; for ExecReload=",
		ArgsUsage: "PID",
		Description: `Exits 0 once the new generation is ready, 1 when it could not boot and the
launcher rolled back to the old workers (which keep serving).
In a unit: ExecReload=/usr/bin/sdlaunch reload-wait $MAINPID`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Usage: "give up waiting after `DURATION` (0: wait for the verdict)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("reload-wait needs exactly one PID, got %d arguments", c.NArg())
			}
			pid, err := strconv.Atoi(c.Args().First())
			if err != nil || pid < 1 {
				return usageErrorf("reload-wait: PID %q is not a process id", c.Args().First())
			}
			if d := c.Duration("timeout"); d < 0 {
				return usageErrorf("reload-wait --timeout %s: must not be negative (0 waits for the verdict)", d)
			}
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				return usageErrorf("reload-wait: no process %d", pid)
			}
			start := time.Now()
			msg, err := prefork.Reload(pid, c.Duration("timeout"))
			if err != nil {
				return &exitError{code: exitUnexpected, msg: err.Error()}
			}
			fmt.Fprintf(c.App.Writer, "%s (%s)\n", msg, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}
