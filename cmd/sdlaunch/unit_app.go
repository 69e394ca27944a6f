package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sdlaunch/sdlaunch/prefork"
	"github.com/sdlaunch/sdlaunch/units"
	"github.com/urfave/cli/v2"
)

// Flags of generate/install beyond the launcher's.
const (
	flagUserManager     = "user"
	flagRunAs           = "run-as"
	flagEnv             = "env"
	flagEnvFile         = "env-file"
	flagDescription     = "description"
	flagAfter           = "after"
	flagWants           = "wants"
	flagRequires        = "requires"
	flagMemoryMax       = "memory-max"
	flagCPUQuota        = "cpu-quota"
	flagTasksMax        = "tasks-max"
	flagWatchdogSec     = "watchdog-sec"
	flagHardening       = "hardening"
	flagJIT             = "jit"
	flagSocketMode      = "socket-mode"
	flagSocketUser      = "socket-user"
	flagSocketGroup     = "socket-group"
	flagTimeoutStopSec  = "timeout-stop-sec"
	flagTimeoutStartSec = "timeout-start-sec"
	flagRestartSec      = "restart-sec"
	flagSdlaunchPath    = "sdlaunch-path"
	flagSystemdVersion  = "systemd-version"
	flagOutput          = "output"
	flagDryRun          = "dry-run"
)

// appFlags are the flags of install (install=true) or generate.
func appFlags(install bool) []cli.Flag {
	flags := append([]cli.Flag{listenFlag()}, launcherFlags()...)
	flags = append(flags,
		&cli.BoolFlag{Name: flagUserManager, Usage: "units for the calling user's service manager (~/.config/systemd/user, systemctl --user)"},
		&cli.StringFlag{Name: flagRunAs, Usage: "run the app as `USER[:GROUP]` (default: a transient DynamicUser=yes user)"},
		&cli.StringSliceFlag{Name: flagEnv, Usage: "set `K=V` in the app's environment (repeatable)"},
		&cli.StringFlag{Name: flagEnvFile, Usage: "read environment variables from `FILE` (EnvironmentFile=)"},
		&cli.StringFlag{Name: flagDescription, Usage: "unit `TEXT` (Description=)"},
		&cli.StringSliceFlag{Name: flagAfter, Usage: "start after `UNIT` (repeatable)"},
		&cli.StringSliceFlag{Name: flagWants, Usage: "also start `UNIT` (repeatable)"},
		&cli.StringSliceFlag{Name: flagRequires, Usage: "require `UNIT` (repeatable)"},
		&cli.StringFlag{Name: flagMemoryMax, Usage: "memory limit `SIZE` (MemoryMax=, e.g. 512M)"},
		&cli.StringFlag{Name: flagCPUQuota, Usage: "CPU quota `PERCENT` (CPUQuota=, e.g. 200%)"},
		&cli.StringFlag{Name: flagTasksMax, Usage: "process/thread limit `N` (TasksMax=)"},
		&cli.DurationFlag{Name: flagWatchdogSec, Usage: "systemd kills and restarts the launcher if it stops pinging for `DURATION` (WatchdogSec=; 0: off)"},
		&cli.StringFlag{Name: flagHardening, Value: string(units.HardeningDefault), Usage: "sandboxing `PROFILE`: default, strict (no outbound network), off"},
		&cli.StringFlag{Name: flagJIT, Value: string(units.JITAuto), Usage: "does the app JIT-compile (node, java...)? `auto|yes|no`; yes turns MemoryDenyWriteExecute= off"},
		&cli.StringFlag{Name: flagSocketMode, Usage: "unix socket file `MODE`", DefaultText: units.DefaultSocketMode},
		&cli.StringFlag{Name: flagSocketUser, Usage: "unix socket file owner `USER`"},
		&cli.StringFlag{Name: flagSocketGroup, Usage: "unix socket file `GROUP`"},
		&cli.DurationFlag{Name: flagTimeoutStopSec, Usage: "TimeoutStopSec= `DURATION` (must exceed --graceful-timeout)", DefaultText: "--graceful-timeout + " + stopMargin.String()},
		&cli.DurationFlag{Name: flagTimeoutStartSec, Usage: "TimeoutStartSec= `DURATION` (must exceed --start-timeout)", DefaultText: "--start-timeout + " + startMargin.String()},
		&cli.DurationFlag{Name: flagRestartSec, Value: units.DefaultRestartDelay, Usage: "RestartSec= `DURATION` after a crash"},
		&cli.StringFlag{Name: flagSdlaunchPath, Usage: "absolute `PATH` of sdlaunch in ExecStart= (for packaging)", DefaultText: "this binary"},
		&cli.IntFlag{Name: flagSystemdVersion, Usage: "target systemd `N` (253+: Type=notify-reload)", DefaultText: "detect, else 252"},
	)
	if install {
		flags = append(flags, &cli.BoolFlag{Name: flagDryRun, Usage: "print what would be written and done; change nothing"})
	} else {
		flags = append(flags, &cli.StringFlag{Name: flagOutput, Aliases: []string{"o"}, Usage: "write the unit files into `DIR` instead of stdout"})
	}
	return flags
}

// splitNameCommand takes NAME -- COMMAND [ARG...] apart.
func splitNameCommand(c *cli.Context) (string, []string, error) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return "", nil, usageErrorf("%s: missing NAME -- COMMAND [ARG...]", c.Command.Name)
	}
	name, rest := args[0], args[1:]
	if name == "--" {
		return "", nil, usageErrorf("%s: missing NAME before --", c.Command.Name)
	}
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	} else if len(rest) > 0 {
		for _, a := range rest {
			if a == "--" {
				return "", nil, usageErrorf("%s: %q between NAME and --: options come before NAME", c.Command.Name, rest[0])
			}
		}
		if strings.HasPrefix(rest[0], "-") {
			return "", nil, usageErrorf("%s: %q after NAME: options come before NAME, the command after --", c.Command.Name, rest[0])
		}
	}
	if len(rest) == 0 {
		return "", nil, usageErrorf("%s: missing the app's command after NAME --", c.Command.Name)
	}
	return name, rest, nil
}

