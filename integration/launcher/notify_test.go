package launcher

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// --ready notify: an unmodified go-systemd worker (daemon.SdNotify on the
// private NOTIFY_SOCKET the launcher made) drives readiness; the launcher's
// READY=1 comes only after every worker's READY=1.
func TestNotifyReadinessFromGoSystemdWorker(t *testing.T) {
	const delay = 1500 * time.Millisecond
	begin := time.Now()
	l := start(t, spec{
		Args:   []string{"-w", "2", "--ready", "notify", "--start-timeout", "20s"},
		Notify: true,
		Env:    []string{"TESTAPP_MODE=notify", "TESTAPP_READY_DELAY=" + delay.String()},
	})
	_, ready := l.notify.waitField(t, 0, "READY=1", 20*time.Second)
	if d := ready.At.Sub(begin); d < delay {
		t.Errorf("launcher READY=1 %s after start, before its workers sent theirs (after %s)", d, delay)
	}
	// Both workers really did notify, through a NOTIFY_SOCKET that is not the launcher's.
	i, _ := l.waitStderr(0, `READY=1 sent=true err=<nil>`, 5*time.Second)
	l.waitStderr(i+1, `READY=1 sent=true err=<nil>`, 5*time.Second)
	pids := l.distinctPids("/pid", 2, 15*time.Second)
	for pid, r := range l.collectEnv(pids, 10*time.Second) {
		if ns := r.Env["NOTIFY_SOCKET"]; ns == "" || ns == l.notify.path {
			t.Errorf("worker %d NOTIFY_SOCKET=%q, want the launcher's private socket", pid, ns)
		}
	}
	for _, m := range l.notify.msgs.snapshot() {
		if m.PID != l.pid {
			t.Errorf("datagram from pid %d, not the launcher %d: %s", m.PID, l.pid, m)
		}
	}
}

// READY=1 is not sent early: with --ready notify, workers that serve but
// never notify are not ready; after --start-timeout that is a boot failure
// (exit 69) and the launcher never told systemd READY=1.
func TestNotifyNoReadyFromWorkersIsBootFailure(t *testing.T) {
	begin := time.Now()
	l := start(t, spec{
		Args:   []string{"-w", "2", "--ready", "notify", "--start-timeout", "1500ms", "--boot-retries", "1"},
		Notify: true,
	})
	if code := l.waitExit(30 * time.Second); code != 69 {
		t.Errorf("exit status %d, want 69", code)
	}
	if d := time.Since(begin); d < 1500*time.Millisecond {
		t.Errorf("gave up after %s, before --start-timeout 1.5s", d)
	}
	for _, m := range l.notify.msgs.snapshot() {
		if m.has("READY=1") {
			t.Errorf("READY=1 sent although no worker was ever ready: %s", m)
		}
	}
}

// pythonNotifyWorker is a worker in Python that reports readiness with the
// given statement after it has its socket.
const pythonNotifyWorker = `
import os, socket, subprocess, sys, http.server
sock = socket.socket(fileno=3)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ('hello from pid %d\n' % os.getpid()).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(sock.getsockname(), H, bind_and_activate=False)
srv.socket = sock
NOTIFY
print('python worker %d notified' % os.getpid(), file=sys.stderr, flush=True)
srv.serve_forever()
`

