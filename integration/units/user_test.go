package units

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The user-manager test runs every --user command as an unprivileged user
// against that user's own systemd 252 (user@UID.service) in a container, the
// way `systemctl --user` is used on a server: a lingering user, no login
// session and no session bus (dbus.socket is masked), so sdlaunch must talk
// to the manager over $XDG_RUNTIME_DIR/systemd/private.

const (
	boxUser = "sdluser"
	boxUID  = 4242
)

// userBox is a booted container with a lingering unprivileged user whose
// service manager is running.
type userBox struct {
	*box
	home, runtime string
}

func newUserBox(t *testing.T, dir string) *userBox {
	t.Helper()
	b := bootBox(t, dir)
	ub := &userBox{box: b, home: "/home/" + boxUser, runtime: fmt.Sprintf("/run/user/%d", boxUID)}
	b.mustRun("useradd", "--create-home", "--user-group", "--uid", strconv.Itoa(boxUID), "--shell", "/bin/sh", boxUser)
	// The volatile /etc has no /etc/pam.d, and Debian's
	// /usr/lib/pam.d/systemd-user includes common-* files from it: give
	// user@.service a minimal stack. pam_systemd sets XDG_RUNTIME_DIR for
	// the manager. No session bus for the user: sdlaunch must not need one.
	b.mustRun("sh", "-c", `mkdir -p /etc/pam.d /etc/systemd/user &&
printf 'account required pam_permit.so\nsession required pam_permit.so\nsession required pam_systemd.so\n' >/etc/pam.d/systemd-user &&
ln -s /dev/null /etc/systemd/user/dbus.socket`)
	b.mustRun("loginctl", "enable-linger", boxUser)
	// joins the start job lingering queued, and returns once the manager
	// is ready (Type=notify)
	if out, errOut, code := b.runTimeout(30*time.Second, "systemctl", "start", fmt.Sprintf("user@%d.service", boxUID)); code != 0 {
		j, _, _ := b.run("journalctl", "--no-pager", "-n", "30", "-u", fmt.Sprintf("user@%d.service", boxUID))
		t.Fatalf("start the user manager: exit %d\n%s%s\n%s", code, out, errOut, j)
	}
	b.mustRun("test", "-S", ub.runtime+"/systemd/private")
	if _, _, code := b.run("test", "-e", ub.runtime+"/bus"); code == 0 {
		t.Fatalf("%s/bus exists: the test must run without a session bus", ub.runtime)
	}
	return ub
}

// asUser prefixes a command to run it as the user, with the environment a
// login would give (HOME, XDG_RUNTIME_DIR; no DBUS_SESSION_BUS_ADDRESS).
// runuser needs PAM configuration the volatile /etc lacks; setpriv does not.
func (ub *userBox) asUser(args ...string) []string {
	return append([]string{"setpriv", "--reuid=" + boxUser, "--regid=" + boxUser, "--init-groups",
		"env", "HOME=" + ub.home, "USER=" + boxUser, "LOGNAME=" + boxUser, "XDG_RUNTIME_DIR=" + ub.runtime}, args...)
}

func (ub *userBox) runUser(args ...string) (string, string, int) {
	return ub.run(ub.asUser(args...)...)
}

