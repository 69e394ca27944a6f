package units

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validApp() *App {
	return &App{
		Name:         "myapp",
		Listen:       []string{"127.0.0.1:8000"},
		SdlaunchPath: "/usr/bin/sdlaunch",
		Command:      []string{"/usr/bin/python3", "app.py"},
		Chdir:        "/srv/myapp",
		TimeoutStop:  45 * time.Second,
		TimeoutStart: 90 * time.Second,
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"myapp", "my-app", "my_app.v2", "a:b", "A1", "_x", `esc\x2d`} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", ".x", "a b", "a/b", "tmpl@", "a@b", "x.service", "y.socket", "nl\n", "nul\x00", "ü", strings.Repeat("a", 190)} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) accepted it", bad)
		} else if !IsValidation(err) {
			t.Errorf("ValidateName(%q): %v is not a ValidationError", bad, err)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	cases := map[string]func(a *App){
		"no-stop-timeout":  func(a *App) { a.TimeoutStop = 0 },
		"no-start-timeout": func(a *App) { a.TimeoutStart = 0 },
		"relative-cmd":     func(a *App) { a.Command[0] = "python3" },
		"no-cmd":           func(a *App) { a.Command = nil },
		"nl-arg":           func(a *App) { a.Command = append(a.Command, "x\ny") },
		"nul-arg":          func(a *App) { a.Command = append(a.Command, "x\x00y") },
		"nl-env":           func(a *App) { a.Env = []string{"A=1\n2"} },
		"env-no-eq":        func(a *App) { a.Env = []string{"A"} },
		"env-bad-key":      func(a *App) { a.Env = []string{"1A=x"} },
		"nl-description":   func(a *App) { a.Description = "a\nb" },
		"relative-chdir":   func(a *App) { a.Chdir = "srv" },
		"chdir-tmp":        func(a *App) { a.Chdir = "/tmp/app" },
		"cmd-var-tmp":      func(a *App) { a.Command[0] = "/var/tmp/app/bin" },
		"run-as-root":      func(a *App) { a.RunAs = "root" },
		"run-as-bad":       func(a *App) { a.RunAs = "a b" },
		"user-run-as":      func(a *App) { a.UserManager = true; a.RunAs = "www-data" },
		"memory":           func(a *App) { a.MemoryMax = "lots" },
		"memory-0":         func(a *App) { a.MemoryMax = "0" },
		"memory-0M":        func(a *App) { a.MemoryMax = "0.0M" },
		"memory-0pct":      func(a *App) { a.MemoryMax = "0%" },
		"memory-101pct":    func(a *App) { a.MemoryMax = "101%" },
		"tasks-0":          func(a *App) { a.TasksMax = "0" },
		"tasks-0pct":       func(a *App) { a.TasksMax = "0%" },
		"tasks-200pct":     func(a *App) { a.TasksMax = "200%" },
		"cpu-0":            func(a *App) { a.CPUQuota = "0%" },
		"cpu":              func(a *App) { a.CPUQuota = "2" },
		"tasks":            func(a *App) { a.TasksMax = "-1" },
		"hardening":        func(a *App) { a.Hardening = "paranoid" },
		"jit":              func(a *App) { a.JIT = "maybe" },
		"socket-mode":      func(a *App) { a.SocketMode = "0999" },
		"socket-user":      func(a *App) { a.SocketUser = "a:b" },
		"dep":              func(a *App) { a.After = []string{"postgresql"} },
		"watchdog":         func(a *App) { a.Watchdog = time.Millisecond },
		"sdlaunch-dollar":  func(a *App) { a.SdlaunchPath = "/opt/$x/sdlaunch" },
		"sdlaunch-rel":     func(a *App) { a.SdlaunchPath = "sdlaunch" },
		"old-systemd":      func(a *App) { a.SystemdVersion = 219 },
		"dup-listen":       func(a *App) { a.Listen = []string{":80", ":80"} },
		"run-arg-nl":       func(a *App) { a.RunArgs = []string{"--workers=4\n"} },
	}
	for name, mutate := range cases {
		a := validApp()
		mutate(a)
		err := a.Validate()
		if err == nil {
			t.Errorf("%s: Validate accepted %+v", name, a)
			continue
		}
		if !IsValidation(err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: want a one-line ValidationError, got %q", name, err)
		}
		if _, err := a.Render(); err == nil {
			t.Errorf("%s: Render accepted what Validate refused", name)
		}
	}
	if err := validApp().Validate(); err != nil {
		t.Errorf("valid app refused: %v", err)
	}
	off := validApp()
	off.Hardening = HardeningOff
	off.Chdir = "/tmp/app"
	if err := off.Validate(); err != nil {
		t.Errorf("--hardening=off must allow /tmp: %v", err)
	}
}

