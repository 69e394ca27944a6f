package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionString(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}}
	}
	for _, c := range []struct {
		version, commit string
		info            *debug.BuildInfo
		want            string
	}{
		// make build / make deb stamp both.
		{"0.1.0~git34.8bf7309", "8bf7309d192f", vcs("ffffffffffffffff", "true"), "0.1.0~git34.8bf7309 (commit 8bf7309d192f, go1.99.1)"},
		// go build in a git checkout: the toolchain's record.
		{"", "", vcs("8bf7309d192fc3e82dab68ca179df2216a0feffd", "false"), "devel (commit 8bf7309d192f, go1.99.1)"},
		{"", "", vcs("8bf7309d192fc3e82dab68ca179df2216a0feffd", "true"), "devel (commit 8bf7309d192f-dirty, go1.99.1)"},
		{"", "", &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v0.0.0-20261121120312-8bf7309d192f"}},
			"v0.0.0-20261121120312-8bf7309d192f (commit unknown, go1.99.1)"},
		// go build -buildvcs=false, or outside a checkout: nothing invented.
		{"", "", &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}}, "devel (commit unknown, go1.99.1)"},
		{"", "", nil, "devel (commit unknown, " + runtime.Version() + ")"},
	} {
		if got := versionString(c.version, c.commit, c.info); got != c.want {
			t.Errorf("versionString(%q, %q, ...) = %q, want %q", c.version, c.commit, got, c.want)
		}
	}
}

func TestVersionFlagAndCommand(t *testing.T) {
	want := "sdlaunch version " + buildVersion() + "\n"
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		out, code, msg := runUnitCmd(t, args...)
		if code != exitOK || out != want {
			t.Errorf("sdlaunch %s: exit %d (%s), printed %q, want %q", strings.Join(args, " "), code, msg, out, want)
		}
	}
	if _, code, msg := runUnitCmd(t, "version", "extra"); code != exitUsage || !strings.Contains(msg, `"extra"`) {
		t.Errorf("sdlaunch version extra: exit %d (%s), want 2 naming the argument", code, msg)
	}
}
