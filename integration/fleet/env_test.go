package fleet

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
	"strings"
	"testing"
	"time"
)

// requireEnv skips (or, under CI, fails) when this machine cannot run the
// fleet, and returns the .deb to roll out.
func requireEnv(t *testing.T) string {
	t.Helper()
	deb := os.Getenv("SDLAUNCH_DEB")
	if deb == "" {
		t.Skip("SDLAUNCH_DEB is not set: run `make fleet`, which builds the .deb and runs this test")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "unshare", "ssh", "scp", "ssh-keygen", "/usr/sbin/sshd",
		"haproxy", "ansible-playbook", "dpkg-deb", "/usr/bin/gunicorn", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if err := exec.Command("python3", "-c", "import flask").Run(); err != nil {
		missing = append(missing, "python3-flask")
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("cannot run the fleet: missing %s (Debian: systemd-container openssh-server openssh-client haproxy ansible gunicorn python3-flask)", strings.Join(missing, ", "))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	abs, err := filepath.Abs(deb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("SDLAUNCH_DEB: %v", err)
	}
	// The containers share this machine's /usr: if sdlaunch were installed
	// here, the play's install could not be told apart from it.
	if _, err := os.Stat("/usr/bin/sdlaunch"); err == nil {
		t.Fatal("/usr/bin/sdlaunch exists on this machine: the test must see the play install it; remove the package first")
	}
	return abs
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newWorkDir makes a world-readable directory outside /tmp (the apps run
// as a DynamicUser with a private /tmp), removed at the end of the test.
func newWorkDir(t *testing.T) string {
	t.Helper()
	parent := "/var/lib/sdlaunch-fleet"
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
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// moduleRoot finds the directory of go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// result is what a command did.
type result struct {
	stdout, stderr string
	code           int // -1: it could not run or timed out
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCmd runs a command to completion (bounded by timeout, which only
// bounds a hang), with stdin when not nil.
func runCmd(timeout time.Duration, stdin []byte, env []string, name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.code = -1
		r.stderr += fmt.Sprintf("\n(timed out after %s)", timeout)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code = -1
		r.stderr += err.Error()
	}
	return r
}

// mustLocal runs a command on this machine that must succeed.
func mustLocal(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := runCmd(5*time.Minute, nil, nil, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: %s", name, strings.Join(args, " "), r)
	}
	return r.stdout
}

// writeFile writes a file that must be written.
func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
}
