package observe

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const nobody = "65534"

// helperBin copies this test binary where nobody can run it.
func helperBin(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to run processes as other users")
	}
	dir := filepath.Dir(targetBin(t)) // world-readable
	dst := filepath.Join(dir, "observe.test")
	if _, err := os.Stat(dst); err == nil {
		return dst
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// runHelperAs runs this binary's helper mode as uid/gid 65534 under
// setpriv (with no_new_privs when nnp) and decodes its report.
func runHelperAs(t *testing.T, mode string, nnp bool, env ...string) helperReport {
	t.Helper()
	bin := helperBin(t)
	args := []string{"--reuid=" + nobody, "--regid=" + nobody, "--clear-groups"}
	if nnp {
		args = append(args, "--no-new-privs")
	}
	args = append(args, bin, "-test.run=^$")
	cmd := exec.Command("/usr/bin/setpriv", args...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), append([]string{"OBSERVE_HELPER=" + mode, "OBSERVE_TARGET=" + targetBin(t)}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper %s: %v\nstdout:\n%s\nstderr:\n%s", mode, err, stdout.String(), stderr.String())
	}
	var rep helperReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("helper %s: %v\n%s", mode, err, stdout.String())
	}
	if rep.UID != 65534 {
		t.Fatalf("helper ran as uid %d", rep.UID)
	}
	return rep
}

// An observer that may not look (another uid, no CAP_SYS_PTRACE) must say
// "unknown", never "not accepting".
func TestPermissionDeniedIsUnknown(t *testing.T) {
	helperBin(t)
	fd, l := tcpListener(t)
	ls := []Listener{l}
	s := startServer(t, fd, startOpts{creds: &syscall.Credential{Uid: 65533, Gid: 65533}}, targetBin(t), "accept4")
	awaitWait(t, s, ls, "accepting (seen as root)", isAccepting)
	in, _ := json.Marshal(helperLook{Launcher: os.Getpid(), PGID: s.pgid, Listeners: ls})
	rep := runHelperAs(t, "look", true, "OBSERVE_LOOK="+string(in))
	if rep.Wait.Accepting || !strings.Contains(rep.Wait.Unknown, "permission denied") {
		t.Errorf("Accepting as nobody over uid 65533's group = %+v, want Unknown naming the permission problem", rep.Wait)
	}
	if !strings.Contains(rep.ConnsErr, "permission denied") && !strings.Contains(rep.ConnsErr, "operation not permitted") {
		t.Errorf("Connections as nobody: error %q, want a permission error", rep.ConnsErr)
	}
	if !strings.Contains(rep.FreezeErr, "operation not permitted") {
		t.Errorf("Freeze as nobody: error %q, want EPERM", rep.FreezeErr)
	}
	t.Logf("unknown: %s; connections: %s; freeze: %s", rep.Wait.Unknown, rep.ConnsErr, rep.FreezeErr)
}

// The launcher's situation under systemd: an unprivileged user with
// NoNewPrivileges observing its own child. Everything must work.
func TestUnprivilegedSameUIDPair(t *testing.T) {
	rep := runHelperAs(t, "pair", true)
	if rep.NoNewPrivs != "1" {
		t.Errorf("helper NoNewPrivs = %q, want 1", rep.NoNewPrivs)
	}
	if !rep.Wait.Accepting || !strings.Contains(rep.Wait.Detail, "in accept4 on tcp 127.0.0.1:") {
		t.Errorf("Accepting = %+v, want accept4", rep.Wait)
	}
	if rep.ConnsErr != "" || len(rep.Conns) != 1 || rep.Conns[0].Info.State != "ESTABLISHED" {
		t.Errorf("Connections = %+v, %q; want one ESTABLISHED connection", rep.Conns, rep.ConnsErr)
	}
	if rep.FreezeErr != "" || len(rep.FrozenPIDs) != 1 || rep.ThawErr != "" {
		t.Errorf("Freeze = %v, %q; Thaw %q", rep.FrozenPIDs, rep.FreezeErr, rep.ThawErr)
	}
	t.Logf("%+v", rep)
}
