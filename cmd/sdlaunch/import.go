package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sdlaunch/sdlaunch/units"
	"github.com/sdlaunch/sdlaunch/units/supervisor"
	"github.com/urfave/cli/v2"
)

// import-supervisor: the importer (units/supervisor) turns each [program:x]
// into the arguments of `sdlaunch install`; printing, --generate and
// --install all run those arguments through install's own flag parsing and
// validation, so an import never carries an option install would refuse.

const (
	flagProgram  = "program"
	flagGenerate = "generate"
	flagInstall  = "install"
)

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import-supervisor",
		Usage:     "turn supervisord [program:x] sections into sdlaunch install commands (print them, or --generate or --install the units)",
		ArgsUsage: "FILE [-- INSTALL-OPTION...]",
		Description: `Reads a supervisord configuration (supervisord.conf with the files its
[include] section names, or one conf.d file) as supervisord 4.2.5 does, and
prints for each [program:x] the sdlaunch install command line, ready to paste.
On stderr, every option that is not carried over as it is says what it means
under sdlaunch, or why it has no equivalent.

supervisord does not know a program's port. It is taken from the command where
the command says it (gunicorn -b/--bind and -w, uvicorn --host/--port/--uds and
--workers), which is then rewritten to serve the socket sdlaunch passes;
otherwise (a Flask app.run(), a wrapper script) give --listen.

INSTALL-OPTIONs after -- are added to every program's install line (for
example -- --hardening strict). Bad or unreadable input exits 2 with one line
naming the file, line and key; with --install, the exit statuses are
install's, and programs are installed in file order up to the first failure.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagProgram, Usage: "import only [program:`NAME`]", DefaultText: "every program"},
			&cli.StringFlag{Name: flagGenerate, Usage: "write the units into `DIR`, as sdlaunch generate --output DIR does"},
			&cli.BoolFlag{Name: flagInstall, Usage: "install, enable and start the units and wait until ready, as sdlaunch install does"},
			&cli.StringSliceFlag{Name: flagListen, Aliases: []string{"l"},
				Usage: "the program's socket `ADDR` (as run --listen: IP:port, localhost:port, :port, [IPv6]:port, unix:/path, ...), when its command does not say it or instead of what it says (repeatable)"},
		},
		Action: importAction,
	}
}

func importAction(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) == 0 || args[0] == "--" {
		return usageErrorf("import-supervisor: missing FILE (supervisord.conf or a conf.d file)")
	}
	file, extra := args[0], args[1:]
	if len(extra) > 0 {
		if extra[0] != "--" {
			return usageErrorf("import-supervisor: %q after FILE: options come before FILE, install options after --", extra[0])
		}
		extra = extra[1:]
	}
	generate, install := c.String(flagGenerate), c.Bool(flagInstall)
	if generate != "" && install {
		return usageErrorf("import-supervisor: --generate and --install exclude each other")
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	host, _ := os.Hostname()
	cfg, err := supervisor.Load(file, supervisor.LoadOptions{Env: env, Hostname: host})
	if err != nil {
		return usageErrorf("%v", err)
	}
	ims, notes, err := cfg.Import(supervisor.ImportOptions{Program: c.String(flagProgram), Listen: c.StringSlice(flagListen), Extra: extra})
	if err != nil {
		return usageErrorf("%v", err)
	}
	// Every program's line must be one install (or generate) accepts
	// before anything is printed, written or installed.
	check := "install"
	if generate != "" {
		check = "generate"
	}
	for _, im := range ims {
		if err := checkUnitArgs(check, im.Args); err != nil {
			var ee *exitError
			if errors.As(err, &ee) && ee.code == exitUsage {
				return usageErrorf("%s: [program:%s]: %s", im.Pos, im.Program, ee.msg)
			}
			return err
		}
	}
	if generate == "" && !install {
		stdout, stderr := supervisor.Report(ims, notes)
		fmt.Fprint(c.App.ErrWriter, stderr)
		fmt.Fprint(c.App.Writer, stdout)
		return nil
	}
	_, stderr := supervisor.Report(nil, notes)
	fmt.Fprint(c.App.ErrWriter, stderr)
	for i, im := range ims {
		argv := append([]string{"sdlaunch", "install"}, im.Args...)
		line := im.CommandLine()
		if generate != "" {
			argv = append([]string{"sdlaunch", "generate", "--output", generate}, im.Args...)
			line = supervisor.ShellJoin(argv)
		}
		_, stderr := supervisor.Report(nil, im.Notes)
		fmt.Fprint(c.App.ErrWriter, stderr)
		fmt.Fprintf(c.App.Writer, "# [program:%s] %s\n%s\n", im.Program, im.Pos, line)
		app := newApp()
		app.Writer, app.ErrWriter = c.App.Writer, c.App.ErrWriter
		if err := app.Run(argv); err != nil {
			if len(ims) > 1 {
				var done []string
				for _, d := range ims[:i] {
					done = append(done, d.Name)
				}
				fmt.Fprintf(c.App.ErrWriter, "import-supervisor: stopped at [program:%s]; done before it: %s\n", im.Program, orNone(done))
			}
			return err
		}
	}
	return nil
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// checkUnitArgs runs args through the flags and validation of `sdlaunch
// install` (or generate), rendering the units in memory; it writes and
// starts nothing.
func checkUnitArgs(command string, args []string) error {
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	app.Command(command).Action = func(c *cli.Context) error {
		_, _, err := renderFromFlags(c, units.FallbackSystemdVersion)
		return err
	}
	return app.Run(append([]string{"sdlaunch", command}, args...))
}
