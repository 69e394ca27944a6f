package main

import (
	"strings"
	"testing"

	"github.com/sdlaunch/sdlaunch/prefork"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

func TestCapacityCheck(t *testing.T) {
	roomy := capacity{nofile: 524288, nproc: 96362, openFDs: 8}
	cases := []struct {
		cp              capacity
		workers, surge  int
		refused, naming string
	}{
		{roomy, 1024, 0, "", ""},
		{roomy, 1024, 1024, "", ""},
		// 64 fds: 8 open + 64 headroom leave none for workers
		{capacity{nofile: 64, nproc: 1000, openFDs: 8}, 1, 0, "RLIMIT_NOFILE is 64", "--workers 1"},
		// 1024: (100+100)*2 + 8 + 64 = 472 fit; (250+250)*2 + 72 = 1072 do not
		{capacity{nofile: 1024, nproc: 1000, openFDs: 8}, 100, 0, "", ""},
		{capacity{nofile: 1024, nproc: 1000, openFDs: 8}, 250, 0, "RLIMIT_NOFILE is 1024", "--workers 250"},
		{capacity{nofile: 1024, nproc: 1000, openFDs: 8}, 100, 400, "RLIMIT_NOFILE is 1024", "--reload-surge 400"},
		// RLIMIT_NPROC counts the workers and the launcher's threads...
		{capacity{nofile: 524288, nproc: 100, openFDs: 8}, 30, 0, "", ""},
		{capacity{nofile: 524288, nproc: 100, openFDs: 8}, 40, 0, "RLIMIT_NPROC is 100", "--workers 40"},
		// ...except for root, and not when unlimited
		{capacity{nofile: 524288, nproc: 100, openFDs: 8, root: true}, 40, 0, "", ""},
		{capacity{nofile: 524288, nproc: unix.RLIM_INFINITY, openFDs: 8}, 1000, 0, "", ""},
	}
	for _, c := range cases {
		err := c.cp.check(prefork.Config{Workers: c.workers, ReloadSurge: c.surge})
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%+v, -w %d --reload-surge %d: %v", c.cp, c.workers, c.surge, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused) || !strings.Contains(err.Error(), c.naming) || exitCode(err) != exitUsage):
			t.Errorf("%+v, -w %d --reload-surge %d: %v, want exit 2 with %q and %q", c.cp, c.workers, c.surge, err, c.refused, c.naming)
		}
	}
}

// The hard cap holds for every command that takes launcher flags.
func TestWorkerCap(t *testing.T) {
	for _, flags := range [][]string{{"-w", "1025"}, {"-w", "100000"}, {"-w", "4", "--reload-surge", "1025"}} {
		app := newApp()
		var runErr error
		for _, cmd := range app.Commands {
			if cmd.Name == "run" {
				cmd.Action = func(ctx *cli.Context) error { _, runErr = launcherConfig(ctx, []string{"/bin/sh"}); return runErr }
			}
		}
		_ = app.Run(append(append([]string{"sdlaunch", "run"}, flags...), "--", "/bin/sh"))
		if exitCode(runErr) != exitUsage || !strings.Contains(runErr.Error(), "at most 1024") {
			t.Errorf("run %q: %v, want exit 2 naming the cap", flags, runErr)
		}
		args := append([]string{"generate", "--sdlaunch-path", "/usr/bin/sdlaunch", "--chdir", "/", "--listen", ":8000"}, flags...)
		if _, code, msg := runUnitCmd(t, append(args, "app", "--", "/bin/sh")...); code != exitUsage || !strings.Contains(msg, "at most 1024") {
			t.Errorf("generate %q: exit %d %q, want 2 naming the cap", flags, code, msg)
		}
	}
}

// A real launcher under `ulimit -n 64` refuses 40 workers before it binds
// or starts anything, instead of forking until EMFILE.
func TestRunRefusesWorkersBeyondNofile(t *testing.T) {
	port := freeTCPPort(t)
	sdl := sdlaunchBinary(t)
	out, errOut, code := runBinaryArgs(t, "/bin/sh", "-c", `ulimit -n 64 && exec "$0" "$@"`, sdl, "run", "-w", "40", "--listen", "127.0.0.1:"+itoa(port), "--", "/bin/sleep", "60")
	if code != exitUsage || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "--workers 40") || !strings.Contains(errOut, "RLIMIT_NOFILE is 64") {
		t.Errorf("run -w 40 under ulimit -n 64: exit %d, stdout %q, stderr %q; want 2 and one line naming --workers 40 and the limit", code, out, errOut)
	}
}
