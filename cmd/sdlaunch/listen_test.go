package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// listenSpellings is the one table of --listen spellings: `run` binds each
// and `generate` (which install shares) writes it as a socket unit. PORT is
// replaced by a free port, DIR by a directory for unix sockets.
var listenSpellings = []struct {
	in     string
	bound  string // what the worker sees on fd 3: LISTEN_FDNAMES, then getsockname
	stream string // ListenStream=; "" when refused
	unit   string // the socket unit, after the app name
}{
	{"127.0.0.1:PORT", "unknown 127.0.0.1:PORT", "127.0.0.1:PORT", ".socket"},
	{"localhost:PORT", "unknown 127.0.0.1:PORT", "127.0.0.1:PORT", ".socket"},
	{":PORT", "unknown [::]:PORT", "PORT", ".socket"},
	{"PORT", "unknown [::]:PORT", "PORT", ".socket"},
	{"*:PORT", "unknown [::]:PORT", "PORT", ".socket"},
	{"[::]:PORT", "unknown [::]:PORT", "PORT", ".socket"},
	{"0.0.0.0:PORT", "unknown 0.0.0.0:PORT", "0.0.0.0:PORT", ".socket"},
	{"[::1]:PORT", "unknown [::1]:PORT", "[::1]:PORT", ".socket"},
	{"web=127.0.0.1:PORT", "web 127.0.0.1:PORT", "127.0.0.1:PORT", "-web.socket"},
	{"unix:DIR/app.sock", "unknown DIR/app.sock", "DIR/app.sock", ".socket"},
	{"unix:@sdlaunch-test-PORT", "unknown @sdlaunch-test-PORT", "@sdlaunch-test-PORT", ".socket"},
	{"admin=unix:@sdlaunch-test-PORT", "admin @sdlaunch-test-PORT", "@sdlaunch-test-PORT", "-admin.socket"},
	// refused by both, with exit status 2 and one line
	{"example.com:PORT", "", "", ""},
	{"::1:PORT", "", "", ""},
	{"[127.0.0.1]:PORT", "", "", ""},
	{":0", "", "", ""},
	{":080", "", "", ""},
	{"unix:app.sock", "", "", ""},
	{"unix:@", "", "", ""},
	{"a+b=127.0.0.1:PORT", "", "", ""},
	{"127.0.0.1:PORT,127.0.0.1:PORT", "", "", ""},
}

// boundScript prints the socket the worker got on fd 3.
const boundScript = `
import os, socket
s = socket.socket(fileno=3)
a = s.getsockname()
if s.family == socket.AF_UNIX:
    a = a if isinstance(a, str) else "@" + a[1:].decode()
elif s.family == socket.AF_INET6:
    a = "[%s]:%d" % a[:2]
else:
    a = "%s:%d" % a
print("BOUND", os.environ["LISTEN_FDNAMES"], a, flush=True)
`

func TestListenSpellingsRunAndGenerate(t *testing.T) {
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("needs python3 for the worker that reports its socket")
	}
	ipv6 := true
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		ipv6 = false
	} else {
		l.Close()
	}
	for _, c := range listenSpellings {
		port := strconv.Itoa(freeTCPPort(t))
		dir := t.TempDir()
		subst := strings.NewReplacer("PORT", port, "DIR", dir)
		in := subst.Replace(c.in)
		t.Run(c.in, func(t *testing.T) {
			if !ipv6 && strings.Contains(c.bound, "[::") {
				t.Skip("no IPv6 on this host: the launcher binds every address as IPv4 only")
			}
			out := t.TempDir()
			_, code, msg := runUnitCmd(t, "generate", "--output", out, "--systemd-version", "252", "--sdlaunch-path", "/usr/bin/sdlaunch",
				"--chdir", "/", "--listen", in, "app", "--", python)
			if c.stream == "" {
				if code != exitUsage || msg == "" || strings.Contains(msg, "\n") {
					t.Errorf("generate --listen %q: exit %d %q, want 2 and one line", in, code, msg)
				}
				_, errOut, rcode := runBinary(t, "run", "-w", "1", "--listen", in, "--", python, "-c", boundScript)
				if rcode != exitUsage || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "listen") {
					t.Errorf("run --listen %q: exit %d %q, want 2 and one line", in, rcode, errOut)
				}
				return
			}
			if code != 0 {
				t.Fatalf("generate --listen %q: exit %d: %s", in, code, msg)
			}
			unit, err := os.ReadFile(filepath.Join(out, "app"+c.unit))
			if err != nil {
				t.Fatal(err)
			}
			if want := "ListenStream=" + subst.Replace(c.stream) + "\n"; !strings.Contains(string(unit), want) {
				t.Errorf("generate --listen %q: app%s lacks %q:\n%s", in, c.unit, want, unit)
			}
			if name, _, ok := strings.Cut(c.in, "="); ok && !strings.Contains(name, ":") && !strings.Contains(string(unit), "FileDescriptorName="+name+"\n") {
				t.Errorf("generate --listen %q: no FileDescriptorName=%s:\n%s", in, name, unit)
			}

			_, lines := launch(t, "run", "-w", "1", "--ready-after", "100ms", "--graceful-timeout", "5s", "--listen", in, "--", python, "-c", boundScript+"import time; time.sleep(60)")
			got := waitLine(t, lines, "BOUND ")
			want := "BOUND " + subst.Replace(c.bound)
			if !strings.HasSuffix(got, want) {
				t.Errorf("run --listen %q: worker reports %q, want %q", in, got, want)
			}
			network, addr := "tcp", "127.0.0.1:"+port
			switch {
			case strings.Contains(c.bound, "@"), strings.Contains(c.bound, "DIR"):
				network, addr = "unix", subst.Replace(c.stream)
			case strings.Contains(c.bound, "::1"):
				addr = "[::1]:" + port
			}
			conn, err := net.Dial(network, addr)
			if err != nil {
				t.Fatalf("run --listen %q: dial %s %s: %v", in, network, addr, err)
			}
			conn.Close()
		})
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
