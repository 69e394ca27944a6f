package units

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Seed 000's supervisord program, imported with `sdlaunch import-supervisor
// --install` into a real systemd: the unmodified Flask app.run() behind
// /bin/bash -E -c ./run.py serves, and `systemctl restart` under load loses
// no request and never meets EADDRINUSE.

var flaskPidRe = regexp.MustCompile(`^flask-app pid=(\d+)\n$`)

// patient sends one request on a new connection, never retried, with a
// timeout that only bounds a hang.
var patient = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// patientGet is one request that must succeed.
func patientGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := patient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v: %q", url, resp.StatusCode, err, body)
	}
	return string(body)
}

// flaskPid asks the app once, on a new connection, which process answered.
func flaskPid(url string) (string, error) {
	resp, err := patient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	m := flaskPidRe.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || m == nil {
		return "", fmt.Errorf("status %d: %q", resp.StatusCode, body)
	}
	return m[1], nil
}

// awaitFlask asks until a process other than not answers (the first
// answers of a restarted socket may still queue); a failed request is
// the test's failure.
func awaitFlask(t *testing.T, url, not string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pid, err := flaskPid(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		if pid != not {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still answered by pid %s after %s", url, not, within)
		}
	}
}

// restart runs systemctl restart on unit, failing with its journal.
func restart(t *testing.T, b *box, unit string) {
	t.Helper()
	if out, errOut, code := b.run("systemctl", "restart", unit); code != 0 {
		t.Fatalf("systemctl restart %s: exit %d\n%s%s\njournal:\n%s", unit, code, out, errOut, b.mustRun("journalctl", "--no-pager", "-n", "300", "-u", unit))
	}
}

