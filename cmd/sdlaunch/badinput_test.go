package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Bad input of issue 9 item 8: exit 2, one line naming the value, nothing
// written.
func TestBadInputExits2WithOneLine(t *testing.T) {
	dir := t.TempDir()
	gen := []string{"generate", "--output", dir, "--systemd-version", "252", "--sdlaunch-path", "/usr/bin/sdlaunch", "--chdir", "/", "--listen", ":8000"}
	cases := []struct {
		args  []string
		names string // what the line must name
	}{
		{[]string{"frobnicate"}, `"frobnicate"`},
		{[]string{"frobnicate", "--x", "y"}, `"frobnicate"`},
		{[]string{"help", "frobnicate"}, "frobnicate"},
		{[]string{"reload-wait", "--timeout", "-1s", "1"}, "--timeout -1s"},
		{append(gen, "--memory-max", "0", "app", "--", "/bin/sh"), `--memory-max "0"`},
		{append(gen, "--memory-max", "0%", "app", "--", "/bin/sh"), `--memory-max "0%"`},
		{append(gen, "--tasks-max", "0", "app", "--", "/bin/sh"), `--tasks-max "0"`},
		{append(gen, "--tasks-max", "0%", "app", "--", "/bin/sh"), `--tasks-max "0%"`},
		{append(gen, "--cpu-quota", "0%", "app", "--", "/bin/sh"), `--cpu-quota "0%"`},
		{append(gen, "-w", "100000", "app", "--", "/bin/sh"), "--workers 100000"},
		{append(gen, "--reload-surge", "5000", "app", "--", "/bin/sh"), "--reload-surge 5000"},
		{append(gen, "--reload-nice", "20", "app", "--", "/bin/sh"), "--reload-nice 20"},
		{append(gen, "--reload-nice", "-1", "app", "--", "/bin/sh"), "--reload-nice -1"},
		{append(gen, "--stop-signal", "19", "app", "--", "/bin/sh"), `"19"`},
		{append(gen, "--backlog", "0", "app", "--", "/bin/sh"), "--backlog 0"},
		{append(gen, "--backlog", "2000000", "app", "--", "/bin/sh"), "--backlog 2000000"},
		{[]string{"run", "--backlog", "-5", "-l", "127.0.0.1:0", "--", "/bin/sh"}, "--backlog -5"},
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		cases = append(cases, struct {
			args  []string
			names string
		}{[]string{"logs", "--since", "garbage", "app"}, `--since "garbage"`})
	}
	for _, c := range cases {
		out, code, msg := runUnitCmd(t, c.args...)
		if code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, c.names) {
			t.Errorf("%q: exit %d, %q (stdout %q); want 2 and one line naming %s", c.args, code, msg, out, c.names)
		}
	}
	if entries, _ := exec.Command("ls", "-A", dir).Output(); len(entries) != 0 {
		t.Errorf("bad input wrote %s", entries)
	}
	// help still works, with exit 0
	for _, args := range [][]string{nil, {"help"}, {"help", "run"}, {"--help"}} {
		if out, code, msg := runUnitCmd(t, args...); code != exitOK || !strings.Contains(out, "USAGE") {
			t.Errorf("%q: exit %d %q, want help", args, code, msg)
		}
	}
}
