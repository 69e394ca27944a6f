package units

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/ports"
)

// box is a systemd 252 booted as PID 1 of a systemd-nspawn container with a
// volatile root (fresh /etc and /var), the host's /usr and network, and the
// test's work directory bind-mounted at the same path.
type box struct {
	t       *testing.T
	name    string
	dir     string // bind-mounted work dir (not under /tmp: PrivateTmp would hide it)
	nspawn  *exec.Cmd
	pid1    int
	console string
	exited  chan error
}

// requireEnv skips (or, under CI, fails) when the host cannot boot a box.
func requireEnv(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat("/usr/lib/systemd/systemd"); err != nil {
		missing = append(missing, "/usr/lib/systemd/systemd")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("cannot boot a systemd container: missing %s (Debian: systemd-container, util-linux)", strings.Join(missing, ", "))
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newWorkDir makes a world-readable directory outside /tmp, removed at the
// end of the test.
func newWorkDir(t *testing.T) string {
	t.Helper()
	parent := "/var/lib/sdlaunch-it"
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(parent, "run-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// bootBox boots a container and registers its power-off with t.Cleanup.
func bootBox(t *testing.T, dir string) *box {
	t.Helper()
	b := &box{t: t, name: "sdlit-" + randHex(4), dir: dir, exited: make(chan error, 1)}
	b.console = filepath.Join(dir, "console.log")
	logf, err := os.Create(b.console)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// nspawn cleans up under /run/systemd/nspawn, which must be a tmpfs:
	// give it one in a private mount namespace.
	script := `mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && exec systemd-nspawn --quiet --directory=/ --volatile=yes --register=no --keep-unit -M "$1" --boot --console=pipe --bind="$2" --system-call-filter=pidfd_getfd`
	b.nspawn = exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", b.name, dir)
	b.nspawn.Stdout, b.nspawn.Stderr = logf, logf
	b.nspawn.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := b.nspawn.Start(); err != nil {
		t.Fatalf("start nspawn: %v", err)
	}
	go func() { b.exited <- b.nspawn.Wait() }()
	t.Cleanup(b.powerOff)

	deadline := time.Now().Add(30 * time.Second)
	for b.pid1 == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("container %s: no systemd child of nspawn after 30s\n%s", b.name, b.consoleText())
		}
		select {
		case err := <-b.exited:
			b.exited <- err
			t.Fatalf("nspawn exited early: %v\n%s", err, b.consoleText())
		case <-time.After(50 * time.Millisecond):
		}
		b.pid1 = findChild(b.nspawn.Process.Pid, "systemd")
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		out, _, _ := b.run("systemctl", "is-system-running")
		state := strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not up after 60s (state %q)\n%s", b.name, state, b.consoleText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// findChild returns the pid of a child of parent whose comm is name, or 0.
func findChild(parent int, name string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) == name {
			return pid
		}
	}
	return 0
}

func (b *box) consoleText() string {
	out, _ := os.ReadFile(b.console)
	if len(out) > 8000 {
		out = out[len(out)-8000:]
	}
	return string(out)
}

// powerOff shuts the container down and waits for nspawn, killing it if it
// does not stop in time.
func (b *box) powerOff() {
	if b.pid1 != 0 {
		_, _, _ = b.runTimeout(10*time.Second, "systemctl", "poweroff", "--no-block")
	}
	select {
	case <-b.exited:
		return
	case <-time.After(30 * time.Second):
	}
	b.t.Logf("container %s did not power off in 30s; killing nspawn", b.name)
	_ = syscall.Kill(-b.nspawn.Process.Pid, syscall.SIGKILL)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.t.Errorf("nspawn %d did not exit after SIGKILL", b.nspawn.Process.Pid)
	}
}

// run runs a command inside the container (all its namespaces, as root)
// and returns stdout, stderr and the exit status.
func (b *box) run(args ...string) (string, string, int) {
	return b.runTimeout(2*time.Minute, args...)
}

func (b *box) runTimeout(timeout time.Duration, args ...string) (string, string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"-t", strconv.Itoa(b.pid1), "-a", "--wdns=" + b.dir, "env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code = -1
		stderr.WriteString(err.Error())
	}
	if ctx.Err() != nil {
		stderr.WriteString(fmt.Sprintf("\n(timed out after %s)", timeout))
	}
	return stdout.String(), stderr.String(), code
}

// mustRun runs a command that must succeed.
func (b *box) mustRun(args ...string) string {
	b.t.Helper()
	out, errOut, code := b.run(args...)
	if code != 0 {
		b.t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// freePort returns a TCP port on 127.0.0.1 that is free right now, from
// the range [lo, hi] (the container shares the host's network) but outside
// the kernel's ephemeral range (see package ports): systemd binds it later.
// Each test takes a range of its own.
func freePort(t *testing.T, lo, hi int) int {
	t.Helper()
	p, err := ports.Free(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
