package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

const (
	appName = "fleetapp"
	appBase = "/srv/fleetapp"
	backend = "fleetapp"
)

// fleet is three hosts behind HAProxy, reached by Ansible over ssh.
type fleet struct {
	hosts   []*host
	lb      *haproxy
	ansible *ansible
	deb     string
	run     string
	appPort int
}

func newFleet(t *testing.T, deb string, n int) *fleet {
	t.Helper()
	f := &fleet{deb: deb, run: newWorkDir(t)}
	lnet := newLoopbackNet(t)
	addrs := []string{lnet.addr(100)}
	for i := 1; i <= n; i++ {
		addrs = append(addrs, lnet.addr(i))
	}
	sshPort := freePort(t, 20000, 40000, addrs...)
	f.appPort = freePort(t, 20000, 40000, addrs...)
	lbPort := freePort(t, 20000, 40000, addrs...)
	if sshPort == f.appPort || f.appPort == lbPort || sshPort == lbPort {
		t.Fatalf("ports collide: ssh %d, app %d, balancer %d", sshPort, f.appPort, lbPort)
	}
	id := randHex(3)
	start := time.Now()
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("h%d", i)
		f.hosts = append(f.hosts, startHost(t, f.run, name, "fleet-"+id+"-"+name, lnet.addr(i)))
	}
	keys := newSSHKeys(t, f.run)
	for _, h := range f.hosts {
		h.waitUp()
		h.prepare()
		h.startSSHD(keys, sshPort)
	}
	t.Logf("booted %d hosts with sshd on %s{1..%d}:%d in %s", n, lnet.prefix, n, sshPort, time.Since(start).Round(100*time.Millisecond))

	var servers [][2]string
	hostVars := map[string]map[string]any{}
	for _, h := range f.hosts {
		listen := fmt.Sprintf("%s:%d", h.addr, f.appPort)
		servers = append(servers, [2]string{h.name, listen})
		hostVars[h.name] = map[string]any{"sdlaunch_app_listen": []string{listen}}
	}
	f.lb = startHAProxy(t, f.run, backend, fmt.Sprintf("%s:%d", lnet.addr(100), lbPort), servers)
	f.ansible = newAnsible(t, f.run, keys, f.hosts, sshPort, map[string]any{
		"sdlaunch_app_name":        appName,
		"sdlaunch_app_base":        appBase,
		"sdlaunch_app_workers":     2,
		"sdlaunch_check_contains":  "release {{ sdlaunch_release }} ",
		"sdlaunch_haproxy_host":    "lb",
		"sdlaunch_haproxy_socket":  f.lb.socket,
		"sdlaunch_haproxy_backend": backend,
	}, hostVars)
	return f
}

// roll runs the play for a release, with the load client sending requests
// through the balancer (when withLoad) from before the play starts until
// it ends.
func (f *fleet) roll(t *testing.T, release, src string, withLoad bool) (*playResult, load.Result) {
	t.Helper()
	extra := map[string]any{"sdlaunch_deb": f.deb, "sdlaunch_release": release, "sdlaunch_release_src": src}
	var res load.Result
	var p *playResult
	if withLoad {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		// Bounded: the play's end stops it, and 20 minutes bound a hang.
		wg.Go(func() { res = load.Run(ctx, load.Options{URL: f.lb.url, Clients: 2, Duration: 20 * time.Minute}) })
		p = f.ansible.play(extra)
		cancel()
		wg.Wait()
	} else {
		p = f.ansible.play(extra)
	}
	t.Logf("play %s: exit %d in %s\n%s", release, p.code, p.elapsed.Round(100*time.Millisecond), p.summary())
	if withLoad {
		t.Logf("load during the play of %s: %s", release, res)
	}
	return p, res
}

func (f *fleet) url(h *host) string { return fmt.Sprintf("http://%s:%d/", h.addr, f.appPort) }

