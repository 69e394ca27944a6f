package units

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 9 item 3: a failed install undoes itself. A first install that
// fails leaves nothing enabled, loaded or listening, and nothing restarting;
// a re-install that fails puts the previous units back and leaves the
// previous app serving. The output says which.

// unreachableDir is a directory a DynamicUser cannot enter, so that
// WorkingDirectory= fails with 200/CHDIR at every start (the case).
func unreachableDir(t *testing.T, lb *lifeBox) string {
	t.Helper()
	d := filepath.Join(lb.dir, "secret")
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// jobStarts counts systemd's "Starting UNIT..." entries (a start job began)
// since t.
func (lb *lifeBox) jobStarts(t *testing.T, unit string, since time.Time) int {
	t.Helper()
	lb.mustRun("journalctl", "--sync")
	n := 0
	for _, e := range lb.journal(t, "UNIT="+unit, "MESSAGE_ID=7d4958e842da4a758f6c1cdc7b36dcc5",
		fmt.Sprintf("--since=@%d.%06d", since.Unix(), since.Nanosecond()/1000)) {
		if e["JOB_TYPE"] == "start" || e["JOB_TYPE"] == "" {
			n++
		}
	}
	return n
}

func refused(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return strings.Contains(err.Error(), "connection refused")
}

func TestFailedFirstInstallLeavesNothing(t *testing.T) {
	lb := newLifeBox(t)
	secret := unreachableDir(t, lb)
	busy, err := net.Listen("tcp", "127.0.0.1:0") // a port someone else holds
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	cases := []struct {
		name, why string
		port      int // 0: a free one, picked just before the install
		flags     []string
		command   []string
	}{
		{"undochdir", "Failed at step CHDIR", 0, []string{"--chdir", secret}, []string{lb.app}},
		{"undonoboot", "workers could not boot", 0, []string{"--boot-retries=2"}, []string{lb.app, "--exit-at-boot", "3"}},
		{"undoport", "Address already in use", busyPort, nil, []string{lb.app}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.port == 0 {
				c.port = freePort(t, installUndoPorts, installUndoPorts+999)
			}
			flags := append([]string{"-w", "2", "--ready", "notify", "--restart-sec", "1s"}, c.flags...)
			start := time.Now()
			out, errOut, code := lb.install(c.name, c.port, flags, c.command...)
			done := time.Now()
			t.Logf("failed first install: exit %d in %s\nstdout:\n%sstderr:\n%s", code, done.Sub(start).Round(time.Millisecond), out, errOut)
			if code != 1 {
				t.Fatalf("install: exit %d, want 1", code)
			}
			if !strings.Contains(out, "nothing of "+c.name+" is left enabled or listening") || !strings.Contains(errOut, "install undone: nothing is left enabled or listening") ||
				!strings.Contains(errOut, c.why) {
				t.Errorf("install output does not say the install was undone, or why it failed (%q)", c.why)
			}
			// Watch for three RestartSec= of a restart that must not come.
			time.Sleep(3 * time.Second)
			for _, u := range []string{c.name + ".service", c.name + ".socket"} {
				if _, _, code := lb.run("test", "-e", "/etc/systemd/system/"+u); code == 0 {
					t.Errorf("%s is still in /etc/systemd/system", u)
				}
				p := lb.show(t, u, "LoadState", "ActiveState", "UnitFileState")
				if p["LoadState"] != "not-found" || p["ActiveState"] != "inactive" || p["UnitFileState"] != "" {
					t.Errorf("%s after the failed install: %v, want not-found, inactive, no unit file", u, p)
				}
				if n := lb.jobStarts(t, u, done); n != 0 {
					t.Errorf("%s was started %d times after the failed install returned", u, n)
				}
			}
			if links, _, _ := lb.run("sh", "-c", "find /etc/systemd/system -name '"+c.name+"*'"); strings.TrimSpace(links) != "" {
				t.Errorf("left behind: %s", links)
			}
			if c.port != busyPort && !refused(c.port) {
				t.Errorf("port %d still accepts connections", c.port)
			}
		})
	}
}