// must runs a command (as root) that must succeed, failing t: box.mustRun
// fails the parent test, which a subtest must not do.
func (ub *userBox) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := ub.run(args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// mustUser runs a command as the user that must succeed.
func (ub *userBox) mustUser(t *testing.T, args ...string) string {
	t.Helper()
	return ub.must(t, ub.asUser(args...)...)
}

// TestUserManagerInContainer installs and operates an app with --user; the
// subtests run in order and build on each other.
func TestUserManagerInContainer(t *testing.T) {
	requireEnv(t)
	dir := newWorkDir(t)
	buildInto(t, dir)
	ub := newUserBox(t, dir)
	sdl := filepath.Join(dir, "sdlaunch")
	unitDir := ub.home + "/.config/systemd/user"
	port := freePort(t, 63000, 65000)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	install := []string{sdl, "install", "--user", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "-w", "2", "--ready-after=200ms", "--graceful-timeout=5s"}
	mainPID := func(t *testing.T) string {
		t.Helper()
		return strings.TrimSpace(ub.mustUser(t, "systemctl", "--user", "show", "-p", "MainPID", "--value", "userapp.service"))
	}

	installed := t.Run("Install", func(t *testing.T) {
		// Fails with 218/CAPABILITIES or 226/NAMESPACE when the profile
		// asks for what an unprivileged manager cannot do (hardening.go).
		out, errOut, code := ub.runUser(append(install, "userapp", "--", filepath.Join(dir, "goapp"))...)
		if code != 0 {
			t.Fatalf("install --user: exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{"wrote " + unitDir + "/userapp.socket", "wrote " + unitDir + "/userapp.service", "userapp.service is ready"} {
			if !strings.Contains(out, want) {
				t.Errorf("install output lacks %q:\n%s", want, out)
			}
		}
		if body := get(t, url, 5*time.Second); !workerRe.MatchString(body) {
			t.Fatalf("GET %s = %q", url, body)
		}
		if owner := strings.TrimSpace(ub.must(t, "stat", "-c", "%U", unitDir+"/userapp.service")); owner != boxUser {
			t.Errorf("%s/userapp.service belongs to %q", unitDir, owner)
		}
		if _, _, code := ub.run("test", "-e", "/etc/systemd/system/userapp.service"); code == 0 {
			t.Error("install --user wrote into the system unit directory")
		}
		if got := strings.TrimSpace(ub.mustUser(t, "systemctl", "--user", "is-enabled", "userapp.socket", "userapp.service")); got != "enabled\nenabled" {
			t.Errorf("systemctl --user is-enabled: %q", got)
		}
	})
	if !installed {
		t.FailNow() // the rest operates the installed app
	}

	t.Run("Sandboxed", func(t *testing.T) {
		// The launcher runs as the user, in a user namespace of its own
		// (PrivateUsers=yes maps only the user's uid), without new privileges.
		pid := mainPID(t)
		if uidMap := strings.Fields(ub.must(t, "cat", "/proc/"+pid+"/uid_map")); strings.Join(uidMap, " ") != fmt.Sprintf("%d %d 1", boxUID, boxUID) {
			t.Errorf("uid_map of the launcher: %q", uidMap)
		}
		status := ub.must(t, "cat", "/proc/"+pid+"/status")
		if !regexp.MustCompile(`(?m)^Uid:\s+4242\s`).MatchString(status) || !regexp.MustCompile(`(?m)^NoNewPrivs:\s+1$`).MatchString(status) {
			t.Errorf("launcher status:\n%s", status)
		}
		if a, b := ub.must(t, "readlink", "/proc/"+pid+"/ns/mnt"), ub.must(t, "readlink", "/proc/1/ns/mnt"); a == b {
			t.Errorf("launcher shares PID 1's mount namespace (%s): no ProtectSystem=", strings.TrimSpace(a))
		}
	})

	t.Run("Status", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		workerLine := regexp.MustCompile(`(?m)^\s+\d+\s+worker\s+[01]\s+1\s+ready\s+.*goapp$`)
		for {
			out, errOut, code := ub.runUser(sdl, "status", "--user", "userapp")
			if code == 0 && strings.Contains(out, "userapp.service: active (running)") && strings.Contains(out, "userapp.socket: active") &&
				len(workerLine.FindAllString(out, -1)) == 2 {
				t.Logf("status:\n%s", out)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status --user never showed the service, the socket and 2 ready workers: exit %d\n%s%s", code, out, errOut)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Without XDG_RUNTIME_DIR (su, sudo -u) sdlaunch finds the manager
		// in /run/user/UID.
		cmd := []string{"setpriv", "--reuid=" + boxUser, "--regid=" + boxUser, "--init-groups", "env", "HOME=" + ub.home, sdl, "status", "--user", "userapp"}
		if out, errOut, code := ub.run(cmd...); code != 0 || !strings.Contains(out, "userapp.service: active (running)") {
			t.Errorf("status --user without XDG_RUNTIME_DIR: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("Logs", func(t *testing.T) {
		m := workerRe.FindStringSubmatch(get(t, url+"hello", 5*time.Second))
		if m == nil {
			t.Fatal("no worker answered")
		}
		want := "goapp request /hello handled by worker " + m[1]
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, errOut, code := ub.runUser(sdl, "logs", "--user", "--worker", m[1], "-n", "200", "userapp")
			if code == 0 && strings.Contains(out, want) {
				other := "handled by worker " + map[string]string{"0": "1", "1": "0"}[m[1]]
				if strings.Contains(out, other) {
					t.Errorf("logs --user --worker %s shows another worker's lines:\n%s", m[1], out)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("logs --user --worker %s never showed %q: exit %d\n%s%s", m[1], want, code, out, errOut)
			}
			time.Sleep(200 * time.Millisecond)
		}
		all := ub.mustUser(t, sdl, "logs", "--user", "-n", "200", "userapp")
		for _, w := range []string{want, "ready: 2/2 ready"} {
			if !strings.Contains(all, w) {
				t.Errorf("logs --user lacks %q:\n%s", w, all)
			}
		}
	})

	t.Run("Reload", func(t *testing.T) {
		before := workerRe.FindStringSubmatch(get(t, url, 5*time.Second))
		out := ub.mustUser(t, sdl, "reload", "--user", "userapp")
		after := workerRe.FindStringSubmatch(get(t, url, 5*time.Second))
		if before == nil || after == nil || after[2] == before[2] {
			t.Errorf("reload --user did not roll a new generation: before %v after %v (%s)", before, after, out)
		}
	})

	t.Run("Restart", func(t *testing.T) {
		old := mainPID(t)
		ub.mustUser(t, sdl, "restart", "--user", "userapp")
		if now := mainPID(t); now == old || now == "0" {
			t.Errorf("MainPID %s -> %s after restart --user", old, now)
		}
		get(t, url, 5*time.Second)
	})

	t.Run("StrictRefusedOn252", func(t *testing.T) {
		p := freePort(t, 63000, 65000)
		args := []string{sdl, "install", "--user", "--hardening=strict", "--listen", fmt.Sprintf("127.0.0.1:%d", p), "strictapp", "--", filepath.Join(dir, "goapp")}
		out, errOut, code := ub.runUser(args...)
		if code != 2 || !strings.Contains(errOut, "--hardening=strict with --user") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("install --user --hardening=strict on 252: exit %d, want 2 and one line\n%s%s", code, out, errOut)
		}
		if _, _, code := ub.run("test", "-e", unitDir+"/strictapp.service"); code == 0 {
			t.Error("refused install wrote strictapp.service")
		}
	})

	t.Run("FailedStartShowsUserJournal", func(t *testing.T) {
		p := freePort(t, 63000, 65000)
		args := []string{sdl, "install", "--user", "--listen", fmt.Sprintf("127.0.0.1:%d", p), "-w", "1", "--boot-retries=1", "--ready", "notify", // never ready, however slow python3 starts
			"failapp", "--", "/usr/bin/python3", "-c", "import sys; print('failapp cannot start'); sys.exit(1)"}
		out, errOut, code := ub.runUser(args...)
		if code != 1 {
			t.Fatalf("install --user of a failing app: exit %d, want 1\n%s%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "last journal lines of failapp.service") || !strings.Contains(errOut, "failapp cannot start") {
			t.Errorf("stderr lacks the user journal's tail:\n%s", errOut)
		}
		// a failed first install removes what it wrote
		if _, _, code := ub.run("test", "-e", unitDir+"/failapp.service"); code == 0 {
			t.Error("the failed install --user left failapp.service")
		}
	})

	t.Run("Uninstall", func(t *testing.T) {
		out := ub.mustUser(t, sdl, "uninstall", "--user", "userapp")
		if !strings.Contains(out, "removed userapp.service") || !strings.Contains(out, "removed userapp.socket") {
			t.Errorf("uninstall output:\n%s", out)
		}
		for _, f := range []string{"userapp.socket", "userapp.service"} {
			if _, _, code := ub.run("test", "-e", unitDir+"/"+f); code == 0 {
				t.Errorf("%s/%s still exists", unitDir, f)
			}
		}
		active, _, _ := ub.runUser("systemctl", "--user", "is-active", "userapp.socket", "userapp.service")
		if strings.Join(strings.Fields(active), " ") != "inactive inactive" {
			t.Errorf("after uninstall: is-active = %q", active)
		}
		client := &http.Client{Timeout: 2 * time.Second}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			t.Errorf("port %d still answers after uninstall", port)
		}
		if _, errOut, code := ub.runUser(sdl, "uninstall", "--user", "userapp"); code != 1 || !strings.Contains(errOut, "not installed") {
			t.Errorf("second uninstall --user: exit %d, %s", code, errOut)
		}
	})
}
