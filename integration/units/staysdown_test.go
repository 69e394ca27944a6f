package units

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// Issue 9 item 2: an app that cannot boot stays down under socket
// activation. With clients knocking, the service is started once and its
// workers --boot-retries times, then the sockets are stopped (ExecStopPost=
// after-exit), so every further client is refused at once instead of
// starting the app again; `systemctl is-failed` and `sdlaunch status` say
// why; `sdlaunch restart`, `systemctl start NAME.socket` and a new install
// bring it back. Once for the system manager, once for a user manager.

const bootRetries = 3

// Ports of the tests of issue 9's items 2 and 3: below the ephemeral range
// (32768-60999 on Linux), so that the load clients' own connections, in
// their thousands a second, never take a port a socket unit is about to
// bind (which failed 3 installs of 70 with "Address already in use").
const (
	stayDownPorts    = 10000 // to 11999
	installUndoPorts = 12000 // to 12999
)

// brokenBoot cannot boot: each worker start prints one marker line and
// exits 1 at once.
const brokenBoot = "#!/bin/sh\necho 'staysdown: worker boot, cannot import settings'\nexit 1\n"

// knock is one client request: when it started, how long it took, and its
// class ("ok", or load.Classify's "refused", "reset", "eof", "timeout"...).
type knock struct {
	at    time.Time
	took  time.Duration
	class string
}

// knocker runs clients that send a request (a new connection each) every
// 20 ms until stopped, recording every outcome.
type knocker struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	knocks []knock
}

func startKnocking(t *testing.T, url string, clients int) *knocker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &knocker{cancel: cancel}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	for i := 0; i < clients; i++ {
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				class := "ok"
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						class = fmt.Sprintf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					class = load.Classify(err)
				}
				k.mu.Lock()
				k.knocks = append(k.knocks, knock{start, time.Since(start), class})
				k.mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	t.Cleanup(k.stop)
	return k
}

// stop ends the clients and waits for their requests in flight.
func (k *knocker) stop() {
	k.cancel()
	k.wg.Wait()
}

// since returns the knocks started at or after t.
func (k *knocker) since(t time.Time) []knock {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []knock
	for _, kn := range k.knocks {
		if !kn.at.Before(t) {
			out = append(out, kn)
		}
	}
	return out
}

func classes(ks []knock) map[string]int {
	m := map[string]int{}
	for _, k := range ks {
		m[k.class]++
	}
	return m
}

func slowest(ks []knock) time.Duration {
	var d time.Duration
	for _, k := range ks {
		d = max(d, k.took)
	}
	return d
}

// stayDownEnv is how a scenario reaches its service manager: the system's
// as root, or a user's through setpriv.
type stayDownEnv struct {
	b        *box
	sdl      string
	as       func(args ...string) []string // wraps a command to run as the manager's user
	user     bool
	unitFlag string // journalctl match field for the service's processes
	// hookMatch returns the journalctl matches that find the after-exit
	// hook's line of a service (units.LogAfterExit)
	hookMatch func(svc string) []string
}

func (e stayDownEnv) run(args ...string) (string, string, int) { return e.b.run(e.as(args...)...) }

func (e stayDownEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := e.run(args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (e stayDownEnv) systemctl(args ...string) []string {
	if e.user {
		return append([]string{"systemctl", "--user"}, args...)
	}
	return append([]string{"systemctl"}, args...)
}

func (e stayDownEnv) sdlaunch(cmd string, args ...string) []string {
	full := []string{e.sdl, cmd}
	if e.user {
		full = append(full, "--user")
	}
	return append(full, args...)
}

// starts counts, in the journal since t, the service starts (distinct pids
// of the launcher's "starting N workers" line) and the worker starts (the broken app's
// marker line, one per worker).
func (e stayDownEnv) starts(t *testing.T, svc string, since time.Time) (service, workers int) {
	t.Helper()
	// everything sent to journald before now is in the journal after this
	e.b.mustRun("journalctl", "--sync")
	out := e.b.mustRun("journalctl", "--no-pager", "-o", "json", e.unitFlag+"="+svc,
		fmt.Sprintf("--since=@%d.%06d", since.Unix(), since.Nanosecond()/1000))
	launchers, workerPIDs := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("journalctl -o json: %v: %q", err, line)
		}
		f := func(k string) string { return jsonField(raw[k]) }
		// (the after-exit hook's line is sdlaunch's too, from another pid)
		if f("SYSLOG_IDENTIFIER") == "sdlaunch" && strings.HasPrefix(f("MESSAGE"), "starting ") {
			launchers[f("_PID")] = true
		}
		if strings.HasPrefix(f("MESSAGE"), "staysdown: worker boot") {
			workerPIDs[f("SDLAUNCH_WORKER_PID")] = true
		}
	}
	return len(launchers), len(workerPIDs)
}

