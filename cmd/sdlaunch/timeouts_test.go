package main

import (
	"strings"
	"testing"
)

// TimeoutStopSec= and TimeoutStartSec= come from the launcher's parsed
// timeouts, defaults included; there is no second set of defaults in the
// unit generator that could disagree with run's (--graceful-timeout 0 is a
// valid launcher setting, "kill at once", not "the default").
func TestUnitTimeoutsFollowTheLauncher(t *testing.T) {
	cases := []struct {
		flags      []string
		stop, strt string // "" when refused
	}{
		{nil, "45s", "90s"},
		{[]string{"--graceful-timeout", "0"}, "15s", "90s"},
		{[]string{"--graceful-timeout", "0", "--timeout-stop-sec", "5s"}, "5s", "90s"},
		{[]string{"--graceful-timeout", "50s"}, "65s", "90s"},
		{[]string{"--start-timeout", "2m"}, "45s", "150s"},
		{[]string{"--start-timeout", "2m", "--timeout-start-sec", "121s"}, "45s", "121s"},
		{[]string{"--graceful-timeout", "40s", "--timeout-stop-sec", "40s"}, "", ""},
		{[]string{"--timeout-stop-sec", "30s"}, "", ""}, // not above the default 30s
		{[]string{"--timeout-start-sec", "60s"}, "", ""},
		{[]string{"--start-timeout", "0"}, "", ""},
		{[]string{"--graceful-timeout", "-1s"}, "", ""},
	}
	for _, c := range cases {
		args := append([]string{"generate", "--systemd-version", "252", "--sdlaunch-path", "/usr/bin/sdlaunch", "--chdir", "/", "--listen", ":8000"}, c.flags...)
		out, code, msg := runUnitCmd(t, append(args, "app", "--", "/bin/sh")...)
		if c.stop == "" {
			if code != exitUsage || msg == "" || strings.Contains(msg, "\n") {
				t.Errorf("generate %q: exit %d %q, want 2 and one line", c.flags, code, msg)
			}
			continue
		}
		if code != exitOK {
			t.Errorf("generate %q: exit %d: %s", c.flags, code, msg)
			continue
		}
		for _, want := range []string{"TimeoutStopSec=" + c.stop + "\n", "TimeoutStartSec=" + c.strt + "\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("generate %q: lacks %q", c.flags, want)
			}
		}
	}
}
