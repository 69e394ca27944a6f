package launcher

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The user reports that started the project (shared/seeds), replayed.

// Seed 002: gunicorn respawned a Flask app that cannot boot forever. Under
// sdlaunch, with gunicorn as the README documents it (--preload, so the app
// is imported by the process sdlaunch supervises), the launcher gives up
// with 69 in bounded time, naming the app's own error; with its
// configuration the same app serves. (Without --preload the failure stays
// inside gunicorn's arbiter, which respawns its worker itself: no outside
// supervisor can see it; the README says so.)
func TestSeed002AppThatCannotBootExits69(t *testing.T) {
	requireTool(t, "/usr/bin/gunicorn", "gunicorn")
	requirePythonModule(t, "flask", "python3-flask")
	dir := filepath.Join(bin.root, "integration", "launcher", "testdata", "seed002")
	recipes := map[string]struct {
		args    []string
		command []string
	}{
		"preload-notify": {[]string{"--ready", "notify"}, []string{"/usr/bin/gunicorn", "--preload", "-w", "1", "app:app"}},
		// A --ready-after far longer than any boot: the failure comes before
		// readiness however slow the machine (with the default 1s, a
		// gunicorn that takes longer to fail would count as ready).
		"preload-alive": {[]string{"--ready-after", "10m"}, []string{"/usr/bin/gunicorn", "--preload", "-w", "1", "app:app"}},
	}
	for name, r := range recipes {
		t.Run(name, func(t *testing.T) {
			port := freePort(t)
			args := append([]string{"-w", "2", "--graceful-timeout", "5s"}, r.args...)
			env := []string{"PYTHONDONTWRITEBYTECODE=1"}
			began := time.Now()
			l := start(t, spec{Args: args, Command: r.command, Dir: dir, Env: env, Port: port})
			if code := l.waitExit(2 * time.Minute); code != 69 {
				t.Fatalf("exit status %d for an app that cannot boot, want 69", code)
			}
			t.Logf("gave up after %s", time.Since(began).Round(time.Millisecond))
			l.waitOutput(30 * time.Second)
			l.waitStderr(0, `^sdlaunch: workers could not boot: .*3 times in a row`, time.Second)
			if _, line := l.waitStderr(0, `Failed to load configuration`, time.Second); !strings.HasPrefix(line, "[w") {
				t.Errorf("the app's error line is not tagged with its worker: %q", line)
			}
			l.assertGone()

			// The same app, configured, on the same port.
			ok := start(t, spec{Args: args, Command: r.command, Dir: dir, Env: append(env, "FLASK_APP_NAME=seed002"), Port: port})
			ok.waitServing("/", 30*time.Second)
			if body := ok.mustGet("/"); !strings.Contains(body, `"app":"seed002"`) {
				t.Errorf("GET / = %q", body)
			}
			ok.signal(syscall.SIGTERM)
			if code := ok.waitExit(20 * time.Second); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}
		})
	}
}

// Seed 000: restarting the Flask dev server under supervisord failed with
// EADDRINUSE because an orphaned child kept the port. The app, unmodified
// (app.run with a fixed host and port), is restarted back to back on the
// same address: every start binds, serves, and after every stop nothing
// holds the port.
func TestSeed000RestartsNeverHitAddressInUse(t *testing.T) {
	requireTool(t, "/usr/bin/python3", "python3")
	requirePythonModule(t, "flask", "python3-flask")
	dir := filepath.Join(bin.root, "contrib", "examples", "flask-seed")
	port := freePort(t)
	for i := 1; i <= 3; i++ {
		l := start(t, spec{
			Args:    []string{"-w", "2", "--stop-signal", "INT", "--ready-after", "300ms", "--graceful-timeout", "5s"},
			Command: []string{"/usr/bin/python3", "app.py"},
			Dir:     dir,
			Env:     []string{"PYTHONDONTWRITEBYTECODE=1"},
			Port:    port, // every restart on the same address
		})
		l.waitServing("/", 30*time.Second)
		l.distinctPids("/", 2, 20*time.Second)
		l.signal(syscall.SIGTERM)
		if code := l.waitExit(20 * time.Second); code != 0 {
			t.Fatalf("restart %d: exit status %d after SIGTERM, want 0", i, code)
		}
		l.waitOutput(30 * time.Second)
		if l.countStderr("Address already in use") > 0 {
			t.Fatalf("restart %d: %q in the output", i, "Address already in use")
		}
		assertNoLeftovers(t, l.id, 5*time.Second)
		if !portFree(port) {
			t.Fatalf("restart %d: port %d still held after the launcher exited", i, port)
		}
	}
}
