package units

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// moduleRoot finds the directory of go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// buildInto builds sdlaunch and the Go test app into dir and copies the
// other test apps there, all readable by a DynamicUser.
func buildInto(t *testing.T, dir string) {
	t.Helper()
	root := moduleRoot(t)
	for _, b := range [][2]string{{"sdlaunch", "./cmd/sdlaunch"}, {"goapp", "./integration/units/testdata/goapp"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1])
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	for _, f := range []string{"flaskapp.py", "wsgiapp.py", "server.js"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// get fetches url from the host, retrying connection errors until the
// deadline (a restarting service queues, but a socket being re-bound
// refuses).
func get(t *testing.T, url string, within time.Duration) string {
	t.Helper()
	// A new connection each time: one kept alive (http.DefaultTransport
	// pools them) would reach the worker that accepted it, which may be
	// one a reload retired and that is still finishing.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("status %d, %v: %s", resp.StatusCode, rerr, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var workerRe = regexp.MustCompile(`worker=(\d+) generation=(\d+) pid=(\d+)`)

// TestUnitsInContainer installs and operates apps in one container; the
// subtests run in order and build on each other.
func TestUnitsInContainer(t *testing.T) {
	requireEnv(t)
	dir := newWorkDir(t)
	buildInto(t, dir)
	b := bootBox(t, dir)
	sdl := filepath.Join(dir, "sdlaunch")
	unitDir := "/etc/systemd/system"
	goPort := freePort(t, 18000, 18999)
	goURL := fmt.Sprintf("http://127.0.0.1:%d/", goPort)
	fast := []string{"--ready-after=200ms", "--graceful-timeout=5s"}

	t.Run("BadInputExits2AndWritesNothing", func(t *testing.T) {
		cases := [][]string{
			{"--listen", "127.0.0.1:70000", "bad1", "--", "/usr/bin/python3", "x.py"},
			{"--listen", "127.0.0.1:8000", "--listen", "127.0.0.1:8000", "bad2", "--", "/usr/bin/python3"},
			{"--listen", "127.0.0.1:8000", "bad/3", "--", "/usr/bin/python3"},
			{"--listen", "127.0.0.1:8000", "--stop-signal", "SIGNOPE", "bad4", "--", "/usr/bin/python3"},
			{"--listen", "127.0.0.1:8000", "bad5", "--", "no-such-command-xyz"},
			{"--listen", "127.0.0.1:8000", "--graceful-timeout", "60s", "--timeout-stop-sec", "60s", "bad6", "--", "/usr/bin/python3"},
			{"--listen", "127.0.0.1:8000", "--env", "A=b\nc", "bad7", "--", "/usr/bin/python3"},
			{"--listen", "127.0.0.1:8000", "bad8", "--", "/usr/bin/python3", "arg\nwith newline"},
		}
		for _, args := range cases {
			out, errOut, code := b.run(append([]string{sdl, "install"}, args...)...)
			if code != 2 {
				t.Errorf("install %q: exit %d, want 2\n%s%s", args, code, out, errOut)
			}
			if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) != 1 || errOut == "" {
				t.Errorf("install %q: want one line on stderr, got %q", args, errOut)
			}
		}
		ls := b.mustRun("sh", "-c", "ls -A "+unitDir+" | grep '^bad' || true")
		if strings.TrimSpace(ls) != "" {
			t.Errorf("bad input left files in %s: %s", unitDir, ls)
		}
	})

	t.Run("DryRunChangesNothing", func(t *testing.T) {
		out := b.mustRun(sdl, "install", "--dry-run", "--chdir", "/", "--listen", "127.0.0.1:8000", "-w", "4", "myapp", "--", "/usr/bin/python3", "app.py")
		for _, want := range []string{"create /etc/systemd/system/myapp.socket", "ExecStart=" + sdl + " run --workers=4 --chdir=/ --backlog=4096 -- /usr/bin/python3 app.py", "ExecReload=" + sdl + " reload-wait $MAINPID"} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run output lacks %q:\n%s", want, out)
			}
		}
		if _, _, code := b.run("test", "-e", unitDir+"/myapp.service"); code == 0 {
			t.Error("--dry-run wrote myapp.service")
		}
	})

	t.Run("InstallGoApp", func(t *testing.T) {
		args := append([]string{sdl, "install", "--listen", fmt.Sprintf("127.0.0.1:%d", goPort), "-w", "2"}, fast...)
		out := b.mustRun(append(args, "goapp", "--", filepath.Join(dir, "goapp"))...)
		if !strings.Contains(out, "goapp.service is ready") {
			t.Errorf("install output:\n%s", out)
		}
		body := get(t, goURL, 5*time.Second)
		if !workerRe.MatchString(body) {
			t.Fatalf("GET %s = %q", goURL, body)
		}
		if got := strings.TrimSpace(b.mustRun("systemctl", "is-enabled", "goapp.socket", "goapp.service")); got != "enabled\nenabled" {
			t.Errorf("is-enabled: %q", got)
		}
		show := b.mustRun("systemctl", "show", "-p", "DynamicUser,Type,KillMode,NotifyAccess", "goapp.service")
		for _, want := range []string{"DynamicUser=yes", "Type=notify", "KillMode=mixed", "NotifyAccess=main"} {
			if !strings.Contains(show, want) {
				t.Errorf("systemctl show lacks %s:\n%s", want, show)
			}
		}
	})

	t.Run("Status", func(t *testing.T) {
		// both workers must be up before status can list them
		deadline := time.Now().Add(10 * time.Second)
		for {
			out := b.mustRun(sdl, "status", "goapp")
			workers := regexp.MustCompile(`(?m)^\s+\d+\s+worker\s+[01]\s+1\s+.*goapp$`).FindAllString(out, -1)
			if strings.Contains(out, "goapp.service: active (running)") && strings.Contains(out, "goapp.socket: active") &&
				strings.Contains(out, "main pid:") && len(workers) == 2 {
				t.Logf("status:\n%s", out)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("status never showed the service, socket and 2 workers:\n%s", out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("LogsPerWorker", func(t *testing.T) {
		// New connections, 8 at a time, until both workers have answered.
		seen := map[string]bool{}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for round := 0; round < 50 && len(seen) < 2; round++ {
			var wg sync.WaitGroup
			var mu sync.Mutex
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := client.Get(goURL + "hit")
					if err != nil {
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if m := workerRe.FindStringSubmatch(string(body)); m != nil {
						mu.Lock()
						seen[m[1]] = true
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
		}
		if !seen["0"] || !seen["1"] {
			t.Fatalf("400 requests did not reach both workers (saw %v)", seen)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			out := b.mustRun(sdl, "logs", "--worker", "1", "-n", "500", "goapp")
			if strings.Contains(out, "handled by worker 1") {
				if strings.Contains(out, "handled by worker 0") {
					t.Fatalf("logs --worker 1 shows worker 0's lines:\n%s", out)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("logs --worker 1 never showed worker 1's requests:\n%s", out)
			}
			time.Sleep(200 * time.Millisecond)
		}
		all := b.mustRun(sdl, "logs", "-n", "1000", "goapp")
		if !strings.Contains(all, "handled by worker 0") || !strings.Contains(all, "handled by worker 1") {
			t.Errorf("logs without --worker lacks a worker:\n%s", all)
		}
		if _, errOut, code := b.run(sdl, "logs", "-p", "loud", "goapp"); code != 2 {
			t.Errorf("logs -p loud: exit %d, want 2: %s", code, errOut)
		}
	})

	t.Run("Reload", func(t *testing.T) {
		before := workerRe.FindStringSubmatch(get(t, goURL, 5*time.Second))
		out := b.mustRun(sdl, "reload", "goapp")
		after := workerRe.FindStringSubmatch(get(t, goURL, 5*time.Second))
		if before == nil || after == nil || after[2] == before[2] {
			t.Errorf("reload did not roll a new generation: before %v after %v (%s)", before, after, out)
		}
	})

	t.Run("Restart", func(t *testing.T) {
		pid := func() string {
			return strings.TrimSpace(b.mustRun("systemctl", "show", "-p", "MainPID", "--value", "goapp.service"))
		}
		old := pid()
		b.mustRun(sdl, "restart", "goapp")
		if now := pid(); now == old || now == "0" {
			t.Errorf("MainPID %s -> %s after restart", old, now)
		}
		get(t, goURL, 5*time.Second)
	})

	t.Run("ReinstallUpdatesInPlace", func(t *testing.T) {
		args := append([]string{sdl, "install", "--listen", fmt.Sprintf("127.0.0.1:%d", goPort), "-w", "3"}, fast...)
		out := b.mustRun(append(args, "goapp", "--", filepath.Join(dir, "goapp"))...)
		if !strings.Contains(out, "wrote /etc/systemd/system/goapp.service") || strings.Contains(out, "wrote /etc/systemd/system/goapp.socket") {
			t.Errorf("reinstall with -w 3 should rewrite only the service:\n%s", out)
		}
		show := b.mustRun("systemctl", "show", "-p", "ExecStart", "goapp.service")
		if !strings.Contains(show, "--workers=3") {
			t.Errorf("ExecStart after reinstall: %s", show)
		}
		get(t, goURL, 5*time.Second)
	})

	t.Run("FlaskOnPrivilegedPortAsDynamicUser", func(t *testing.T) {
		port := freePort(t, 600, 1023)
		args := append([]string{sdl, "install", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "-w", "2", "--stop-signal=INT"}, fast...)
		b.mustRun(append(args, "flaskapp", "--", "/usr/bin/python3", "flaskapp.py")...)
		body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second)
		if !strings.HasPrefix(body, "flask worker=") {
			t.Errorf("flask app answered %q", body)
		}
		user := strings.TrimSpace(b.mustRun("sh", "-c", "ps -o user= -p $(systemctl show -p MainPID --value flaskapp.service)"))
		if user == "root" || user == "" {
			t.Errorf("flask launcher runs as %q, want a dynamic user", user)
		}
		b.mustRun(sdl, "uninstall", "flaskapp")
	})

	t.Run("HardenedGunicornAndNode", func(t *testing.T) {
		apps := []struct {
			name, want string
			cmd        []string
		}{
			{"gunicornapp", "gunicorn worker=", []string{"/usr/bin/gunicorn", "--workers=1", "wsgiapp:app"}},
			{"nodeapp", "node worker=", []string{"/usr/bin/node", "server.js"}},
		}
		for _, a := range apps {
			port := freePort(t, 61000, 61999)
			args := append([]string{sdl, "install", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "-w", "2"}, fast...)
			b.mustRun(append(append(args, a.name, "--"), a.cmd...)...)
			if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second); !strings.HasPrefix(body, a.want) {
				t.Errorf("%s answered %q", a.name, body)
			}
			b.mustRun(sdl, "uninstall", a.name)
		}
	})

	t.Run("StrictGoApp", func(t *testing.T) {
		port := freePort(t, 62000, 62999)
		args := append([]string{sdl, "install", "--hardening=strict", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "-w", "1"}, fast...)
		b.mustRun(append(args, "strictapp", "--", filepath.Join(dir, "goapp"))...)
		get(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second)
		// PrivateNetwork= hides the launcher's abstract control socket from
		// status: the workers come from the cgroup and /proc instead.
		out := b.mustRun(sdl, "status", "strictapp")
		if !regexp.MustCompile(`(?m)^\s+\d+\s+worker\s+0\s+1\s+-\s+.*goapp$`).MatchString(out) {
			t.Errorf("status of a strict app lacks its worker from the cgroup:\n%s", out)
		}
		// ExecReload= runs in the unit's network namespace, so reload-wait
		// still reaches the launcher.
		b.mustRun(sdl, "reload", "strictapp")
		get(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second)
		b.mustRun(sdl, "uninstall", "strictapp")
	})

	t.Run("FailedStartExitsNonZeroWithJournal", func(t *testing.T) {
		port := freePort(t, 61000, 61999)
		// --ready notify: an app that never sends READY=1 cannot be taken for
		// ready, however slowly python3 starts on a busy machine (with
		// --ready-after=200ms it was, and the install succeeded).
		args := []string{sdl, "install", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "-w", "1", "--boot-retries=1", "--ready", "notify", "--graceful-timeout=5s"}
		start := time.Now()
		out, errOut, code := b.run(append(args, "failapp", "--", "/usr/bin/python3", "-c", "import sys; print('failapp cannot start'); sys.exit(1)")...)
		t.Logf("failed install took %s", time.Since(start).Round(time.Millisecond))
		if code == 0 || code == 2 {
			t.Fatalf("install of a failing app: exit %d, want 1\n%s%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "last journal lines of failapp.service") || !strings.Contains(errOut, "failapp cannot start") {
			t.Errorf("stderr lacks the journal tail:\n%s", errOut)
		}
		// a failed first install removes what it wrote
		if _, _, code := b.run("test", "-e", unitDir+"/failapp.service"); code == 0 {
			t.Error("the failed install left failapp.service")
		}
	})

	t.Run("Uninstall", func(t *testing.T) {
		b.mustRun(sdl, "uninstall", "goapp")
		for _, f := range []string{"goapp.socket", "goapp.service"} {
			if _, _, code := b.run("test", "-e", unitDir+"/"+f); code == 0 {
				t.Errorf("%s still exists", f)
			}
		}
		out, _, _ := b.run("systemctl", "is-active", "goapp.socket", "goapp.service")
		if strings.Join(strings.Fields(out), " ") != "inactive inactive" {
			t.Errorf("after uninstall: is-active = %q", out)
		}
		client := &http.Client{Timeout: 2 * time.Second}
		if resp, err := client.Get(goURL); err == nil {
			resp.Body.Close()
			t.Errorf("port %d still answers after uninstall", goPort)
		}
		if _, errOut, code := b.run(sdl, "uninstall", "goapp"); code != 1 || !strings.Contains(errOut, "not installed") {
			t.Errorf("second uninstall: exit %d, %s", code, errOut)
		}
	})
}
