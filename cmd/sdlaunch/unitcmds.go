package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sdlaunch/sdlaunch/units"
	"github.com/urfave/cli/v2"
)

// The unit commands: generate/install turn the launcher's flags plus unit
// flags into units.App; the rest operate an installed app over D-Bus.

const unitsHelp = `Options come before NAME; everything after -- is the app's command line,
passed through untouched. A relative COMMAND is resolved (PATH, or --chdir)
to an absolute path now. Launcher options (--workers, --stop-signal, ...) that
you set are carried into ExecStart=; --listen addresses become the socket
unit(s), in the spellings run accepts: IP:port, localhost:port, :port or
*:port (every address), [IPv6]:port, unix:/path, unix:@abstract, LABEL=ADDR
(one socket unit per LABEL, with FileDescriptorName=LABEL).`

func unitCommands() []*cli.Command {
	userFlag := &cli.BoolFlag{Name: flagUserManager, Usage: "the calling user's service manager (systemctl --user), not the system's"}
	return []*cli.Command{
		{
			Name:        "generate",
			Usage:       "write NAME.socket and NAME.service for an app (stdout, or --output DIR)",
			ArgsUsage:   "NAME -- COMMAND [ARG...]",
			Description: unitsHelp,
			Flags:       appFlags(false),
			Action:      generateAction,
		},
		{
			Name:  "install",
			Usage: "install, enable and start an app as systemd units; wait until it is ready",
			Description: unitsHelp + `

Writes the units atomically, reloads systemd, enables and starts the sockets and
the service, and waits for the service to report ready. Units that changed are
restarted. On failure, prints the unit's last journal lines, undoes the install
and exits 1: a first install is stopped, disabled and removed (nothing is left
enabled or listening); a re-install puts the previous units back and restarts
the previous version, waiting until it is ready. The output says which.

Installing again also brings back an app that stays down after an exit 69.`,
			ArgsUsage: "NAME -- COMMAND [ARG...]",
			Flags:     appFlags(true),
			Action:    installAction,
		},
		{
			Name:      "uninstall",
			Usage:     "stop and disable an app's units, remove them and reload systemd",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{userFlag},
			Action:    uninstallAction,
		},
		{
			Name:      "status",
			Usage:     "show an app's unit states, main pid, the launcher's STATUS= and its workers",
			ArgsUsage: "NAME",
			Description: `Exits 0 when the service is active (or reloading) and 3 when it is not
(inactive, activating, deactivating or failed), like systemctl status, so
scripts can test the exit status. Shows how the last run ended and, after an
exit 69 (or 2), why the app stays down and what brings it back.`,
			Flags:  []cli.Flag{userFlag},
			Action: statusAction,
		},
		{
			Name:      "logs",
			Usage:     "show an app's journal, or one worker's lines",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				userFlag,
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines"},
				&cli.IntFlag{Name: "lines", Aliases: []string{"n"}, Value: 50, Usage: "show the last `N` lines (0: all)"},
				&cli.IntFlag{Name: "worker", Value: -1, Usage: "only lines of worker slot `K` (journal field SDLAUNCH_WORKER)", DefaultText: "all"},
				&cli.StringFlag{Name: "priority", Aliases: []string{"p"}, Usage: "only `PRIORITY` and more important (err, warning, info, 0-7, or a range err..info)"},
				&cli.StringFlag{Name: "since", Usage: "only lines since `TIME` (journalctl --since syntax)"},
			},
			Action: logsAction,
		},
		{
			Name:      "restart",
			Usage:     "restart an app (its sockets stay open) and wait until it is ready",
			ArgsUsage: "NAME",
			Description: `Also brings back an app that stays down after an exit 69 (or 2): its stopped
sockets are started and its failure is reset first.`,
			Flags:  []cli.Flag{userFlag},
			Action: restartAction,
		},
		{
			Name:      units.AfterExitCommand,
			Hidden:    true,
			Usage:     "ExecStopPost= hook of the generated units: after an exit 2 or 69, stop the app's sockets so it stays down",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{userFlag},
			Action:    afterExitAction,
		},
		{
			Name:      "reload",
			Usage:     "roll a new generation of workers and wait for the verdict",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{userFlag},
			Action:    reloadAction,
		},
	}
}

// nameArg returns the single NAME argument of the operating commands.
func nameArg(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", usageErrorf("%s needs exactly one NAME (options come before it), got %d arguments", c.Command.Name, c.NArg())
	}
	name := c.Args().First()
	if err := units.ValidateName(name); err != nil {
		return "", usageErrorf("%v", err)
	}
	return name, nil
}

// connect opens the manager, mapping "no systemd" to one clear line.
func connect(ctx context.Context, user bool) (*units.Manager, error) {
	m, err := units.Connect(ctx, user)
	if errors.Is(err, units.ErrNoSystemd) {
		return nil, &exitError{code: exitUnexpected, msg: err.Error()}
	}
	if err != nil {
		return nil, &exitError{code: exitUnexpected, msg: err.Error()}
	}
	return m, nil
}

