package launcher

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bad input is refused with status 2 and one clear line naming the bad
// value, before any worker starts and without touching anything.
func TestBadUsageExits2WithOneLine(t *testing.T) {
	// A port somebody else holds.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	free := listenArg(freePort(t))

	cases := []struct {
		name string
		args []string
		want string // the line must contain this (case-insensitive)
	}{
		{"no command", []string{"run", "-l", free}, "command"},
		{"nothing after --", []string{"run", "-l", free, "--"}, "command"},
		{"workers 0", []string{"run", "--workers", "0", "-l", free, "--", bin.testapp}, "workers"},
		{"workers -1", []string{"run", "-w", "-1", "-l", free, "--", bin.testapp}, "workers"},
		{"no socket at all", []string{"run", "--", bin.testapp}, "listen"},
		{"bad port", []string{"run", "-l", "127.0.0.1:notaport", "--", bin.testapp}, "notaport"},
		{"port out of range", []string{"run", "-l", "127.0.0.1:70000", "--", bin.testapp}, "70000"},
		{"bad host", []string{"run", "-l", "999.1.2.3:8080", "--", bin.testapp}, "999.1.2.3"},
		{"relative unix path", []string{"run", "-l", "unix:relative.sock", "--", bin.testapp}, "relative.sock"},
		{"unknown signal", []string{"run", "--stop-signal", "BOGUS", "-l", free, "--", bin.testapp}, "BOGUS"},
		{"unknown ready mode", []string{"run", "--ready", "maybe", "-l", free, "--", bin.testapp}, "maybe"},
		{"port in use", []string{"run", "-l", busyAddr, "--", bin.testapp}, busyPort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := newID(t)
			code, stdout, stderr := runLauncher(t, []string{markerVar + "=" + id}, 20*time.Second, tc.args...)
			assertNoLeftovers(t, id, 5*time.Second)
			if code != 2 {
				t.Errorf("sdlaunch %s: exit status %d, want 2\nstderr: %s", strings.Join(tc.args, " "), code, stderr)
			}
			lines := nonEmptyLines(stdout + stderr)
			if len(lines) != 1 {
				t.Errorf("want exactly one line of output, got %d:\nstdout: %s\nstderr: %s", len(lines), stdout, stderr)
				return
			}
			ln := lines[0]
			if !strings.HasPrefix(stderr, "sdlaunch: ") {
				t.Errorf("the line should go to stderr and start with %q: %q", "sdlaunch: ", ln)
			}
			if !strings.Contains(strings.ToLower(ln), strings.ToLower(tc.want)) {
				t.Errorf("the line does not name %q: %q", tc.want, ln)
			}
		})
	}
	// The port's owner was not disturbed.
	c, err := net.DialTimeout("tcp", busyAddr, 2*time.Second)
	if err != nil {
		t.Errorf("the busy port's owner no longer accepts: %v", err)
	} else {
		c.Close()
	}
}

// The exit statuses are documented in --help.
func TestHelpDocumentsExitStatuses(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}} {
		code, stdout, stderr := runLauncher(t, nil, 10*time.Second, args...)
		if code != 0 {
			t.Errorf("sdlaunch %v: exit status %d, want 0: %s", args, code, stderr)
		}
		out := stdout + stderr
		for _, st := range []int{0, 1, 2, 69} {
			if !regexp.MustCompile(fmt.Sprintf(`(?m)^\s+%d\s+\S`, st)).MatchString(out) {
				t.Errorf("sdlaunch %v does not document exit status %d", args, st)
			}
		}
	}
}
