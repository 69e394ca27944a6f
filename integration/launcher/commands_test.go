package launcher

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runLauncher runs `sdlaunch ARGS` to completion (for usage errors) and
// returns its exit status, stdout and stderr.
func runLauncher(t *testing.T, env []string, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	return runCmdEnv(t, env, timeout, bin.sdlaunch, args...)
}

// runCmd runs a program to completion and returns its exit status, stdout
// and stderr.
func runCmd(t *testing.T, timeout time.Duration, name string, args ...string) (int, string, string) {
	t.Helper()
	return runCmdEnv(t, nil, timeout, name, args...)
}

func runCmdEnv(t *testing.T, env []string, timeout time.Duration, name string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s; stderr:\n%s", name, args, timeout, stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// requireTool fails the test when a system program it needs is missing.
func requireTool(t *testing.T, path, debPackage string) string {
	t.Helper()
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("this test needs %s (Debian package %s): %v", path, debPackage, err)
	}
	return path
}

// requirePythonModule fails the test when Debian's python3 lacks module.
func requirePythonModule(t *testing.T, module, debPackage string) {
	t.Helper()
	code, _, stderr := runCmd(t, 20*time.Second, "/usr/bin/python3", "-c", "import "+module)
	if code != 0 {
		t.Fatalf("this test needs the Python module %s (Debian package %s): %s", module, debPackage, stderr)
	}
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, ln := range strings.Split(s, "\n") {
		if strings.TrimSpace(ln) != "" {
			out = append(out, ln)
		}
	}
	return out
}
