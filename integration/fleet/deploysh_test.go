package fleet

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// TestDeployScript deploys with contrib/deploy/deploy.sh on one host, the
// way its README's Jenkins stage does: copy the build over ssh, run the
// script over ssh. A good release is served with no failed request; a
// release that cannot boot makes the script exit non-zero, and the host
// keeps serving the previous release, again with no failed request.
func TestDeployScript(t *testing.T) {
	deb := requireEnv(t)
	run := newWorkDir(t)
	lnet := newLoopbackNet(t)
	addr := lnet.addr(1)
	sshPort := freePort(t, 20000, 40000, addr)
	appPort := freePort(t, 20000, 40000, addr)
	if appPort == sshPort {
		t.Fatalf("ports collide: %d", appPort)
	}
	h := startHost(t, run, "web1", "fleet-"+randHex(3)+"-web1", addr)
	keys := newSSHKeys(t, run)
	h.waitUp()
	h.prepare()
	h.startSSHD(keys, sshPort)
	web1 := sshTarget{keys: keys, addr: addr, port: sshPort}
	mustSSH := func(command string) string {
		t.Helper()
		r := web1.ssh(5*time.Minute, command)
		if r.code != 0 {
			t.Fatalf("ssh web1 %s: %s", command, r)
		}
		return r.stdout
	}

	// Once: the package, the script, a first release, the units.
	web1.scp(t, "/root/", deb)
	mustSSH("dpkg --install /root/" + filepath.Base(deb))
	mustSSH("mkdir -p /usr/local/bin")
	web1.scp(t, "/usr/local/bin/", filepath.Join(moduleRoot(t), "contrib", "deploy", "deploy.sh"))
	const base = "/srv/" + appName
	deploy := func(release string, broken bool) result {
		t.Helper()
		src := makeRelease(t, run, release, broken)
		mustSSH("rm -rf /root/build")
		web1.scp(t, "/root/build", src)
		return web1.ssh(10*time.Minute, "BUILD_NUMBER="+release+" deploy.sh "+appName+" /root/build")
	}
	r := deploy("r1", false)
	if r.code != 0 || !strings.Contains(r.stdout, "is not installed yet") {
		t.Fatalf("first deploy.sh: %s", r)
	}
	listen := fmt.Sprintf("%s:%d", addr, appPort)
	mustSSH("sdlaunch install --listen " + listen + " --workers 2 --ready notify --chdir " + base + "/current " +
		appName + " -- /usr/bin/gunicorn --preload --workers=1 app:app")
	url := "http://" + listen + "/"
	h.waitGeneration(appName, base, 1)
	if got := releases(t, url, 10); !reflect.DeepEqual(got, only("r1", 10)) {
		t.Fatalf("after install: %v, want r1", got)
	}

	underLoad := func(f func() result) (result, load.Result) {
		ctx, cancel := context.WithCancel(context.Background())
		var res load.Result
		var wg sync.WaitGroup
		// Bounded: the deploy's end stops it, and 15 minutes bound a hang.
		wg.Go(func() { res = load.Run(ctx, load.Options{URL: url, Clients: 2, Duration: 15 * time.Minute}) })
		r := f()
		cancel()
		wg.Wait()
		return r, res
	}

	// A good release.
	start := time.Now()
	r, res := underLoad(func() result { return deploy("r2", false) })
	t.Logf("deploy.sh r2: exit %d in %s; load: %s\n%s", r.code, time.Since(start).Round(100*time.Millisecond), res, r.stdout+r.stderr)
	if r.code != 0 {
		t.Fatalf("deploy.sh r2: %s", r)
	}
	checkLoad(t, "deploy.sh r2", res)
	s := h.waitGeneration(appName, base, 2)
	if !regexp.MustCompile(`/releases/\d{8}T\d{6}Z-r2$`).MatchString(s.Current) {
		t.Errorf("current -> %s, want the r2 release", s.Current)
	}
	if got := releases(t, url, 10); !reflect.DeepEqual(got, only("r2", 10)) {
		t.Errorf("after deploy.sh r2: %v, want r2", got)
	}

	// A release that cannot boot.
	was := h.state(appName, base)
	start = time.Now()
	r, res = underLoad(func() result { return deploy("r3", true) })
	t.Logf("deploy.sh r3: exit %d in %s; load: %s\n%s", r.code, time.Since(start).Round(100*time.Millisecond), res, r.stdout+r.stderr)
	if r.code == 0 {
		t.Fatalf("deploy.sh of a release that cannot boot exited 0: %s", r)
	}
	if !strings.Contains(r.stderr, "could not boot; "+appName+" keeps serving "+was.Current) {
		t.Errorf("deploy.sh r3 did not say what serves: %s", r)
	}
	checkLoad(t, "deploy.sh r3", res)
	now := h.state(appName, base)
	if now.MainPID != was.MainPID || now.Current != was.Current || !reflect.DeepEqual(now.Generations, was.Generations) {
		t.Errorf("after the failed deploy: %s\nbefore: %s\nwant the same launcher, current and workers", fmtState(now), fmtState(was))
	}
	if got := releases(t, url, 10); !reflect.DeepEqual(got, only("r2", 10)) {
		t.Errorf("after deploy.sh r3: %v, want r2", got)
	}
}
