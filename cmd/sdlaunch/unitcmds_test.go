package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runUnitCmd runs the CLI in-process and returns stdout and the exit status
// main would use.
func runUnitCmd(t *testing.T, args ...string) (string, int, string) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"sdlaunch"}, args...))
	if err == nil {
		return out.String(), exitOK, ""
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return out.String(), ee.code, ee.msg
	}
	return out.String(), exitUnexpected, err.Error()
}

func TestGenerateOutputDir(t *testing.T) {
	dir := t.TempDir()
	out, code, msg := runUnitCmd(t, "generate", "--output", dir, "--systemd-version", "252", "--sdlaunch-path", "/usr/bin/sdlaunch",
		"--listen", "127.0.0.1:8000", "--listen", "admin=unix:/run/myapp/admin.sock", "-w", "4", "--stop-signal", "int",
		"--chdir", "/srv/myapp", "--env", "GREETING=hello world", "myapp", "--", "sh", "-c", "echo $HOME 100%")
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, msg)
	}
	for _, f := range []string{"myapp.socket", "myapp-admin.socket", "myapp.service"} {
		if !strings.Contains(out, filepath.Join(dir, f)) {
			t.Errorf("output does not list %s:\n%s", f, out)
		}
	}
	svc, err := os.ReadFile(filepath.Join(dir, "myapp.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// --chdir is carried too, so workers follow a flipped symlink.
		"ExecStart=/usr/bin/sdlaunch run --workers=4 --stop-signal=INT --chdir=/srv/myapp --backlog=4096 -- ",
		` -c "echo $$HOME 100%%"` + "\n",
		"Sockets=myapp.socket myapp-admin.socket\n",
		`Environment="GREETING=hello world"` + "\n",
		"WorkingDirectory=/srv/myapp\n",
	} {
		if !strings.Contains(string(svc), want) {
			t.Errorf("myapp.service lacks %q:\n%s", want, svc)
		}
	}
	// the command was resolved through PATH to an absolute path
	if !strings.Contains(string(svc), " -- /") {
		t.Errorf("command not made absolute:\n%s", svc)
	}
	sock, err := os.ReadFile(filepath.Join(dir, "myapp-admin.socket"))
	if err != nil || !strings.Contains(string(sock), "FileDescriptorName=admin\n") || !strings.Contains(string(sock), "SocketMode=0660\n") {
		t.Errorf("myapp-admin.socket: %v\n%s", err, sock)
	}
}

func TestGenerateStdoutAndDefaults(t *testing.T) {
	// --hardening=off: the test binary (the default sdlaunch path) lives
	// under /tmp, which hardened units hide.
	out, code, msg := runUnitCmd(t, "generate", "--hardening=off", "--systemd-version", "253", "--listen", ":8000", "myapp", "--", "/bin/sh")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	self, _ := os.Executable()
	self, _ = filepath.EvalSymlinks(self)
	wd, _ := os.Getwd()
	for _, want := range []string{"### myapp.socket\n", "ListenStream=8000\n", "### myapp.service\n", "Type=notify-reload\n",
		"ExecStart=" + self + " run --chdir=" + wd + " --backlog=4096 -- /bin/sh\n", "TimeoutStopSec=45s\n", "TimeoutStartSec=90s\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("generate output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ExecReload=") {
		t.Errorf("253 must not get ExecReload=:\n%s", out)
	}
}

func TestUnitCommandsRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	base := []string{"generate", "--output", dir, "--systemd-version", "252", "--sdlaunch-path", "/usr/bin/sdlaunch"}
	cases := map[string][]string{
		"port":             {"--listen", ":70000", "app", "--", "/bin/sh"},
		"dup":              {"--listen", ":80", "--listen", "[::]:80", "app", "--", "/bin/sh"},
		"name":             {"--listen", ":80", "my app", "--", "/bin/sh"},
		"signal":           {"--listen", ":80", "--stop-signal", "SIGNOPE", "app", "--", "/bin/sh"},
		"command":          {"--listen", ":80", "app", "--", "no-such-command-xyz"},
		"relative":         {"--listen", ":80", "app", "--", "./no-such"},
		"stop-timeout":     {"--listen", ":80", "--graceful-timeout", "40s", "--timeout-stop-sec", "40s", "app", "--", "/bin/sh"},
		"newline":          {"--listen", ":80", "app", "--", "/bin/sh", "a\nb"},
		"nul":              {"--listen", ":80", "--description", "a\x00b", "app", "--", "/bin/sh"},
		"no-listen":        {"app", "--", "/bin/sh"},
		"no-command":       {"--listen", ":80", "app", "--"},
		"no-name":          {"--listen", ":80"},
		"flag-after-name":  {"--listen", ":80", "app", "-w", "2", "--", "/bin/sh"},
		"hardening":        {"--listen", ":80", "--hardening", "max", "app", "--", "/bin/sh"},
		"ready-mode":       {"--listen", ":80", "--ready", "sometimes", "app", "--", "/bin/sh"},
		"workers":          {"--listen", ":80", "-w", "0", "app", "--", "/bin/sh"},
		"unknown-flag":     {"--listen", ":80", "--no-such-flag", "app", "--", "/bin/sh"},
		"user-and-run-as":  {"--listen", ":80", "--user", "--run-as", "nobody", "app", "--", "/bin/sh"},
		"tmp-chdir":        {"--listen", ":80", "--chdir", "/tmp", "app", "--", "/bin/sh"},
		"env":              {"--listen", ":80", "--env", "NOEQUALS", "app", "--", "/bin/sh"},
		"old-systemd":      {"--listen", ":80", "--systemd-version", "200", "app", "--", "/bin/sh"},
		"trailing-bslash":  {"--listen", ":80", "--description", `x\`, "app", "--", "/bin/sh"},
		"start-timeout":    {"--listen", ":80", "--start-timeout", "2m", "--timeout-start-sec", "1m", "app", "--", "/bin/sh"},
		"socket-mode":      {"--listen", "unix:/run/a.sock", "--socket-mode", "rw", "app", "--", "/bin/sh"},
		"memory":           {"--listen", ":80", "--memory-max", "1 GB", "app", "--", "/bin/sh"},
		"dependency":       {"--listen", ":80", "--after", "postgres", "app", "--", "/bin/sh"},
		"listen-hostname":  {"--listen", "example.com:80", "app", "--", "/bin/sh"},
		"listen-relative":  {"--listen", "unix:app.sock", "app", "--", "/bin/sh"},
		"install-bad-port": nil, // see below
	}
	for name, args := range cases {
		full := append(append([]string{}, base...), args...)
		if args == nil {
			full = []string{"install", "--dry-run", "--sdlaunch-path", "/usr/bin/sdlaunch", "--listen", ":0", "app", "--", "/bin/sh"}
		}
		_, code, msg := runUnitCmd(t, full...)
		if code != exitUsage {
			t.Errorf("%s: exit %d (%s), want 2", name, code, msg)
		}
		if msg == "" || strings.Contains(msg, "\n") {
			t.Errorf("%s: want one line naming the value, got %q", name, msg)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad input wrote %d files", len(entries))
	}
	for _, args := range [][]string{{"status"}, {"status", "a", "b"}, {"logs", "bad name"}, {"logs", "-p", "loud", "app"}, {"uninstall", "a/b"}, {"restart"}, {"reload", "x y"}} {
		if _, code, msg := runUnitCmd(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d (%s), want 2", args, code, msg)
		}
	}
}

func TestInstallDryRunWritesNothing(t *testing.T) {
	// An explicit --chdir: the default (the working directory) may be under
	// /tmp, which the hardened unit would hide, wherever CI checks us out.
	out, code, msg := runUnitCmd(t, "install", "--dry-run", "--chdir", "/", "--sdlaunch-path", "/usr/bin/sdlaunch", "--systemd-version", "252", "--listen", "127.0.0.1:8000", "-w", "4",
		"sdlaunch-dryrun-test", "--", "/bin/sh", "app.py")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	for _, want := range []string{"sdlaunch-dryrun-test.socket", "sdlaunch-dryrun-test.service", "enable ", "ExecStart="} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat("/etc/systemd/system/sdlaunch-dryrun-test.service"); err == nil {
		t.Error("--dry-run wrote a unit file")
	}
}

func TestInstallWithoutSystemd(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd is running here; the container tests in integration/units cover install")
	}
	_, code, msg := runUnitCmd(t, "install", "--chdir", "/", "--sdlaunch-path", "/usr/bin/sdlaunch", "--listen", "127.0.0.1:8000", "nosystemd", "--", "/bin/sh")
	if code != exitUnexpected || !strings.Contains(msg, "systemd is not running") || !strings.Contains(msg, "generate") {
		t.Errorf("exit %d, %q; want 1 and a pointer to generate", code, msg)
	}
}
