package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// built is the sdlaunch binary, built once for the tests that run it as a
// real process (the launcher re-executes itself as the exec shim, which a
// test binary cannot be).
var built struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		_ = os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}

func sdlaunchBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "sdlaunch-cmd-test-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "sdlaunch")
		cmd := exec.Command("go", "build", "-o", built.path, ".")
		built.out, built.err = cmd.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}

// launch starts `sdlaunch args...` and returns a channel of its stderr
// lines; the process is stopped with SIGTERM (then SIGKILL) at cleanup.
func launch(t *testing.T, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(sdlaunchBinary(t), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { <-done; _ = cmd.Wait(); close(exited) }()
		go func() {
			for range lines { // keep the pipe drained until it closes
			}
		}()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return cmd, lines
}

// waitLine returns the first line with prefix, failing the test when the
// process ends or a minute passes first (a bound on a hang, not a verdict).
func waitLine(t *testing.T, lines <-chan string, substr string) string {
	t.Helper()
	var seen []string
	deadline := time.After(time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("no line with %q before the process ended:\n%s", substr, strings.Join(seen, "\n"))
			}
			if strings.Contains(l, substr) {
				return l
			}
			seen = append(seen, l)
		case <-deadline:
			t.Fatalf("no line with %q in a minute:\n%s", substr, strings.Join(seen, "\n"))
		}
	}
}

// runBinary runs sdlaunch to completion: stdout, stderr, exit status.
func runBinary(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runBinaryArgs(t, sdlaunchBinary(t), args...)
}

func itoa(n int) string { return strconv.Itoa(n) }

// runBinaryArgs runs a command to completion, killing it after a minute.
func runBinaryArgs(t *testing.T, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %q did not exit in a minute", name, args)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}
