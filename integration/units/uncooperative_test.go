package units

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 8 under a real systemd 252: apps that never send an honest READY=1
// and do not drain, installed with default options, lose no request across
// systemctl restarts and reloads under load, because the launcher looks at
// them (readiness: a process of the worker's group waits on the socket;
// stops: the signal goes out at a moment with no request in progress)
// from inside the generated unit's sandbox: a DynamicUser with
// NoNewPrivileges=, the SystemCallFilter=, ProtectProc=invisible.

// copyApps copies files (paths relative to the module root) into dir,
// readable by a DynamicUser.
func copyApps(t *testing.T, dir string, files ...string) {
	t.Helper()
	root := moduleRoot(t)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUncooperativeAppsLoseNothingUnderSystemd(t *testing.T) {
	requireEnv(t)
	dir := newWorkDir(t)
	buildInto(t, dir)
	copyApps(t, dir, "contrib/examples/flask-seed/app.py", "integration/apps/node_nosignal.js", "integration/apps/python_nodrain.py")
	b := bootBox(t, dir)
	sdl := filepath.Join(dir, "sdlaunch")
	const rounds = 10
	cases := []struct {
		name  string
		flags []string
		cmd   []string
	}{
		// Seed 000's Flask app, unmodified, with the default stop signal
		// (TERM): Werkzeug has no handler for it and dies at once, at a
		// moment the launcher chose with nothing in progress. Not INT, as
		// in its supervisord configuration: CPython raises
		// KeyboardInterrupt at its next step, after which Werkzeug may
		// still accept one more connection and drop it, and a last worker
		// under this load is rarely seen idle and waiting (measured: 1
		// request reset in 50 restarts; README, the per-app table).
		{"seed000", nil, []string{"/usr/bin/python3", filepath.Join(dir, "app.py")}},
		{"nodenosig", nil, []string{"/usr/bin/node", filepath.Join(dir, "node_nosignal.js")}},
		{"pynodrain", nil, []string{"/usr/bin/python3", filepath.Join(dir, "python_nodrain.py")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port := freePort(t, 21000, 24999)
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			args := append([]string{sdl, "install", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "-w", "2"}, c.flags...)
			args = append(append(args, c.name, "--"), c.cmd...)
			if out, errOut, code := b.run(args...); code != 0 {
				t.Fatalf("install: exit %d\n%s%s", code, out, errOut)
			}
			defer b.run(sdl, "uninstall", c.name)
			get(t, url, 30*time.Second)
			stop := startLoad(t, url)
			for i := range rounds {
				if out, errOut, code := b.run("systemctl", "restart", c.name+".service"); code != 0 {
					t.Fatalf("systemctl restart %d: exit %d\n%s%s", i+1, code, out, errOut)
				}
			}
			restarts := stop()
			t.Logf("%d systemctl restarts under load: %s", rounds, restarts)
			checkLoad(t, restarts, 100)
			stop = startLoad(t, url)
			for i := range rounds {
				if out, errOut, code := b.run("systemctl", "reload", c.name+".service"); code != 0 {
					t.Fatalf("systemctl reload %d: exit %d\n%s%s", i+1, code, out, errOut)
				}
			}
			reloads := stop()
			t.Logf("%d systemctl reloads under load: %s", rounds, reloads)
			checkLoad(t, reloads, 100)
			st := b.mustRun("systemctl", "show", "-p", "NRestarts,ActiveState,StatusText", c.name+".service")
			if !strings.Contains(st, "NRestarts=0") || !strings.Contains(st, "ActiveState=active") || !strings.Contains(st, fmt.Sprintf("generation %d", rounds+1)) {
				t.Errorf("after %d restarts and %d reloads: %s", rounds, rounds, st)
			}
			if strings.Contains(st, "readiness not observable") {
				t.Errorf("the launcher could not look at its workers inside the unit's sandbox: %s", st)
			}
		})
	}
}

// A reload to code whose workers die 1.1 s after start rolls back
// (systemctl reload and sdlaunch reload exit 1) and one to code that takes
// 3 s to import waits for the real readiness: with default options, under
// load, and not one request fails. Before, readiness was a 1 s timer: the
// first was declared ready and the old generation retired just before the
// new one died, the second was retired mid-import.
func TestReloadWaitsForRealReadinessUnderSystemd(t *testing.T) {
	lb := newLifeBox(t)
	copyApps(t, lb.dir, "integration/apps/die_late.py", "integration/apps/slow_import.py", "integration/apps/python_nodrain.py")
	port := freePort(t, 21000, 24999)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	const name = "realready"
	script := func(app string) string {
		return fmt.Sprintf("#!/bin/sh\nexec /usr/bin/python3 %s\n", filepath.Join(lb.dir, app))
	}
	lb.deploy(t, script("python_nodrain.py"))
	lb.mustInstall(t, name, port, []string{"-w", "2"}, lb.app)
	get(t, url, 30*time.Second)
	stop := startLoad(t, url)

	lb.deploy(t, script("die_late.py"))
	out, errOut, code, took := lb.reload(name)
	if code != 1 {
		t.Fatalf("sdlaunch reload to code that dies 1.1 s after start: exit %d in %s, want 1\n%s%s", code, took, out, errOut)
	}
	if _, _, code := lb.run("systemctl", "reload", name+".service"); code == 0 {
		t.Fatal("systemctl reload to code that dies 1.1 s after start exited 0")
	}
	if st := lb.show(t, name+".service", "ActiveState")["ActiveState"]; st != "active" {
		t.Fatalf("service %s after the rolled-back reloads", st)
	}

	lb.deploy(t, script("slow_import.py"))
	out, errOut, code, took = lb.reload(name)
	if code != 0 {
		t.Fatalf("sdlaunch reload to code that imports for 3 s: exit %d\n%s%s", code, out, errOut)
	}
	if took < 3*time.Second {
		t.Errorf("sdlaunch reload returned after %s, before the new workers could have imported (3 s)", took)
	}
	res := stop()
	t.Logf("two failed reloads and a slow one under load: %s", res)
	checkLoad(t, res, 50)
}

// Seed 002 as its user runs it: gunicorn without --preload, whose app
// calls sys.exit(2) at import. gunicorn's arbiter lives and respawns its
// worker forever; nothing ever accepts. sdlaunch install fails with the
// journal's last lines, the unit ends failed and is not restarted.
func TestSeed002WithoutPreloadFailsTheInstall(t *testing.T) {
	requireEnv(t)
	dir := newWorkDir(t)
	buildInto(t, dir)
	copyApps(t, dir, "integration/launcher/testdata/seed002/app.py", "integration/launcher/testdata/seed002/views.py")
	b := bootBox(t, dir)
	sdl := filepath.Join(dir, "sdlaunch")
	port := freePort(t, 21000, 24999)
	begin := time.Now()
	out, errOut, code := b.run(sdl, "install", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "-w", "2",
		"--start-timeout", "8s", "--chdir", dir, "seed002", "--", "/usr/bin/gunicorn", "-w", "1", "app:app")
	took := time.Since(begin)
	t.Logf("install exit %d after %s\n%s%s", code, took.Round(time.Millisecond), out, errOut)
	if code == 0 {
		t.Fatal("sdlaunch install of an app that cannot boot exited 0")
	}
	both := out + errOut
	// The service was started once, its workers timed out, the launcher
	// exited 69 and systemd failed the start without restarting it; then
	// install undid the first install (issue 9: a failed first install
	// leaves nothing enabled or listening).
	for _, want := range []string{
		"did not become ready within --start-timeout 8s", "Failed to load configuration",
		"Main process exited, code=exited, status=69/UNAVAILABLE", "Failed with result 'exit-code'",
		"nothing of seed002 is left enabled or listening",
	} {
		if !strings.Contains(both, want) {
			t.Errorf("install's output lacks %q", want)
		}
	}
	if n := strings.Count(both, "Starting seed002.service"); n != 1 {
		t.Errorf("seed002.service was started %d times, want once (no restart loop)", n)
	}
	if st := b.mustRun("systemctl", "show", "-p", "LoadState", "seed002.service"); !strings.Contains(st, "LoadState=not-found") {
		t.Errorf("seed002.service after the failed install: %q, want it removed", st)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("127.0.0.1:%d still accepts connections after the failed install", port)
	}
}