// waitDown waits (bounding a hang only) until the service is failed and
// the socket no longer listens, and returns when it saw that. (The socket
// must end inactive, stopped by the hook; breakAndKnock checks that. A
// socket failed by systemd's start limit, after a restart loop, also ends
// the wait, so that the loop is reported with its counts.)
func (e stayDownEnv) waitDown(t *testing.T, name string) time.Time {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, _, _ := e.run(e.systemctl("is-active", name+".service", name+".socket")...)
		if st := strings.Fields(out); len(st) == 2 && st[0] == "failed" && (st[1] == "inactive" || st[1] == "failed") {
			return time.Now()
		}
		if time.Now().After(deadline) {
			j, _, _ := e.b.run("journalctl", "--no-pager", "-n", "40", e.unitFlag+"="+name+".service")
			t.Fatalf("%s not down after 2 minutes: is-active %q\n%s", name, out, j)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// breakAndKnock deploys code that cannot boot, stops the service (the
// socket stays listening, as after an idle stop or a crash), and knocks
// until the app is down, then checks the whole promise.
func (e stayDownEnv) breakAndKnock(t *testing.T, lb *lifeBox, name, url string) {
	t.Helper()
	svc := name + ".service"
	lb.deploy(t, brokenBoot)
	e.must(t, e.systemctl("stop", svc)...)
	e.b.mustRun("journalctl", "--sync")
	since := time.Now()
	k := startKnocking(t, url, 4)
	down := e.waitDown(t, name)
	// Keep knocking: nothing may start the app again, and every client is
	// refused at once.
	time.Sleep(5 * time.Second)
	k.stop()
	services, workers := e.starts(t, svc, since)
	all, after := k.since(since), k.since(down)
	t.Logf("%s down %s after the first knock; %d knocks in all %v, slowest %s; %d after it was down %v, slowest %s; %d service start(s), %d worker start(s)",
		name, down.Sub(since).Round(time.Millisecond), len(all), classes(all), slowest(all).Round(time.Millisecond),
		len(after), classes(after), slowest(after).Round(time.Millisecond), services, workers)
	if out, _, _ := e.run(e.systemctl("is-active", name+".socket")...); strings.TrimSpace(out) != "inactive" {
		t.Errorf("%s.socket is %q, want inactive (stopped after the exit 69)", name, strings.TrimSpace(out))
	}
	if services != 1 || workers != bootRetries {
		t.Errorf("started the service %d times and its workers %d times; want 1 and --boot-retries=%d", services, workers, bootRetries)
	}
	if c := classes(after); len(after) < 20 || c["refused"] != len(after) {
		t.Errorf("after the app was down: %d knocks %v; want at least 20, all refused", len(after), c)
	}
	for class, n := range classes(all) {
		if class != "refused" && class != "reset" && class != "eof" {
			t.Errorf("%d knocks ended %q; a client must be answered, refused or reset, never left waiting", n, class)
		}
	}
	if out, _, code := e.run(e.systemctl("is-failed", svc)...); code != 0 || strings.TrimSpace(out) != "failed" {
		t.Errorf("systemctl is-failed %s: exit %d %q", svc, code, out)
	}
	show, _, _ := e.run(e.systemctl("show", "-p", "Result,ExecMainStatus,NRestarts", svc)...)
	if !strings.Contains(show, "Result=exit-code") || !strings.Contains(show, "ExecMainStatus=69") || !strings.Contains(show, "NRestarts=0") {
		t.Errorf("systemctl show %s:\n%s", svc, show)
	}
	status, errOut, code := e.run(e.systemctl("status", "--no-pager", "-n", "3", svc)...)
	if code != 3 || !strings.Contains(status, "code=exited, status=69") || !strings.Contains(status, "after-exit") {
		t.Errorf("systemctl status %s: exit %d, want 3 with status=69 and the after-exit hook\n%s%s", svc, code, status, errOut)
	}
	t.Logf("systemctl status %s:\n%s", svc, status)
	// The hook's line, in the journal as root reads it. (systemctl status
	// shows it too when the caller may read the journal: a user sees its
	// own units' lines only where journald keeps per-user files.)
	hookLine := "Stopped " + name + ".socket so that clients are refused"
	if j := e.b.mustRun(append([]string{"journalctl", "--no-pager", fmt.Sprintf("--since=@%d", since.Unix())}, e.hookMatch(svc)...)...); !strings.Contains(j, hookLine) {
		all := e.b.mustRun("journalctl", "--no-pager", e.unitFlag+"="+svc, fmt.Sprintf("--since=@%d", since.Unix()))
		t.Errorf("journalctl %s lacks %q; the service's journal:\n%s", strings.Join(e.hookMatch(svc), " "), hookLine, all)
	}
	st, errOut, code := e.run(e.sdlaunch("status", name)...)
	if code != 3 || !strings.Contains(st, "result: exit-code (exit status 69)") ||
		!strings.Contains(st, "down: its workers could not boot (exit status 69); "+name+".socket stopped, so clients are refused") ||
		!strings.Contains(st, name+".socket: inactive (dead)") {
		t.Errorf("sdlaunch status %s: exit %d, want 3 saying why it is down\n%s%s", name, code, st, errOut)
	}
	t.Logf("sdlaunch status %s:\n%s", name, st)
}

// stayDownScenario is the whole story in one manager.
func stayDownScenario(t *testing.T, lb *lifeBox, e stayDownEnv, name string, port int) {
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	installArgs := e.sdlaunch("install", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--graceful-timeout=5s",
		"-w", "1", "--ready", "notify", fmt.Sprintf("--boot-retries=%d", bootRetries), name, "--", lb.app)
	e.must(t, installArgs...)
	waitUp(t, url)

	t.Run("RestartBringsItBack", func(t *testing.T) {
		e.breakAndKnock(t, lb, name, url)
		lb.deploy(t, lb.goodApp())
		e.must(t, e.sdlaunch("restart", name)...)
		waitUp(t, url)
		if out, _, _ := e.run(e.systemctl("is-active", name+".socket")...); strings.TrimSpace(out) != "active" {
			t.Errorf("after sdlaunch restart: %s.socket is %q", name, out)
		}
	})
	t.Run("StartingTheSocketBringsItBack", func(t *testing.T) {
		e.breakAndKnock(t, lb, name, url)
		lb.deploy(t, lb.goodApp())
		e.must(t, e.systemctl("start", name+".socket")...)
		waitUp(t, url) // the first connection activates the fixed app
	})
	t.Run("InstallBringsItBack", func(t *testing.T) {
		e.breakAndKnock(t, lb, name, url)
		lb.deploy(t, lb.goodApp())
		out := e.must(t, installArgs...)
		if !strings.Contains(out, "started "+name+".socket") {
			t.Errorf("install did not start the stopped socket:\n%s", out)
		}
		waitUp(t, url)
	})
	t.Run("LogsOfAnAppNotInstalled", func(t *testing.T) {
		if _, errOut, code := e.run(e.sdlaunch("logs", "nosuchapp")...); code != 1 || !strings.Contains(errOut, "nosuchapp: not installed") {
			t.Errorf("sdlaunch logs nosuchapp: exit %d %q, want 1 and 'not installed'", code, errOut)
		}
		if _, errOut, code := e.run(e.sdlaunch("logs", "--since", "garbage", name)...); code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("sdlaunch logs --since garbage: exit %d %q, want 2 and one line", code, errOut)
		}
	})
}

func TestStaysDownAfterExit69(t *testing.T) {
	lb := newLifeBox(t)
	e := stayDownEnv{b: lb.box, sdl: lb.sdl, as: func(a ...string) []string { return a }, unitFlag: "_SYSTEMD_UNIT",
		hookMatch: func(svc string) []string { return []string{"--unit=" + svc} }}
	stayDownScenario(t, lb, e, "lcdown", freePort(t, stayDownPorts, stayDownPorts+999))
}

func TestStaysDownAfterExit69UserManager(t *testing.T) {
	requireEnv(t)
	dir := newWorkDir(t)
	buildInto(t, dir)
	data, err := os.ReadFile(filepath.Join("testdata", "lifeapp.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lifeapp.py"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	lb := &lifeBox{dir: dir, sdl: filepath.Join(dir, "sdlaunch"), app: filepath.Join(dir, "app.sh")}
	lb.deploy(t, lb.goodApp())
	ub := newUserBox(t, dir)
	lb.box = ub.box
	// The hook's line carries USER_UNIT= and the user's _UID=, which
	// journalctl --user-unit matches; a stream line from a hook that has
	// exited may lack _SYSTEMD_USER_UNIT= (units.LogAfterExit). (As root,
	// --user-unit would match _UID=0.)
	e := stayDownEnv{b: ub.box, sdl: lb.sdl, as: ub.asUser, user: true, unitFlag: "_SYSTEMD_USER_UNIT",
		hookMatch: func(svc string) []string { return []string{"USER_UNIT=" + svc, "_UID=" + strconv.Itoa(boxUID)} }}
	stayDownScenario(t, lb, e, "lcdownuser", freePort(t, stayDownPorts+1000, stayDownPorts+1999))
}