func TestFailedReinstallKeepsThePreviousApp(t *testing.T) {
	lb := newLifeBox(t)
	secret := unreachableDir(t, lb)
	const name = "undore"
	svc := name + ".service"
	port := freePort(t, installUndoPorts, installUndoPorts+999)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	good := []string{"-w", "2", "--ready", "notify", "--restart-sec", "1s"}
	lb.mustInstall(t, name, port, good, lb.app)
	waitUp(t, url)
	unitFiles := func() string {
		return lb.mustRun("sh", "-c", "cd /etc/systemd/system && for f in "+name+"*; do echo \"### $f\"; cat \"$f\"; done; systemctl is-enabled "+name+".socket "+name+".service")
	}
	before := unitFiles()

	otherPort := freePort(t, installUndoPorts, installUndoPorts+999)
	for otherPort == port {
		otherPort = freePort(t, installUndoPorts, installUndoPorts+999)
	}
	cases := []struct {
		what    string
		why     string
		port    int
		flags   []string
		command []string
	}{
		{"200/CHDIR", "Failed at step CHDIR", port, append([]string{"--chdir", secret}, good...), []string{lb.app}},
		{"a new port and an app that cannot boot", "workers could not boot", otherPort, append([]string{"--boot-retries=2"}, good...), []string{lb.app, "--exit-at-boot", "3"}},
		// a new socket unit (undore-admin.socket) that must go again
		{"a new socket unit and 200/CHDIR", "Failed at step CHDIR", port, append([]string{"--listen", fmt.Sprintf("admin=127.0.0.1:%d", otherPort), "--chdir", secret}, good...), []string{lb.app}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.what, "/", "-"), func(t *testing.T) {
			stopLoad := startLoad(t, url)
			askUntil(t, url, 10*time.Second, "an answer under load", func(as []answer) bool { return len(as) >= 5 })
			start := time.Now()
			out, errOut, code := lb.install(name, c.port, c.flags, c.command...)
			done := time.Now()
			during := stopLoad()
			t.Logf("failed re-install (%s): exit %d in %s; load during it: %s\nstdout:\n%sstderr:\n%s", c.what, code, done.Sub(start).Round(time.Millisecond), during, out, errOut)
			if code != 1 {
				t.Fatalf("re-install: exit %d, want 1", code)
			}
			if !strings.Contains(out, "putting back the previous units of "+name) || !strings.Contains(out, "the previous "+svc+" is ready") ||
				!strings.Contains(errOut, "the previous units are back and the previous version is running") || !strings.Contains(errOut, c.why) {
				t.Errorf("install output does not say the previous units are back and serving, or why it failed (%q)", c.why)
			}
			if after := unitFiles(); after != before {
				t.Errorf("unit files after the failed re-install differ from before:\n--- before\n%s\n--- after\n%s", before, after)
			}
			if p := lb.show(t, svc, "ActiveState", "SubState"); p["ActiveState"] != "active" || p["SubState"] != "running" {
				t.Errorf("%s after the failed re-install: %v", svc, p)
			}
			// The previous app serves, and keeps serving: no failed
			// request, no restart.
			stopLoad = startLoad(t, url)
			askUntil(t, url, 10*time.Second, "the previous app answers", func(as []answer) bool { return len(pidsOf(as, 1)) == 2 })
			time.Sleep(3 * time.Second)
			checkLoad(t, stopLoad(), 20)
			if n := lb.jobStarts(t, svc, done); n != 0 {
				t.Errorf("%s was started %d times after the failed re-install returned", svc, n)
			}
			if !refused(otherPort) {
				t.Errorf("the failed install's port %d still accepts connections", otherPort)
			}
			if p := lb.show(t, name+"-admin.socket", "LoadState", "ActiveState"); p["LoadState"] != "not-found" || p["ActiveState"] != "inactive" {
				t.Errorf("%s-admin.socket after the failed re-install: %v", name, p)
			}
		})
	}

	// Not an undo: a re-install that adds a socket unit to the running app
	// works (systemd refused to start the new socket while the service ran).
	t.Run("AddingASocketUnit", func(t *testing.T) {
		out, errOut, code := lb.install(name, port, append([]string{"--listen", fmt.Sprintf("admin=127.0.0.1:%d", otherPort)}, good...), lb.app)
		t.Logf("re-install adding %s-admin.socket: exit %d\n%s%s", name, code, out, errOut)
		if code != 0 {
			t.Fatalf("re-install adding a socket unit: exit %d", code)
		}
		// (lifeapp serves its first fd only, which need not be the old
		// socket's: the test asks systemd and the kernel, not the app.)
		for _, u := range []string{name + ".socket", name + "-admin.socket", svc} {
			if p := lb.show(t, u, "ActiveState"); p["ActiveState"] != "active" {
				t.Errorf("%s: %v", u, p)
			}
		}
		for _, p := range []int{port, otherPort} {
			if refused(p) {
				t.Errorf("port %d does not listen", p)
			}
		}
	})
}
