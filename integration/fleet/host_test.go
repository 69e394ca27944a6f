package fleet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// host is one machine of the fleet: systemd 252 as PID 1 of a
// systemd-nspawn container with a volatile root (fresh /etc and /var), this
// machine's /usr under a writable overlay and a copy-on-write copy of its
// dpkg database, so that `dpkg --install` works and changes nothing here.
// The container shares this machine's network; its sshd and app listen on
// the host's own loopback address.
type host struct {
	t       *testing.T
	name    string // inventory name, HAProxy server name
	machine string // nspawn machine name
	addr    string // its loopback address
	dir     string // bind-mounted at the same path: sshd's files
	upper   string // the overlays' upper directories (not visible inside)
	nspawn  *exec.Cmd
	pid1    int
	console string
	exited  chan error
}

// maskedUnits are units that this machine's packages would have a fresh /etc
// enable (Debian's preset enables everything) and that would bind ports of
// the shared network.
func maskedUnits() []string { return []string{"ssh.socket", "ssh.service", "haproxy.service"} }

// startHost starts a container; waitUp waits until its systemd runs.
// Power-off is registered with t.Cleanup.
func startHost(t *testing.T, run, name, machine, addr string) *host {
	t.Helper()
	h := &host{t: t, name: name, machine: machine, addr: addr, exited: make(chan error, 1),
		dir: filepath.Join(run, name), upper: filepath.Join(run, name+"-overlay")}
	for _, d := range []string{h.dir, filepath.Join(h.upper, "usr"), filepath.Join(h.upper, "dpkg")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.console = filepath.Join(run, name+"-console.log")
	logf, err := os.Create(h.console)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	args := []string{"--quiet", "--directory=/", "--volatile=yes", "--register=no", "--keep-unit",
		"-M", machine, "--boot", "--console=pipe", "--bind=" + h.dir,
		"--overlay=/usr:" + filepath.Join(h.upper, "usr") + ":/usr",
		// --overlay does not create missing parents: /var/lib as a tmpfs gives
		// /var/lib/dpkg a parent (/var is a fresh tmpfs anyway).
		"--tmpfs=/var/lib:mode=0755",
		"--overlay=/var/lib/dpkg:" + filepath.Join(h.upper, "dpkg") + ":/var/lib/dpkg"}
	for _, u := range maskedUnits() {
		args = append(args, "systemd.mask="+u)
	}
	// nspawn cleans up under /run/systemd/nspawn, which must be a tmpfs:
	// give it one in a private mount namespace.
	script := `mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && exec systemd-nspawn "$@"`
	h.nspawn = exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh"}, args...)...)
	h.nspawn.Stdout, h.nspawn.Stderr = logf, logf
	h.nspawn.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := h.nspawn.Start(); err != nil {
		t.Fatalf("start nspawn: %v", err)
	}
	go func() { h.exited <- h.nspawn.Wait() }()
	t.Cleanup(h.powerOff)
	return h
}

// waitUp waits for systemd in the container to finish booting.
func (h *host) waitUp() {
	t := h.t
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for h.pid1 == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no systemd child of nspawn after 90s\n%s", h.name, h.consoleText())
		}
		select {
		case err := <-h.exited:
			h.exited <- err
			t.Fatalf("%s: nspawn exited early: %v\n%s", h.name, err, h.consoleText())
		case <-time.After(50 * time.Millisecond):
		}
		h.pid1 = findChild(h.nspawn.Process.Pid, "systemd")
	}
	for {
		// --wait returns once the boot is finished, whatever its state.
		r := h.runTimeout(2*time.Minute, nil, "systemctl", "is-system-running", "--wait")
		state := strings.TrimSpace(r.stdout)
		if state == "running" || state == "degraded" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up after 90s (state %q)\n%s", h.name, state, h.consoleText())
		}
		time.Sleep(100 * time.Millisecond) // systemd not reachable yet
	}
}

// findChild returns the pid of a child of the nspawn process tree rooted at
// parent whose comm is name, or 0. unshare execs sh, which execs nspawn.
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

func (h *host) consoleText() string {
	out, _ := os.ReadFile(h.console)
	if len(out) > 8000 {
		out = out[len(out)-8000:]
	}
	return string(out)
}

// powerOff shuts the container down and waits for nspawn, killing it if it
// does not stop in time.
func (h *host) powerOff() {
	if h.pid1 != 0 {
		_ = h.runTimeout(10*time.Second, nil, "systemctl", "poweroff", "--no-block")
	}
	select {
	case <-h.exited:
		return
	case <-time.After(60 * time.Second):
	}
	h.t.Logf("%s (%s) did not power off in 60s; killing nspawn", h.name, h.machine)
	_ = syscall.Kill(-h.nspawn.Process.Pid, syscall.SIGKILL)
	select {
	case <-h.exited:
	case <-time.After(10 * time.Second):
		h.t.Errorf("nspawn %d did not exit after SIGKILL", h.nspawn.Process.Pid)
	}
}

// run runs a command inside the container (all its namespaces, as root).
// This is the test's own access, for setting up sshd and for looking;
// everything under test goes through ssh.
func (h *host) run(args ...string) result { return h.runTimeout(2*time.Minute, nil, args...) }

func (h *host) runTimeout(timeout time.Duration, stdin []byte, args ...string) result {
	full := append([]string{"-t", strconv.Itoa(h.pid1), "-a", "env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root",
		"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}, args...)
	return runCmd(timeout, stdin, nil, "nsenter", full...)
}

func (h *host) mustRun(args ...string) string {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("%s: %s: %s", h.name, strings.Join(args, " "), r)
	}
	return r.stdout
}

// writeFile writes a file inside the container.
func (h *host) writeFile(path string, data []byte, mode string) {
	h.t.Helper()
	r := h.runTimeout(time.Minute, data, "sh", "-c", `cat >"$1" && chmod "$2" "$1"`, "sh", path, mode)
	if r.code != 0 {
		h.t.Fatalf("%s: write %s: %s", h.name, path, r)
	}
}

// prepare makes the fresh container a plausible copy of this machine for
// what the play does: the user and group database that goes with this
// machine's dpkg database (dpkg refuses statoverrides of unknown groups;
// sshd needs its privilege separation user), and a root account that is
// not locked (sshd refuses key logins to locked accounts without PAM).
func (h *host) prepare() {
	h.t.Helper()
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		data, err := os.ReadFile(f)
		if err != nil {
			h.t.Fatal(err)
		}
		h.writeFile(f, data, "0644")
	}
	h.mustRun("sh", "-c", `pwconv && grpconv && usermod -p '*' root && mkdir -p -m 0700 /root`)
	// Nothing of sdlaunch is here before the play.
	if r := h.run("dpkg-query", "--show", "sdlaunch"); r.code == 0 {
		h.t.Fatalf("%s: sdlaunch is installed before the play: %s", h.name, r.stdout)
	}
	if r := h.run("test", "!", "-e", "/usr/bin/sdlaunch"); r.code != 0 {
		h.t.Fatalf("%s: /usr/bin/sdlaunch exists before the play", h.name)
	}
}