// opError maps errors of the operating commands to exit statuses, printing
// the journal tail of a unit that failed to start.
func opError(err error) error {
	if err == nil {
		return nil
	}
	if units.IsValidation(err) {
		return usageErrorf("%v", err)
	}
	var se *units.StartError
	if errors.As(err, &se) && se.Journal != "" {
		fmt.Fprintf(os.Stderr, "last journal lines of %s:\n%s\n", se.Unit, se.Journal)
	}
	// an install whose undo failed too: why the previous version did not
	// come back
	var ie *units.InstallError
	if errors.As(err, &ie) && errors.As(ie.UndoErr, &se) && se.Journal != "" {
		fmt.Fprintf(os.Stderr, "last journal lines of %s after putting the previous units back:\n%s\n", se.Unit, se.Journal)
	}
	return &exitError{code: exitUnexpected, msg: err.Error()}
}

func opTimeout() time.Duration { return 10 * time.Minute }

func uninstallAction(c *cli.Context) error {
	return onApp(c, func(ctx context.Context, m *units.Manager, name string) error {
		return opError(m.Uninstall(ctx, name, c.App.Writer))
	})
}

// onApp connects to the service manager and runs op on the app NAME.
func onApp(c *cli.Context, op func(context.Context, *units.Manager, string) error) error {
	name, err := nameArg(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, opTimeout())
	defer cancel()
	m, err := connect(ctx, c.Bool(flagUserManager))
	if err != nil {
		return err
	}
	defer m.Close()
	return op(ctx, m, name)
}

func statusAction(c *cli.Context) error {
	name, err := nameArg(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, time.Minute)
	defer cancel()
	m, err := connect(ctx, c.Bool(flagUserManager))
	if err != nil {
		return err
	}
	defer m.Close()
	st, err := m.Status(ctx, name, launcherWorkers{})
	if err != nil {
		return opError(err)
	}
	if err := st.Format(c.App.Writer); err != nil {
		return opError(err)
	}
	switch st.Service.ActiveState {
	case "active", "reloading":
		return nil
	}
	return &exitError{code: exitNotActive}
}

func logsAction(c *cli.Context) error {
	name, err := nameArg(c)
	if err != nil {
		return err
	}
	opts := units.LogOptions{
		Name:     name,
		User:     c.Bool(flagUserManager),
		Follow:   c.Bool("follow"),
		Lines:    c.Int("lines"),
		Worker:   c.Int("worker"),
		Priority: c.String("priority"),
		Since:    c.String("since"),
	}
	if _, err := units.JournalArgs(opts); err != nil {
		return usageErrorf("%v", err)
	}
	if err := units.CheckSince(c.Context, opts.Since); err != nil {
		return opError(err)
	}
	// Like status: an app that is not installed is said so (exit 1), not
	// shown as an empty journal.
	ctx, cancel := context.WithTimeout(c.Context, time.Minute)
	defer cancel()
	m, err := connect(ctx, opts.User)
	if err != nil {
		return err
	}
	err = m.Installed(ctx, name)
	m.Close()
	if err != nil {
		return opError(err)
	}
	return opError(units.Logs(c.Context, opts, c.App.Writer, c.App.ErrWriter))
}

func restartAction(c *cli.Context) error {
	return jobAction(c, (*units.Manager).Restart, "restarted and ready")
}

func reloadAction(c *cli.Context) error {
	return jobAction(c, (*units.Manager).Reload, "reloaded")
}

// jobAction runs one systemd job on NAME's service and waits for its result.
func jobAction(c *cli.Context, job func(*units.Manager, context.Context, string) error, done string) error {
	return onApp(c, func(ctx context.Context, m *units.Manager, name string) error {
		if err := job(m, ctx, name); err != nil {
			return opError(err)
		}
		fmt.Fprintf(c.App.Writer, "%s.service %s\n", name, done)
		return nil
	})
}

// afterExitAction is the generated service's ExecStopPost=+ hook. systemd
// runs it after every stop; only an exit that restarting cannot help (2,
// 69) makes it stop the app's sockets, without waiting for the jobs (see
// units/afterexit.go). Its line goes to the service's journal at warning
// priority (units.LogAfterExit).
func afterExitAction(c *cli.Context) error {
	name, err := nameArg(c)
	if err != nil {
		return err
	}
	result, code, status := os.Getenv("SERVICE_RESULT"), os.Getenv("EXIT_CODE"), os.Getenv("EXIT_STATUS")
	if units.StayDownReason(result, code, status) == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()
	m, err := connect(ctx, c.Bool(flagUserManager))
	if err != nil {
		return err
	}
	defer m.Close()
	msg, err := m.AfterExit(ctx, name, result, code, status)
	if err != nil {
		return &exitError{code: exitUnexpected, msg: fmt.Sprintf("%s exited with status %s, but its sockets could not be stopped, so the next connection starts it again: %v", name, status, err)}
	}
	units.LogAfterExit(c.App.ErrWriter, name, c.Bool(flagUserManager), msg)
	return nil
}
