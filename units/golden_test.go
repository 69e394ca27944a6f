package units

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenSdlaunch is the sdlaunch path in the golden files; verify runs on a
// copy that points at an executable that exists.
const goldenSdlaunch = "/usr/bin/sdlaunch"

// goldenApps are representative configurations. Their commands exist on
// Debian 12 with python3-flask, gunicorn and nodejs installed, so
// systemd-analyze verify can check them.
func goldenApps() map[string]*App {
	readme := func() *App {
		return &App{
			Name:         "myapp",
			Listen:       []string{"127.0.0.1:8000"},
			SdlaunchPath: goldenSdlaunch,
			RunArgs:      []string{"--workers=4", "--chdir=/srv/myapp"}, // as install renders it
			Command:      []string{"/usr/bin/python3", "app.py"},
			Chdir:        "/srv/myapp",
			Renice:       true, // run's default --reload-nice
		}
	}
	strict := readme()
	strict.Hardening = HardeningStrict
	v253 := readme()
	v253.SystemdVersion = 253
	noRenice := readme()
	noRenice.RunArgs = []string{"--workers=4", "--reload-nice=0", "--chdir=/srv/myapp"}
	noRenice.Renice = false
	apps := map[string]*App{
		"readme":          readme(),
		"reload-nice-off": noRenice,
		"readme-strict":   strict,
		"readme-253":      v253,
		"gunicorn-named": {
			Name:         "shop-api",
			Listen:       []string{"http=[::]:80", "http=127.0.0.1:8080", "admin=unix:/run/shop-api/admin.sock", ":9100"},
			SdlaunchPath: goldenSdlaunch,
			RunArgs:      []string{"--workers=8", "--ready=notify", "--stop-signal=INT", "--graceful-timeout=1m0s", "--chdir=/srv/shop api"},
			TimeoutStop:  75 * time.Second, // as cmd resolves it for --graceful-timeout=1m
			Command:      []string{"/usr/bin/gunicorn", "--worker-class=sync", "shop.wsgi:app"},
			RunAs:        "www-data:www-data",
			Chdir:        "/srv/shop api",
			Env:          []string{"DJANGO_SETTINGS=shop.settings", "GREETING=hello world", "DISCOUNT=50%", "PRICE=$5", `QUOTED="x"`},
			EnvFile:      "/etc/shop-api/env",
			Description:  "Shop API at 100% (gunicorn)",
			After:        []string{"postgresql.service", "network-online.target"},
			Wants:        []string{"network-online.target"},
			Requires:     []string{"postgresql.service"},
			MemoryMax:    "1G",
			CPUQuota:     "150%",
			TasksMax:     "512",
			Watchdog:     30 * time.Second,
			SocketMode:   "0660",
			SocketGroup:  "www-data",
			Backlog:      1024,
		},
		"node-jit": {
			Name:         "chat",
			Listen:       []string{"0.0.0.0:3000"},
			SdlaunchPath: goldenSdlaunch,
			Command:      []string{"/usr/bin/node", "server.js", "--port", "from-env"},
			Chdir:        "/srv/chat",
		},
		"user-manager-off": {
			Name:         "devapp",
			Listen:       []string{"127.0.0.1:5000"},
			SdlaunchPath: goldenSdlaunch,
			RunArgs:      []string{"--workers=2"},
			Command:      []string{"/usr/bin/python3", "-m", "flask", "run"},
			Chdir:        "/home/dev/app",
			UserManager:  true,
			Hardening:    HardeningOff,
			TimeoutStop:  90 * time.Second,
		},
		// --user with the default profile (see hardening.go); run against a
		// real user manager by integration/units/user_test.go.
		"user-manager": {
			Name:         "devapp",
			Listen:       []string{"127.0.0.1:5000"},
			SdlaunchPath: goldenSdlaunch,
			RunArgs:      []string{"--workers=2", "--chdir=/home/dev/app"},
			Command:      []string{"/usr/bin/python3", "-m", "flask", "run"},
			Chdir:        "/home/dev/app",
			UserManager:  true,
		},
		"quoting": {
			Name:         "odd.name_1",
			Listen:       []string{"8000"},
			SdlaunchPath: goldenSdlaunch,
			Command:      []string{"/usr/bin/python3", "-c", `import sys; print("argv:", sys.argv[1:])`, "100%", "$HOME", `back\slash`, "", "it's", ";"},
			Chdir:        "/srv/odd",
		},
	}
	// what cmd resolves for the launcher's default timeouts (30s graceful,
	// 60s start)
	for _, a := range apps {
		if a.TimeoutStop == 0 {
			a.TimeoutStop = 45 * time.Second
		}
		if a.TimeoutStart == 0 {
			a.TimeoutStart = 90 * time.Second
		}
	}
	return apps
}

func TestGolden(t *testing.T) {
	for name, app := range goldenApps() {
		t.Run(name, func(t *testing.T) {
			files, err := app.Render()
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			var got bytes.Buffer
			for _, f := range files {
				got.WriteString("### " + f.Name + "\n")
				got.Write(f.Content)
			}
			path := filepath.Join("testdata", "golden", name+".units")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./units -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs from the rendered units (go test ./units -update to accept):\n--- got\n%s\n--- want\n%s", path, got.Bytes(), want)
			}
		})
	}
}

// writeForVerify writes the files into a fresh directory, pointing
// ExecStart=/ExecReload= at an executable stand-in for sdlaunch.
func writeForVerify(t *testing.T, files []File) (dir string) {
	t.Helper()
	dir = t.TempDir()
	fake := filepath.Join(dir, "bin", "sdlaunch")
	if err := os.MkdirAll(filepath.Dir(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unitDir := filepath.Join(dir, "units")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		c := bytes.ReplaceAll(f.Content, []byte(goldenSdlaunch), []byte(fake))
		if err := os.WriteFile(filepath.Join(unitDir, f.Name), c, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return unitDir
}

// TestGoldenVerify runs systemd-analyze verify on every golden
// configuration and fails on any diagnostic about our units.
func TestGoldenVerify(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	for name, app := range goldenApps() {
		t.Run(name, func(t *testing.T) {
			files, err := app.Render()
			if err != nil {
				t.Fatal(err)
			}
			dir := writeForVerify(t, files)
			args := []string{"verify", "--man=no"}
			env := append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice")
			if app.UserManager {
				args = append(args, "--user")
				env = append(env, "XDG_RUNTIME_DIR="+t.TempDir())
			}
			// Units for a newer systemd than the analyzer's may use keys it
			// does not know yet; only those are tolerated.
			var newer []string
			if app.systemdVersion() > hostSystemdVersion(t, analyze) {
				newer = []string{"notify-reload", "'ReloadSignal'"}
			}
			var ours []string
			for _, f := range files {
				args = append(args, filepath.Join(dir, f.Name))
				ours = append(ours, f.Name)
			}
			cmd := exec.Command(analyze, args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				for _, u := range ours {
					if strings.Contains(line, u) && !containsAny(line, newer) {
						t.Errorf("systemd-analyze verify: %s", line)
					}
				}
			}
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func hostSystemdVersion(t *testing.T, analyze string) int {
	t.Helper()
	out, err := exec.Command(analyze, "--version").Output()
	if err != nil {
		t.Fatalf("systemd-analyze --version: %v", err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	v, err := ParseSystemdVersion(strings.TrimPrefix(first, "systemd "))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