func TestImportSupervisorSeed000(t *testing.T) {
	requireEnv(t)
	dir := newWorkDir(t)
	buildInto(t, dir)
	root := moduleRoot(t)
	conf := filepath.Join(dir, "flask-app.conf")
	for src, dst := range map[string]string{
		filepath.Join(root, "units", "supervisor", "testdata", "cases", "seed000", "flask-app.conf"): conf,
		filepath.Join("testdata", "seed000", "run.py"):                                               filepath.Join(dir, "run.py"),
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := bootBox(t, dir)
	sdl := filepath.Join(dir, "sdlaunch")
	// The app where the seed's supervisord found it.
	b.mustRun("install", "-D", "-m", "0755", filepath.Join(dir, "run.py"), "/opt/techcoil/flask-app/run.py")
	port := freePort(t, 7000, 8999)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	start := time.Now()
	out, errOut, code := b.run(sdl, "import-supervisor", "--install", "--listen", fmt.Sprintf("127.0.0.1:%d", port), conf)
	t.Logf("import-supervisor --install: exit %d in %s\nstdout:\n%sstderr:\n%s", code, time.Since(start).Round(time.Millisecond), out, errOut)
	if code != 0 {
		t.Fatalf("import-supervisor --install: exit %d", code)
	}
	for _, want := range []string{"# [program:flask-app] " + conf + ":5\n", "sdlaunch install --listen 127.0.0.1:", " --stop-signal INT flask-app -- /bin/bash -E -c ./run.py\n", "installed flask-app"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	for _, want := range []string{conf + ":11: stopasgroup=true: sdlaunch always does this", "journalctl -u flask-app, sdlaunch logs flask-app"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	show := b.mustRun("systemctl", "show", "-p", "ExecStart,WorkingDirectory,ActiveState", "flask-app.service")
	for _, want := range []string{"--stop-signal=INT", "--chdir=/opt/techcoil/flask-app", "argv[]=" + sdl + " run --workers=1 ", "/bin/bash -E -c ./run.py", "WorkingDirectory=/opt/techcoil/flask-app", "ActiveState=active"} {
		if !strings.Contains(show, want) {
			t.Errorf("systemctl show lacks %q:\n%s", want, show)
		}
	}

	pid := awaitFlask(t, url, "", 2*time.Minute)
	stopLoad := startLoad(t, url)
	const restarts = 5
	for i := 1; i <= restarts; i++ {
		oldMain := strings.TrimSpace(b.mustRun("systemctl", "show", "-p", "MainPID", "--value", "flask-app.service"))
		began := time.Now()
		restart(t, b, "flask-app.service")
		newMain := strings.TrimSpace(b.mustRun("systemctl", "show", "-p", "MainPID", "--value", "flask-app.service"))
		if newMain == oldMain || newMain == "0" {
			t.Fatalf("restart %d: MainPID %s -> %s", i, oldMain, newMain)
		}
		// The new Flask process answers (and the old one is gone).
		pid = awaitFlask(t, url, pid, 2*time.Minute)
		t.Logf("restart %d: launcher %s -> %s, Flask pid %s, %s", i, oldMain, newMain, pid, time.Since(began).Round(time.Millisecond))
	}
	res := stopLoad()
	if res.Failed > 0 {
		t.Logf("journal of flask-app.service:\n%s", b.mustRun("journalctl", "--no-pager", "-n", "300", "-u", "flask-app.service"))
	}
	checkLoad(t, res, 200)
	if j := b.mustRun("journalctl", "--no-pager", "-u", "flask-app.service"); strings.Contains(j, "Address already in use") {
		t.Errorf("the journal has EADDRINUSE:\n%s", j)
	}
	b.mustRun(sdl, "uninstall", "flask-app")
}

// A gunicorn program: the port and the workers come from its command
// (-w 2 -b 127.0.0.1:PORT), gunicorn is left with -w 1 and no -b and
// serves the socket systemd owns; restarts under load lose nothing.
func TestImportSupervisorGunicorn(t *testing.T) {
	requireEnv(t)
	dir := newWorkDir(t)
	buildInto(t, dir)
	port := freePort(t, 13000, 14999)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	conf := filepath.Join(dir, "shop.conf")
	// stopwaitsecs only bounds a hang: a gunicorn stop on a busy machine can
	// take more than supervisord's default 10 s, and SIGKILL then cuts
	// requests.
	text := fmt.Sprintf("[program:shop]\ncommand=/usr/bin/gunicorn -w 2 -b 127.0.0.1:%d wsgiapp:app\ndirectory=%s\nstopwaitsecs=120\n", port, dir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	b := bootBox(t, dir)
	sdl := filepath.Join(dir, "sdlaunch")
	out, errOut, code := b.run(sdl, "import-supervisor", "--install", conf)
	t.Logf("import-supervisor --install: exit %d\nstdout:\n%sstderr:\n%s", code, out, errOut)
	if code != 0 {
		t.Fatalf("import-supervisor --install: exit %d", code)
	}
	want := fmt.Sprintf("sdlaunch install --listen 127.0.0.1:%d --workers 2 --chdir %s --graceful-timeout 120s shop -- /usr/bin/gunicorn -w 1 wsgiapp:app\n", port, dir)
	if !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q", want)
	}
	if show := b.mustRun("systemctl", "show", "-p", "ExecStart", "shop.service"); !strings.Contains(show, " run --workers=2 --graceful-timeout=2m0s --chdir="+dir+" --backlog=4096 -- /usr/bin/gunicorn -w 1 wsgiapp:app ") {
		t.Errorf("ExecStart: %s", show)
	}
	if body := patientGet(t, url); !strings.HasPrefix(body, "gunicorn worker=") {
		t.Fatalf("GET %s = %q", url, body)
	}
	stopLoad := startLoad(t, url)
	for i := 1; i <= 3; i++ {
		oldMain := strings.TrimSpace(b.mustRun("systemctl", "show", "-p", "MainPID", "--value", "shop.service"))
		restart(t, b, "shop.service")
		newMain := strings.TrimSpace(b.mustRun("systemctl", "show", "-p", "MainPID", "--value", "shop.service"))
		if newMain == oldMain || newMain == "0" {
			t.Fatalf("restart %d: MainPID %s -> %s", i, oldMain, newMain)
		}
		patientGet(t, url)
	}
	res := stopLoad()
	if res.Failed > 0 {
		t.Logf("journal of shop.service:\n%s", b.mustRun("journalctl", "--no-pager", "-n", "300", "-u", "shop.service"))
	}
	checkLoad(t, res, 200)
	if j := b.mustRun("journalctl", "--no-pager", "-u", "shop.service"); strings.Contains(j, "Connection in use") || strings.Contains(j, "Address already in use") {
		t.Errorf("gunicorn tried to bind the port itself:\n%s", j)
	}
	b.mustRun(sdl, "uninstall", "shop")
}