// Python workers drive readiness with the usual tools: the systemd-notify
// program (a child process of the worker: the launcher must accept its
// messages from the worker's process group), python3-systemd, and a raw
// datagram (the python-plain example).
func TestNotifyReadinessFromPythonWorkers(t *testing.T) {
	requireTool(t, "/usr/bin/python3", "python3")
	cases := []struct {
		name, stmt string
		tool       [2]string
		module     [2]string
		command    []string
	}{
		{name: "systemd-notify", tool: [2]string{"/usr/bin/systemd-notify", "systemd"},
			stmt: `subprocess.run(['/usr/bin/systemd-notify', '--ready', '--status=python ready'], check=True)`},
		{name: "python3-systemd", module: [2]string{"systemd.daemon", "python3-systemd"},
			stmt: `from systemd import daemon; assert daemon.notify('READY=1')`},
		{name: "raw-datagram-example", command: []string{"/usr/bin/python3", filepath.Join(bin.root, "contrib", "examples", "python-plain", "server.py")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tool[0] != "" {
				requireTool(t, tc.tool[0], tc.tool[1])
			}
			if tc.module[0] != "" {
				requirePythonModule(t, tc.module[0], tc.module[1])
			}
			command := tc.command
			if command == nil {
				script := filepath.Join(t.TempDir(), "worker.py")
				src := strings.Replace(pythonNotifyWorker, "NOTIFY", tc.stmt, 1)
				if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
				command = []string{"/usr/bin/python3", script}
			}
			l := start(t, spec{
				Args:    []string{"-w", "2", "--ready", "notify", "--start-timeout", "20s", "--graceful-timeout", "5s"},
				Command: command,
				Notify:  true,
			})
			l.notify.waitField(t, 0, "READY=1", 25*time.Second)
			l.distinctPids("/", 2, 15*time.Second)
			l.signal(syscall.SIGTERM)
			if code := l.waitExit(20 * time.Second); code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
		})
	}
}

// STATUS= stays current: it counts restarts and names the last event.
func TestNotifyStatusCountsRestarts(t *testing.T) {
	l := start(t, spec{
		Args:   []string{"-w", "2", "--ready-after", "200ms"},
		Notify: true,
	})
	ri, _ := l.notify.waitField(t, 0, "READY=1", 20*time.Second)
	workers := l.waitWorkers(2, 10*time.Second)
	if err := syscall.Kill(workers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\b1 restarts?\b`)
	if l.notify.waitStatus(ri, re, 15*time.Second) < 0 {
		t.Errorf(`no STATUS= counting "1 restart" after a worker was killed`)
	}
	if l.notify.waitStatus(ri, regexp.MustCompile(`\b2/2\b.*\b1 restarts?\b`), 15*time.Second) < 0 {
		t.Errorf(`no STATUS= back at "2/2" after the replacement became ready`)
	}
}

// A NOTIFY_SOCKET the launcher cannot reach is said out loud (systemd would
// otherwise wait for a READY=1 that never arrives, with no clue why), and
// serving goes on.
func TestUnreachableNotifySocketIsLogged(t *testing.T) {
	l := start(t, spec{
		Args: []string{"-w", "1", "--ready-after", "200ms"},
		Env:  []string{"NOTIFY_SOCKET=" + filepath.Join(t.TempDir(), "missing.sock")},
	})
	l.waitStderr(0, `^sdlaunch: cannot reach systemd's NOTIFY_SOCKET .*missing\.sock`, 10*time.Second)
	l.waitServing("/pid", 20*time.Second)
	l.waitStderr(0, `^sdlaunch: ready: 1/1 ready`, 10*time.Second)
}

// A worker's ERRNO= (its own last word over sd_notify) is carried into the
// launcher's report of its exit.
//
// The worker exits only once the launcher has certainly handled its
// datagram: the launcher answers a worker's STATUS= during boot with an
// EXTEND_TIMEOUT_USEC= to its own NOTIFY_SOCKET, and only then does the test
// send the worker the SIGTERM on which it exits 3. (A worker that sends
// ERRNO= and exits at once races its datagram against its exit: the
// launcher may handle the exit first and drop the datagram unread.)
func TestWorkerErrnoIsReported(t *testing.T) {
	requireTool(t, "/usr/bin/python3", "python3")
	script := `import os, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"ERRNO=111\nSTATUS=database refused", os.environ["NOTIFY_SOCKET"])
while True:
    signal.pause()`
	l := start(t, spec{
		Args:    []string{"-w", "1", "--ready", "notify", "--start-timeout", "10m", "--boot-retries", "1"},
		Command: []string{"/usr/bin/python3", "-c", script},
		Notify:  true,
	})
	l.notify.waitField(t, 0, "EXTEND_TIMEOUT_USEC=", 30*time.Second)
	w := l.waitWorkers(1, 10*time.Second)[0]
	if err := syscall.Kill(w, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := l.waitExit(30 * time.Second); code != 69 {
		t.Fatalf("exit status %d, want 69", code)
	}
	l.waitOutput(30 * time.Second)
	l.waitStderr(0, `^sdlaunch: workers could not boot: worker 0 exited with status 3 \(ERRNO=111\)`, time.Second)
}
