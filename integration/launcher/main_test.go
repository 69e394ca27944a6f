// Package launcher holds black-box tests of `sdlaunch run`: the binary is
// built once, then every test starts it as a real process on a real socket
// with real workers (integration/testapp, the example apps), without systemd.
//
// Run with:
//
//	go test -race -count=1 ./integration/launcher/
//
// Set SDLAUNCH_IT_RACE=1 to build the launcher itself with -race too, or
// SDLAUNCH_IT_BINARY=/path/to/sdlaunch to test a prebuilt (or installed)
// launcher instead of building ./cmd/sdlaunch.
// Needs Debian's systemd (systemd-socket-activate), python3-flask, gunicorn,
// python3-systemd and nodejs (/usr/bin/node) for the tests that use them.
package launcher

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binaries are built once by TestMain and read-only afterwards.
type binaries struct {
	root     string // module root
	sdlaunch string
	testapp  string
	hello    string // contrib/examples/go
}

// bin is set by TestMain before any test runs and never changed afterwards.
var bin binaries

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "launcher tests: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "sdlaunch-it-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "launcher tests: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)

	bin = binaries{
		root:     root,
		sdlaunch: filepath.Join(dir, "sdlaunch"),
		testapp:  filepath.Join(dir, "testapp"),
		hello:    filepath.Join(dir, "hello"),
	}
	builds := []struct{ out, pkg string }{
		{bin.sdlaunch, "./cmd/sdlaunch"},
		{bin.testapp, "./integration/testapp"},
		{bin.hello, "./contrib/examples/go"},
	}
	if prebuilt := os.Getenv("SDLAUNCH_IT_BINARY"); prebuilt != "" {
		bin.sdlaunch = prebuilt
		builds = builds[1:]
	}
	for _, b := range builds {
		args := []string{"build", "-o", b.out}
		if b.pkg == "./cmd/sdlaunch" && os.Getenv("SDLAUNCH_IT_RACE") == "1" {
			args = append(args, "-race")
		}
		args = append(args, b.pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "launcher tests: go %v: %v\n%s", args, err, out)
			return 1
		}
	}
	return m.Run()
}

// moduleRoot walks up from the working directory to the directory of go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getwd: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
