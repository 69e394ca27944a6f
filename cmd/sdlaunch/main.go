// Command sdlaunch makes systemd own a service's listening sockets and
// pre-forks workers of any language on them.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/sdlaunch/sdlaunch/activation"
	"github.com/urfave/cli/v2"
)

func init() {
	// The exec shim runs in the worker between fork and the app's execve.
	// The Pdeathsig that makes a worker die with its launcher was given, at
	// fork, to the child's first thread only, and an execve from any other
	// thread drops it: keep the main goroutine, which execs, on that thread
	// (an init function's LockOSThread does; measured: 7 of 500 workers
	// outlived a SIGKILLed launcher at load 40 without it, 0 of 1,000 with).
	if len(os.Args) > 1 && os.Args[1] == activation.ShimArg {
		runtime.LockOSThread()
	}
}

func main() {
	// The exec shim runs between fork and the app's execve: keep it off the CLI
	// path so it stays tiny and fast.
	if len(os.Args) > 1 && os.Args[1] == activation.ShimArg {
		err := activation.ExecShim(os.Args[2:])
		fmt.Fprintf(os.Stderr, "sdlaunch: %v\n", err)
		os.Exit(127)
	}
	if ok, code := generated(os.Args, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(os.Stderr, "sdlaunch: %s\n", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(os.Stderr, "sdlaunch: %v\n", err)
	return exitUnexpected
}

func newApp() *cli.App {
	app := &cli.App{
		Name:                   "sdlaunch",
		Usage:                  "let systemd own your app's sockets; pre-fork and supervise its workers",
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Version:                buildVersion(),
		// A repeatable flag's value is one value: a comma belongs to it
		// (--env URL=postgres://h/db?a=1,b=2), it separates nothing.
		DisableSliceFlagSeparator: true,
		OnUsageError:              onUsageError,
		Action:                    noCommand,
		Commands: append([]*cli.Command{
			runCommand(),
			reloadWaitCommand(),
			importCommand(),
		}, unitCommands()...),
	}
	app.Commands = append(app.Commands, versionCommand())
	app.CustomAppHelpTemplate = cli.AppHelpTemplate + "\n" + helpExitStatuses("")
	for _, c := range app.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = onUsageError
		}
		if c.CustomHelpTemplate == "" {
			c.CustomHelpTemplate = cli.CommandHelpTemplate + "\n" + helpExitStatuses(c.Name)
		}
	}
	return app
}

// exitError carries an exit status (and an optional one-line message) up to main.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, a...)}
}

func onUsageError(_ *cli.Context, err error, _ bool) error {
	return &exitError{code: exitUsage, msg: err.Error()}
}

// noCommand runs when no command matched: help for no word, `help` and
// `help COMMAND`; an unknown word is bad usage (exit 2), where urfave/cli
// would print "No help topic" and exit 3.
func noCommand(c *cli.Context) error {
	args := c.Args()
	switch {
	case !args.Present():
		return cli.ShowAppHelp(c)
	case args.First() == "help" && args.Len() == 1:
		return cli.ShowAppHelp(c)
	case args.First() == "help" && args.Len() == 2 && c.App.Command(args.Get(1)) != nil:
		return cli.ShowCommandHelp(c, args.Get(1))
	case args.First() == "help":
		return usageErrorf("help %s: no such command (sdlaunch --help lists them)", strings.Join(args.Tail(), " "))
	}
	return usageErrorf("unknown command %q (sdlaunch --help lists them)", args.First())
}
