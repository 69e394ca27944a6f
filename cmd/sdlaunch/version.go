package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// Stamped by the linker, and never written by the program:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=0123456789ab"
//
// `make build` and `make deb` set both (packaging/version.sh); a bare
// `go build` sets neither, and versionString falls back to what the Go
// toolchain recorded.
var (
	version string
	commit  string
)

// versionString is what `sdlaunch --version` and `sdlaunch version` print
// after "sdlaunch version ": the stamped version and commit, else what the
// build info says (a module version, vcs.revision and vcs.modified, which
// `go build` records in a git checkout unless -buildvcs=false), else
// "devel" and "commit unknown"; then the Go version.
func versionString(stampedVersion, stampedCommit string, info *debug.BuildInfo) string {
	v, c, goVersion := stampedVersion, stampedCommit, runtime.Version()
	if info != nil {
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		if c == "" {
			var modified bool
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					c = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if len(c) > 12 {
				c = c[:12]
			}
			if c != "" && modified {
				c += "-dirty"
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, %s)", v, c, goVersion)
}

// buildVersion is versionString for this binary.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return versionString(strings.TrimSpace(version), strings.TrimSpace(commit), info)
}

// versionCommand prints the same line as --version.
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version and the commit it was built from",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("version takes no arguments, got %q", c.Args().Slice())
			}
			cli.ShowVersion(c)
			return nil
		},
	}
}
