package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sdlaunch/sdlaunch/units/supervisor"
)

// runCLI runs the CLI in-process: stdout, stderr, the exit status main
// would use and its one-line message.
func runCLI(t *testing.T, args ...string) (string, string, int, string) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"sdlaunch"}, args...))
	if err == nil {
		return out.String(), errOut.String(), exitOK, ""
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return out.String(), errOut.String(), ee.code, ee.msg
	}
	return out.String(), errOut.String(), exitUnexpected, err.Error()
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "supervisord.conf")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// Every option an import emits is one of install's, meaning the same.
func TestImportFlagsAreInstallFlags(t *testing.T) {
	install := map[string]bool{}
	for _, f := range appFlags(true) {
		for _, n := range f.Names() {
			install["--"+n] = true
		}
	}
	for _, f := range supervisor.Flags() {
		if !install[f] {
			t.Errorf("the importer emits %s, which install does not have", f)
		}
	}
}

// The printed line, parsed back by a shell and given to generate, makes
// the same units as --generate does; both carry what the program says.
func TestImportPrintAndGenerate(t *testing.T) {
	conf := writeConf(t, `[supervisord]
environment=APP_ENV=production

[program:web]
command=/bin/sh -c 'exec sleep 1000' "100%%"
directory=/srv/web
user=www-data
environment=PRICE="$5",QUOTE="it's"
stopsignal=INT
stopwaitsecs=20
startretries=1
numprocs=2
process_name=web-%(process_num)s
`)
	extra := []string{"--", "--sdlaunch-path", "/usr/bin/sdlaunch", "--systemd-version", "252"}
	stdout, stderr, code, msg := runCLI(t, append([]string{"import-supervisor", "--listen", "127.0.0.1:8600", conf}, extra...)...)
	if code != 0 {
		t.Fatalf("import: exit %d: %s\n%s", code, msg, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || lines[0] != "# [program:web] "+conf+":4" || !strings.HasPrefix(lines[1], "sdlaunch install ") {
		t.Fatalf("stdout is not a comment and an install line:\n%s", stdout)
	}
	for _, want := range []string{conf + ":12: numprocs=2: the 2 processes become sdlaunch workers", conf + ":11: startretries=1: supervisord gives up after 2 failed starts"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	out, err := exec.Command("sh", "-c", "set -- "+lines[1]+"\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done").Output()
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if words[0] != "sdlaunch" || words[1] != "install" {
		t.Fatalf("line parses into %q", words)
	}
	byHand := t.TempDir()
	if _, _, code, msg := runCLI(t, append([]string{"generate", "--output", byHand}, words[2:]...)...); code != 0 {
		t.Fatalf("generate with the printed arguments: exit %d: %s", code, msg)
	}
	imported := t.TempDir()
	if _, stderr, code, msg := runCLI(t, append([]string{"import-supervisor", "--listen", "127.0.0.1:8600", "--generate", imported, conf}, extra...)...); code != 0 {
		t.Fatalf("import --generate: exit %d: %s\n%s", code, msg, stderr)
	}
	for _, f := range []string{"web.socket", "web.service"} {
		a, err1 := os.ReadFile(filepath.Join(byHand, f))
		b, err2 := os.ReadFile(filepath.Join(imported, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: by hand and by --generate differ (%v, %v):\n%s\n---\n%s", f, err1, err2, a, b)
		}
	}
	svc, _ := os.ReadFile(filepath.Join(imported, "web.service"))
	for _, want := range []string{
		"ExecStart=/usr/bin/sdlaunch run --workers=2 --boot-retries=2 --stop-signal=INT --graceful-timeout=20s --chdir=/srv/web --backlog=4096 -- /bin/sh -c \"exec sleep 1000\" 100%%\n",
		"User=www-data\n", "WorkingDirectory=/srv/web\n", "Environment=APP_ENV=production\n", "Environment=PRICE=$5\n", `"QUOTE=it's"`,
	} {
		if !strings.Contains(string(svc), want) {
			t.Errorf("web.service lacks %q:\n%s", want, svc)
		}
	}
	sock, _ := os.ReadFile(filepath.Join(imported, "web.socket"))
	if !strings.Contains(string(sock), "ListenStream=127.0.0.1:8600\n") {
		t.Errorf("web.socket:\n%s", sock)
	}
}

// supervisord's environment= quoting keeps commas inside a value, and so
// must install's --env (a repeatable flag that does not split on commas).
func TestImportEnvironmentWithComma(t *testing.T) {
	conf := writeConf(t, "[program:web]\ncommand=/bin/sh\ndirectory=/srv/web\nenvironment=GREETING=\"hello, world\",B=2\n")
	dir := t.TempDir()
	_, stderr, code, msg := runCLI(t, "import-supervisor", "--listen", "127.0.0.1:8601", "--generate", dir, conf, "--", "--sdlaunch-path", "/usr/bin/sdlaunch")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, msg, stderr)
	}
	svc, _ := os.ReadFile(filepath.Join(dir, "web.service"))
	if !strings.Contains(string(svc), `Environment="GREETING=hello, world"`+"\n") || !strings.Contains(string(svc), "Environment=B=2\n") {
		t.Errorf("web.service:\n%s", svc)
	}
}

func TestImportRefusesBadInput(t *testing.T) {
	cases := filepath.Join("..", "..", "units", "supervisor", "testdata", "cases")
	good := writeConf(t, "[program:a]\ncommand=/bin/sh\ndirectory=/srv/a\n[program:b]\ncommand=/bin/sh\ndirectory=/srv/b\n")
	missing := writeConf(t, "[program:a]\ncommand=/no/such/command\ndirectory=/srv/a\n")
	out := t.TempDir()
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"missing header":     {[]string{filepath.Join(cases, "missing-header", "x.conf")}, "x.conf:1: no [section] header"},
		"bad numprocs":       {[]string{filepath.Join(cases, "bad-numprocs", "x.conf")}, "x.conf:3: numprocs:"},
		"unknown expansion":  {[]string{filepath.Join(cases, "unknown-expansion", "x.conf")}, "x.conf:2: command: %(name)s cannot be expanded"},
		"unterminated quote": {[]string{filepath.Join(cases, "unterminated-quote", "x.conf")}, "x.conf:3: environment: no closing quotation"},
		"unreadable include": {[]string{filepath.Join(cases, "unreadable-include", "supervisord.conf")}, "supervisord.conf:3: files: " + filepath.Join(cases, "unreadable-include", "conf.d", "b.conf")},
		"include cycle":      {[]string{filepath.Join(cases, "include-cycle", "supervisord.conf")}, "supervisord.conf:3: files:"},
		"process_num port":   {[]string{filepath.Join(cases, "numprocs-port", "ports.conf")}, "ports.conf:4: command: uses %(process_num)s"},
		"no port":            {[]string{filepath.Join(cases, "seed000", "flask-app.conf")}, "flask-app.conf:7: command: the port is not in the command"},
		"no file":            {[]string{filepath.Join(out, "nope.conf")}, "nope.conf: cannot read the file: no such file or directory"},
		"no FILE":            {nil, "missing FILE"},
		"after FILE":         {[]string{good, "--listen", ":80"}, `"--listen" after FILE`},
		"both modes":         {[]string{"--install", "--generate", out, good}, "exclude each other"},
		"listen for two":     {[]string{"--listen", "127.0.0.1:80", good}, "--listen names the sockets of one program, and there are 2"},
		"install refuses":    {[]string{"--listen", "127.0.0.1:80", missing}, `supervisord.conf:1: [program:a]: command "/no/such/command"`},
		"bad extra":          {[]string{"--listen", "127.0.0.1:80", "--program", "a", good, "--", "--workers", "0"}, "supervisord.conf:1: [program:a]: --workers 0"},
		"not generate's":     {[]string{"--listen", "127.0.0.1:80", "--program", "a", good, "--", "--dry-run"}, "supervisord.conf:1: [program:a]: flag provided but not defined: -dry-run"},
	} {
		args := append([]string{"import-supervisor", "--generate", out}, c.args...)
		if name == "both modes" {
			args = append([]string{"import-supervisor"}, c.args...)
		}
		stdout, _, code, msg := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, message %q; want 2, nothing printed, one line containing %q", name, code, stdout, msg, c.want)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("bad input wrote %d files", len(entries))
	}
}

func TestImportInstallWithoutSystemd(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd is running here; integration/units installs an import for real")
	}
	conf := writeConf(t, "[program:a]\ncommand=/bin/sh\ndirectory=/srv/a\n")
	stdout, _, code, msg := runCLI(t, "import-supervisor", "--install", "--listen", "127.0.0.1:8602", conf, "--", "--sdlaunch-path", "/usr/bin/sdlaunch")
	if code != exitUnexpected || !strings.Contains(msg, "systemd is not running") {
		t.Errorf("exit %d, %q; want install's 1 and its message", code, msg)
	}
	if want := "# [program:a] " + conf + ":1\nsdlaunch install "; !strings.HasPrefix(stdout, want) {
		t.Errorf("stdout %q does not start with %q", stdout, want)
	}
}

func TestImportSelectsProgram(t *testing.T) {
	conf := writeConf(t, "[program:a]\ncommand=/bin/sh\ndirectory=/srv/a\n[program:b]\ncommand=/bin/sh -c b\ndirectory=/srv/b\n")
	stdout, _, code, msg := runCLI(t, "import-supervisor", "--program", "b", "--listen", "127.0.0.1:8603", conf, "--", "--sdlaunch-path", "/usr/bin/sdlaunch")
	want := "# [program:b] " + conf + ":4\nsdlaunch install --listen 127.0.0.1:8603 --workers 1 --chdir /srv/b --sdlaunch-path /usr/bin/sdlaunch b -- /bin/sh -c b\n"
	if code != 0 || stdout != want {
		t.Errorf("exit %d (%s), stdout:\n%s\nwant:\n%s", code, msg, stdout, want)
	}
	if !reflect.DeepEqual(strings.Count(stdout, "sdlaunch install"), 1) {
		t.Errorf("more than one program printed")
	}
}