// appFromFlags builds and validates the app; every error is a usage error.
func appFromFlags(c *cli.Context, systemdVersion int) (*units.App, error) {
	name, command, err := splitNameCommand(c)
	if err != nil {
		return nil, err
	}
	if err := units.ValidateName(name); err != nil {
		return nil, usageErrorf("%v", err)
	}
	chdir := c.String(flagChdir)
	if chdir == "" {
		if chdir, err = os.Getwd(); err != nil {
			return nil, &exitError{code: exitUnexpected, msg: fmt.Sprintf("current directory: %v", err)}
		}
	} else if !filepath.IsAbs(chdir) {
		if chdir, err = filepath.Abs(chdir); err != nil {
			return nil, usageErrorf("--chdir %q: %v", c.String(flagChdir), err)
		}
	}
	exe, err := units.ResolveCommand(command[0], chdir)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	command = append([]string{exe}, command[1:]...)
	// The launcher options go through run's own parser: a unit never
	// carries an option `sdlaunch run` would refuse at every start.
	cfg, err := launcherConfig(c, command)
	if err != nil {
		return nil, err
	}
	timeoutStop, timeoutStart, err := unitTimeouts(c, cfg)
	if err != nil {
		return nil, err
	}
	sdlaunch := c.String(flagSdlaunchPath)
	if sdlaunch == "" {
		if sdlaunch, err = os.Executable(); err != nil {
			return nil, &exitError{code: exitUnexpected, msg: fmt.Sprintf("find the sdlaunch binary: %v (give --sdlaunch-path)", err)}
		}
		if p, err := filepath.EvalSymlinks(sdlaunch); err == nil {
			sdlaunch = p
		}
	}
	if c.IsSet(flagSystemdVersion) {
		systemdVersion = c.Int(flagSystemdVersion)
	}
	app := &units.App{
		Name:         name,
		Listen:       c.StringSlice(flagListen),
		SdlaunchPath: sdlaunch,
		// The workers re-resolve their directory at every start (a flipped
		// `current` symlink); WorkingDirectory= alone is resolved once.
		// --backlog is rendered from Backlog= (units).
		RunArgs:        append(runArgs(c, cfg), "--"+flagChdir+"="+chdir),
		Command:        command,
		UserManager:    c.Bool(flagUserManager),
		Renice:         cfg.ReloadNice > 0,
		RunAs:          c.String(flagRunAs),
		Chdir:          chdir,
		Env:            c.StringSlice(flagEnv),
		EnvFile:        c.String(flagEnvFile),
		Description:    c.String(flagDescription),
		After:          c.StringSlice(flagAfter),
		Wants:          c.StringSlice(flagWants),
		Requires:       c.StringSlice(flagRequires),
		MemoryMax:      c.String(flagMemoryMax),
		CPUQuota:       c.String(flagCPUQuota),
		TasksMax:       c.String(flagTasksMax),
		Watchdog:       c.Duration(flagWatchdogSec),
		Hardening:      units.Hardening(c.String(flagHardening)),
		JIT:            units.JIT(c.String(flagJIT)),
		SocketMode:     c.String(flagSocketMode),
		SocketUser:     c.String(flagSocketUser),
		SocketGroup:    c.String(flagSocketGroup),
		Backlog:        cfg.Backlog,
		TimeoutStop:    timeoutStop,
		TimeoutStart:   timeoutStart,
		RestartDelay:   c.Duration(flagRestartSec),
		SystemdVersion: systemdVersion,
	}
	if err := app.Validate(); err != nil {
		return nil, usageErrorf("%v", err)
	}
	return app, nil
}

// Margins of TimeoutStopSec= over --graceful-timeout and of
// TimeoutStartSec= over --start-timeout, so systemd never kills a launcher
// that is still within its own deadline.
const (
	stopMargin  = 15 * time.Second
	startMargin = 30 * time.Second
)

// unitTimeouts resolves TimeoutStopSec= and TimeoutStartSec= from the
// launcher's parsed timeouts: --timeout-stop-sec/--timeout-start-sec when
// given (they must exceed them), else the launcher's plus a margin.
func unitTimeouts(c *cli.Context, cfg prefork.Config) (stop, start time.Duration, err error) {
	stop, start = cfg.GracefulTimeout+stopMargin, cfg.StartTimeout+startMargin
	if d := c.Duration(flagTimeoutStopSec); d != 0 {
		if d <= cfg.GracefulTimeout {
			return 0, 0, usageErrorf("--timeout-stop-sec %s: must be above --graceful-timeout %s, or systemd kills workers still draining", d, cfg.GracefulTimeout)
		}
		stop = d
	}
	if d := c.Duration(flagTimeoutStartSec); d != 0 {
		if d <= cfg.StartTimeout {
			return 0, 0, usageErrorf("--timeout-start-sec %s: must be above --start-timeout %s", d, cfg.StartTimeout)
		}
		start = d
	}
	return stop, start, nil
}

// detectVersion asks the manager for its version; 0 when it cannot.
func detectVersion(ctx context.Context, user bool) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := units.Connect(ctx, user)
	if err != nil {
		return 0
	}
	defer m.Close()
	v, err := m.Version(ctx)
	if err != nil {
		return 0
	}
	return v
}