// TestFleetRoll installs the package and the app on three hosts with the
// role, rolls a good release through them under load, then a release that
// cannot boot, which must stop at the first host.
func TestFleetRoll(t *testing.T) {
	deb := requireEnv(t)
	f := newFleet(t, deb, 3)
	h1, h2, h3 := f.hosts[0], f.hosts[1], f.hosts[2]
	version := strings.TrimSpace(mustLocal(t, "dpkg-deb", "--field", deb, "Version"))
	binSum := sha256.Sum256([]byte(mustLocal(t, "sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -xO ./usr/bin/sdlaunch`, "sh", deb)))
	wantSum := hex.EncodeToString(binSum[:])

	// 1. First install: the package, the app, release r1, into the balancer.
	r1 := makeRelease(t, f.run, "r1", false)
	p := f.play(t, "r1", r1)
	if p.code != 0 {
		t.Fatalf("install play failed: %v\n%s", p.failed(), p.summary())
	}
	if got := p.ran("Install sdlaunch"); !slices.Equal(got, []string{"h1", "h2", "h3"}) {
		t.Errorf("the package was installed on %v, want h1, h2, h3", got)
	}
	for _, h := range f.hosts {
		if got := strings.TrimSpace(h.mustRun("dpkg-query", "--show", "--showformat=${db:Status-Status} ${Version}", "sdlaunch")); got != "installed "+version {
			t.Errorf("%s: dpkg-query says %q, want installed %s", h.name, got, version)
		}
		if got := strings.Fields(h.mustRun("sha256sum", "/usr/bin/sdlaunch"))[0]; got != wantSum {
			t.Errorf("%s: /usr/bin/sdlaunch is not the package's binary (sha256 %s, want %s)", h.name, got, wantSum)
		}
		h.waitGeneration(appName, appBase, 1)
		if got := releases(t, f.url(h), 10); !reflect.DeepEqual(got, only("r1", 10)) {
			t.Errorf("%s answers %v, want r1", h.name, got)
		}
	}
	if r := runCmd(time.Minute, nil, nil, "test", "!", "-e", "/usr/bin/sdlaunch"); r.code != 0 {
		t.Error("the play's dpkg --install reached this machine's /usr")
	}
	for name, s := range f.lb.mustStat() {
		if !strings.HasPrefix(s.Status, "UP") {
			t.Errorf("after the install, haproxy has %s %s", name, s.Status)
		}
	}

	// 2. A good release reaches every host, one at a time, under load.
	r2 := makeRelease(t, f.run, "r2", false)
	before := f.lb.mustStat()
	p, res := f.roll(t, "r2", r2, true)
	if p.code != 0 {
		t.Fatalf("roll of r2 failed: %v\n%s", p.failed(), p.summary())
	}
	checkLoad(t, "roll r2", res)
	if got := p.ran("Reload the app onto release"); !slices.Equal(got, []string{"h1", "h2", "h3"}) {
		t.Errorf("r2 was reloaded on %v, want h1, h2, h3 in that order", got)
	}
	after := f.lb.mustStat()
	for _, h := range f.hosts {
		if n := after[h.name].Total - before[h.name].Total; n <= 0 {
			t.Errorf("%s served no request through haproxy during the roll", h.name)
		}
		s := h.waitGeneration(appName, appBase, 2)
		if s.Current != appBase+"/releases/r2" {
			t.Errorf("%s: current -> %s, want r2", h.name, s.Current)
		}
		if got := releases(t, f.url(h), 10); !reflect.DeepEqual(got, only("r2", 10)) {
			t.Errorf("%s answers %v, want r2", h.name, got)
		}
	}
	checkBalancer(t, f.lb, after)

	// 3. A release that cannot boot stops the roll at h1, which keeps serving
	// r2 and goes back into the balancer; h2 and h3 are never touched.
	r3 := makeRelease(t, f.run, "r3", true)
	was := map[string]appState{}
	for _, h := range f.hosts {
		was[h.name] = h.state(appName, appBase)
	}
	before = f.lb.mustStat()
	p, res = f.roll(t, "r3", r3, true)
	if p.code == 0 {
		t.Fatalf("the roll of a release that cannot boot succeeded\n%s", p.summary())
	}
	checkLoad(t, "roll r3", res)
	if got := p.touched(); !slices.Equal(got, []string{"h1"}) {
		t.Errorf("the failed roll ran tasks on %v, want only h1", got)
	}
	if _, ok := p.Stats["h1"]; !ok || p.Stats["h1"].Failures != 1 || len(p.Stats) != 1 {
		t.Errorf("stats of the failed roll: %+v, want one failure on h1 and no other host", p.Stats)
	}
	failed := strings.Join(p.failed(), "\n")
	t.Logf("the failed roll reported:\n%s", failed)
	for _, want := range []string{"h1: Reload the app onto release r3:", "h1: Stop the roll:", "it serves r2 and is back in the balancer"} {
		if !strings.Contains(failed, want) {
			t.Errorf("failures lack %q:\n%s", want, failed)
		}
	}
	now := h1.state(appName, appBase)
	if now.MainPID != was["h1"].MainPID || now.Current != was["h1"].Current || !slices.Equal(now.Generations, was["h1"].Generations) {
		t.Errorf("h1 after the failed reload: %s\nbefore: %s\nwant the same launcher, current -> r2 and the same workers", fmtState(now), fmtState(was["h1"]))
	}
	if !slices.Contains(now.Releases, "r3") {
		t.Errorf("h1: r3 was not copied (%v): the play did not get as far as the reload", now.Releases)
	}
	for _, h := range []*host{h2, h3} {
		if now := h.state(appName, appBase); !reflect.DeepEqual(now, was[h.name]) {
			t.Errorf("%s was touched by the failed roll:\nnow    %s\nbefore %s", h.name, fmtState(now), fmtState(was[h.name]))
		}
	}
	if got := releases(t, f.url(h1), 10); !reflect.DeepEqual(got, only("r2", 10)) {
		t.Errorf("h1 answers %v, want r2", got)
	}
	after = f.lb.mustStat()
	for _, h := range []*host{h2, h3} { // they carried the load while h1 was out
		if after[h.name].Total-before[h.name].Total <= 0 {
			t.Errorf("%s served no request through haproxy during the failed roll", h.name)
		}
	}
	if !strings.HasPrefix(after["h1"].Status, "UP") {
		t.Errorf("h1 is %s in haproxy: a host that serves the previous release goes back in", after["h1"].Status)
	}
	// Through the balancer, every host answers r2: 30 requests, round robin.
	if got := releases(t, f.lb.url, 30); !reflect.DeepEqual(got, only("r2", 30)) {
		t.Errorf("through haproxy: %v, want only r2", got)
	}
	final := f.lb.mustStat()
	for _, h := range f.hosts {
		if final[h.name].Total-after[h.name].Total < 1 {
			t.Errorf("%s served none of 30 requests through haproxy after the failed roll", h.name)
		}
	}
	checkBalancer(t, f.lb, final)
}

// play runs the play without load (the first install).
func (f *fleet) play(t *testing.T, release, src string) *playResult {
	t.Helper()
	p, _ := f.roll(t, release, src, false)
	return p
}

func checkLoad(t *testing.T, what string, r load.Result) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: %v", what, r.Err)
	}
	if r.Failed != 0 {
		t.Errorf("%s: %d of %d requests through haproxy failed: %v", what, r.Failed, r.Total, r.Errors)
	}
	if r.OK == 0 {
		t.Errorf("%s: no request succeeded: the load did not run", what)
	}
}

// checkBalancer: HAProxy saw no failed connection or response and retried
// or redispatched nothing.
func checkBalancer(t *testing.T, lb *haproxy, s map[string]serverStat) {
	t.Helper()
	for name, st := range s {
		if st.ConnErrors+st.RespErrors+st.Retries+st.Redispatches != 0 {
			t.Errorf("haproxy %s/%s: %+v", lb.backend, name, st)
		}
	}
}
