package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// stopSignalSpellings is the one table of --stop-signal spellings for run,
// generate and install: what ExecStart= carries, or "" when refused.
var stopSignalSpellings = []struct{ in, unit string }{
	{"TERM", "TERM"}, {"term", "TERM"}, {"SIGTERM", "TERM"}, {"sigint", "INT"}, {"Int", "INT"},
	{"QUIT", "QUIT"}, {"HUP", "HUP"}, {"USR1", "USR1"}, {"SIGUSR2", "USR2"},
	{"STOP", ""}, {"KILL", ""}, {"CHLD", ""}, {"CONT", ""}, {"TSTP", ""}, {"TTIN", ""}, {"TTOU", ""},
	{"URG", ""}, {"WINCH", ""}, {"SEGV", ""}, {"ABRT", ""}, {"ALRM", ""}, {"PIPE", ""},
	{"19", ""}, {"15", ""}, {"9", ""}, {"", ""}, {"SIGNOPE", ""}, {"TERM\n", ""},
}

func TestStopSignalSpellingsRunGenerateInstall(t *testing.T) {
	for _, c := range stopSignalSpellings {
		// run: its own action, up to the point where it would bind
		app := newApp()
		var runErr error
		for _, cmd := range app.Commands {
			if cmd.Name == "run" {
				cmd.Action = func(ctx *cli.Context) error { _, runErr = launcherConfig(ctx, []string{"/bin/sh"}); return runErr }
			}
		}
		_ = app.Run([]string{"sdlaunch", "run", "--stop-signal", c.in, "--", "/bin/sh"})
		if code := exitCode(runErr); (c.unit == "") != (code == exitUsage) || c.unit != "" && code != exitOK {
			t.Errorf("run --stop-signal %q: exit %d (%v)", c.in, code, runErr)
		}
		if c.unit == "" && (runErr == nil || !strings.Contains(runErr.Error(), "--stop-signal") || strings.Contains(runErr.Error(), "\n")) {
			t.Errorf("run --stop-signal %q: want one line naming --stop-signal, got %v", c.in, runErr)
		}

		dir := t.TempDir()
		for _, cmd := range [][]string{
			{"generate", "--output", dir},
			{"install", "--dry-run"},
		} {
			args := append(cmd, "--systemd-version", "252", "--sdlaunch-path", "/usr/bin/sdlaunch", "--chdir", "/",
				"--listen", "127.0.0.1:8000", "--stop-signal", c.in, "sigtest", "--", "/bin/sh")
			out, code, msg := runUnitCmd(t, args...)
			if c.unit == "" {
				if code != exitUsage || !strings.Contains(msg, "--stop-signal") || strings.Contains(msg, "\n") {
					t.Errorf("%s --stop-signal %q: exit %d %q, want 2 and one line naming --stop-signal", cmd[0], c.in, code, msg)
				}
				continue
			}
			if code != exitOK {
				t.Errorf("%s --stop-signal %q: exit %d: %s", cmd[0], c.in, code, msg)
				continue
			}
			text := out
			if cmd[0] == "generate" {
				b, err := os.ReadFile(filepath.Join(dir, "sigtest.service"))
				if err != nil {
					t.Fatal(err)
				}
				text = string(b)
			}
			if !strings.Contains(text, " --stop-signal="+c.unit+" ") {
				t.Errorf("%s --stop-signal %q: ExecStart= lacks --stop-signal=%s:\n%s", cmd[0], c.in, c.unit, text)
			}
		}
	}
}

// exitCode is the status main would exit with for err.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if ee, ok := err.(*exitError); ok {
		return ee.code
	}
	return exitUnexpected
}