func TestResolveCommand(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "app")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	for in, want := range map[string]string{"app": exe, "./app": exe, exe: exe, "sub/../app": exe} {
		got, err := ResolveCommand(in, dir)
		if err != nil || got != want {
			t.Errorf("ResolveCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"nope", "./nope", "./data", dir, "", "a\nb"} {
		if got, err := ResolveCommand(bad, dir); err == nil || !IsValidation(err) {
			t.Errorf("ResolveCommand(%q) = %q, %v; want a ValidationError", bad, got, err)
		}
	}
}

func TestParseSystemdVersion(t *testing.T) {
	for in, want := range map[string]int{"252.39-1~deb12u2": 252, `"v255.4-1ubuntu8"`: 255, "256": 256, " 253.1 ": 253} {
		if got, err := ParseSystemdVersion(in); err != nil || got != want {
			t.Errorf("ParseSystemdVersion(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "v", "systemd"} {
		if _, err := ParseSystemdVersion(bad); err == nil {
			t.Errorf("ParseSystemdVersion(%q) accepted", bad)
		}
	}
}

func TestServiceSemantics(t *testing.T) {
	a := validApp()
	a.TimeoutStop = 35 * time.Second
	a.TimeoutStart = 150 * time.Second
	a.Watchdog = 10 * time.Second
	files, err := a.Render()
	if err != nil {
		t.Fatal(err)
	}
	svc := string(files[len(files)-1].Content)
	for _, want := range []string{"TimeoutStopSec=35s\n", "TimeoutStartSec=150s\n", "WatchdogSec=10s\n", "WatchdogSignal=SIGKILL\n", "Type=notify\n",
		"ExecReload=/usr/bin/sdlaunch reload-wait $MAINPID\n", "RestartPreventExitStatus=2 69\n", "KillMode=mixed\n",
		"NotifyAccess=main\n", "Restart=on-failure\n", "DynamicUser=yes\n", "MemoryDenyWriteExecute=yes\n"} {
		if !strings.Contains(svc, want) {
			t.Errorf("service lacks %q:\n%s", want, svc)
		}
	}
	a.SystemdVersion = 254
	a.Command = []string{"/usr/bin/env", "node", "server.js"}
	files, err = a.Render()
	if err != nil {
		t.Fatal(err)
	}
	svc = string(files[len(files)-1].Content)
	if !strings.Contains(svc, "Type=notify-reload\n") || strings.Contains(svc, "ExecReload=") {
		t.Errorf("systemd 254 wants Type=notify-reload without ExecReload=:\n%s", svc)
	}
	if !strings.Contains(svc, "MemoryDenyWriteExecute=no\n") {
		t.Errorf("node behind env must turn MemoryDenyWriteExecute off:\n%s", svc)
	}
	a.Chdir = "/home/me/app"
	files, _ = a.Render()
	if svc = string(files[len(files)-1].Content); !strings.Contains(svc, "ProtectHome=read-only\n") {
		t.Errorf("an app under /home needs ProtectHome=read-only:\n%s", svc)
	}
}

func TestValidateAcceptsLimits(t *testing.T) {
	for _, v := range []string{"1", "512M", "1.5G", "100%", "50%", "infinity"} {
		a := validApp()
		a.MemoryMax, a.TasksMax = v, strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(v, "M"), "G"), ".5")
		if err := a.Validate(); err != nil {
			t.Errorf("--memory-max %s --tasks-max %s: %v", a.MemoryMax, a.TasksMax, err)
		}
	}
	for _, q := range []string{"1%", "150%", "0.5%"} {
		a := validApp()
		a.CPUQuota = q
		if err := a.Validate(); err != nil {
			t.Errorf("--cpu-quota %s: %v", q, err)
		}
	}
}
