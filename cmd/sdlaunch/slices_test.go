package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Every repeatable flag of every command takes its value whole: a comma is
// part of the value (a URL, a list the app parses itself), never a
// separator. urfave/cli splits slice values on commas unless told not to.
func TestRepeatableFlagsKeepCommas(t *testing.T) {
	seen := 0
	for _, cmd := range newApp().Commands {
		for _, f := range cmd.Flags {
			if _, ok := f.(*cli.StringSliceFlag); !ok {
				continue
			}
			name := f.Names()[0]
			seen++
			app := newApp()
			var got []string
			for _, c := range app.Commands {
				if c.Name == cmd.Name {
					c.Action = func(c *cli.Context) error { got = c.StringSlice(name); return nil }
				}
			}
			args := []string{"sdlaunch", cmd.Name, "--" + name, "a,b", "--" + name, "c,", "--" + name, "d"}
			if err := app.Run(args); err != nil {
				t.Errorf("%s --%s: %v", cmd.Name, name, err)
				continue
			}
			if want := []string{"a,b", "c,", "d"}; !slices.Equal(got, want) {
				t.Errorf("%s --%s a,b --%s c, --%s d: got %q, want %q", cmd.Name, name, name, name, got, want)
			}
		}
	}
	// run, generate and install have --listen; generate and install have
	// --env, --after, --wants and --requires.
	if seen < 11 {
		t.Errorf("found %d repeatable flags, want at least 11: the test no longer sees them", seen)
	}
}

// The reproductions: a URL with a comma is one Environment= line,
// and OPTS=a,b is accepted.
func TestEnvWithCommaIsOneValue(t *testing.T) {
	dir := t.TempDir()
	_, code, msg := runUnitCmd(t, "generate", "--output", dir, "--systemd-version", "252", "--sdlaunch-path", "/usr/bin/sdlaunch",
		"--chdir", "/", "--listen", "127.0.0.1:8000", "--env", "URL=postgres://h/db?x=1,y=2", "--env", "OPTS=a,b", "myapp", "--", "/bin/sh")
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, msg)
	}
	svc, err := os.ReadFile(filepath.Join(dir, "myapp.service"))
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, l := range strings.Split(string(svc), "\n") {
		if strings.HasPrefix(l, "Environment=") {
			env = append(env, l)
		}
	}
	if want := []string{`Environment="URL=postgres://h/db?x=1,y=2"`, "Environment=OPTS=a,b"}; !slices.Equal(env, want) {
		t.Errorf("Environment= lines: got %q, want %q", env, want)
	}
}
