package observe

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// scenario is a real server waiting (or not) for connections on fd 3.
type scenario struct {
	name   string
	argv   func(t testing.TB) []string
	env    []string
	needs  []string
	amd64  bool   // uses syscalls only amd64 has (select, epoll_wait, poll, pause)
	want   string // "accepting", "not" or "unknown"
	detail string // must appear in Detail (accepting, not) or Unknown (unknown)
	// prep drives the server into the state to look at, awaiting events;
	// nil for "accepting", where the look is repeated until it says so.
	prep func(t testing.TB, s *server, l Listener)
}

func appsDir(t testing.TB) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "testdata", "apps")
}

func target(mode ...string) func(testing.TB) []string {
	return func(t testing.TB) []string { return append([]string{targetBin(t)}, mode...) }
}

func argv(a ...string) func(testing.TB) []string {
	return func(testing.TB) []string { return a }
}

// inSyscall awaits the server's main thread in the named syscall.
func inSyscall(name string) func(testing.TB, *server, Listener) {
	return func(t testing.TB, s *server, _ Listener) {
		s.await(t, "waiting")
		awaitSyscall(t, s.pgid, s.pgid, name)
	}
}

func dial(t testing.TB, l Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const (
	py       = "/usr/bin/python3"
	gunicorn = "/usr/bin/gunicorn"
	node     = "/usr/bin/node"
)

var werkzeugFD = []string{"WERKZEUG_RUN_MAIN=true", "WERKZEUG_SERVER_FD=3"}

func scenarios() []scenario {
	return []scenario{
		// The target's raw waits, one per kind.
		{name: "raw-accept", argv: target("accept"), want: "accepting", detail: "in accept on"},
		{name: "raw-accept4", argv: target("accept4"), want: "accepting", detail: "in accept4 on"},
		{name: "raw-poll", amd64: true, argv: target("poll"), want: "accepting", detail: "in poll on"},
		{name: "raw-ppoll", argv: target("ppoll"), want: "accepting", detail: "in ppoll on"},
		{name: "raw-select", amd64: true, argv: target("select"), want: "accepting", detail: "in select on"},
		{name: "raw-pselect6", argv: target("pselect"), want: "accepting", detail: "in pselect6 on"},
		{name: "raw-epoll_wait", amd64: true, argv: target("epoll"), want: "accepting", detail: "in epoll_wait on"},
		{name: "raw-epoll_pwait", argv: target("epoll_pwait"), want: "accepting", detail: "in epoll_pwait on"},
		{name: "raw-epoll_pwait2", argv: target("epoll_pwait2"), want: "accepting", detail: "in epoll_pwait2 on"},
		{name: "raw-epoll-nested", argv: target("epoll-nested"), want: "accepting", detail: "-> "},
		{name: "raw-iouring-and-accept", argv: target("iouring-accept"), want: "accepting", detail: "in accept4 on"},
		{name: "raw-hold", amd64: true, argv: target("hold"), want: "not", detail: "pause", prep: inSyscall("pause")},
		{name: "raw-poll-pollout", amd64: true, argv: target("poll-other"), want: "not", detail: "poll", prep: inSyscall("poll")},
		{name: "raw-epoll-pollout", amd64: true, argv: target("epoll-out"), want: "not", detail: "epoll_wait", prep: inSyscall("epoll_wait")},
		{name: "raw-epoll-oneshot-fired", amd64: true, argv: target("epoll-oneshot"), want: "not", detail: "epoll_wait",
			prep: func(t testing.TB, s *server, l Listener) {
				s.await(t, "waiting")
				dial(t, l)
				s.await(t, "fired")
				awaitSyscall(t, s.pgid, s.pgid, "epoll_wait")
			}},
		{name: "raw-iouring", argv: target("iouring"), want: "unknown", detail: "io_uring_enter", prep: inSyscall("io_uring_enter")},

		// Real servers, each given the socket as fd 3 like sdlaunch does.
		{name: "gunicorn-sync", argv: argv(gunicorn, "-w", "1", "wsgiapp:app"), needs: []string{gunicorn}, want: "accepting", detail: "in pselect6 on"},
		{name: "gunicorn-sync-2workers", argv: argv(gunicorn, "-w", "2", "wsgiapp:app"), needs: []string{gunicorn}, want: "accepting", detail: "in pselect6 on"},
		{name: "gunicorn-app-fails", argv: argv(gunicorn, "-w", "1", "failapp:app"), needs: []string{gunicorn}, want: "not", detail: "pselect6",
			prep: func(t testing.TB, s *server, _ Listener) {
				s.await(t, "Worker exiting")
				s.await(t, "Worker exiting") // the arbiter respawns, and lives on
				awaitSyscall(t, s.pgid, s.pgid, "pselect6")
			}},
		{name: "flask-threaded", argv: argv(py, "flaskapp.py"), env: werkzeugFD, needs: []string{py}, want: "accepting", detail: "in poll on"},
		{name: "python-socketserver", argv: argv(py, "sockserver.py"), needs: []string{py}, want: "accepting", detail: "in poll on"},
		{name: "python-accept", argv: argv(py, "blocking.py"), needs: []string{py}, want: "accepting", detail: "in accept4 on"},
		{name: "python-select", argv: argv(py, "blocking.py", "select"), needs: []string{py}, want: "accepting", detail: "in pselect6 on"},
		{name: "sh-wrapper-python", argv: argv("/bin/sh", "-c", py+" blocking.py; echo exited"), needs: []string{py}, want: "accepting", detail: "in accept4 on"},
		{name: "sh-daemonised-python", argv: argv("/bin/sh", "-c", "("+py+" blocking.py &); exec sleep 1000"), needs: []string{py}, want: "accepting", detail: "in accept4 on"},
		{name: "python-accept-zombie-child", argv: argv(py, "blocking.py", "zombie"), needs: []string{py}, want: "accepting", detail: "in accept4 on"},
		{name: "node-http", argv: argv(node, "server.js"), needs: []string{node}, want: "accepting", detail: "in epoll_pwait on"},
		{name: "go-nethttp", argv: target("http"), want: "accepting", detail: "in epoll_pwait on"},
		{name: "go-nethttp-64threads", argv: target("http", "64"), want: "accepting", detail: "in epoll_pwait on"},
		{name: "uvicorn", argv: argv(py, "-m", "uvicorn", "--fd", "3", "asgiapp:app"), needs: []string{"/usr/lib/python3/dist-packages/uvicorn"}, want: "accepting", detail: "in epoll_wait on"},
		{name: "uvicorn-2workers", argv: argv(py, "-m", "uvicorn", "--fd", "3", "--workers", "2", "asgiapp:app"), needs: []string{"/usr/lib/python3/dist-packages/uvicorn"}, want: "accepting", detail: "in epoll_wait on"},
	}
}

// run starts the scenario and returns the server once it is in the state
// to look at, with the look that showed it (for "accepting").
func (sc scenario) run(t testing.TB) (*server, Listener, Wait) {
	t.Helper()
	need(t, sc.needs...)
	if sc.amd64 && runtime.GOARCH != "amd64" {
		t.Skipf("%s waits in a syscall %s does not have", sc.name, runtime.GOARCH)
	}
	fd, l := tcpListener(t)
	s := startServer(t, fd, startOpts{env: sc.env, dir: appsDir(t)}, sc.argv(t)...)
	if sc.prep != nil {
		sc.prep(t, s, l)
		return s, l, Wait{}
	}
	w := awaitWait(t, s, []Listener{l}, sc.name+" accepting", isAccepting)
	return s, l, w
}

func (sc scenario) check(t testing.TB, w Wait) {
	t.Helper()
	switch sc.want {
	case "accepting":
		if !w.Accepting || w.Unknown != "" || !strings.Contains(w.Detail, sc.detail) {
			t.Errorf("%s: got %+v, want accepting with %q in Detail", sc.name, w, sc.detail)
		}
	case "not":
		if w.Accepting || w.Unknown != "" || !strings.Contains(w.Detail, sc.detail) {
			t.Errorf("%s: got %+v, want not accepting, nothing unknown, %q in Detail", sc.name, w, sc.detail)
		}
	case "unknown":
		if w.Accepting || !strings.Contains(w.Unknown, sc.detail) {
			t.Errorf("%s: got %+v, want not accepting with %q in Unknown", sc.name, w, sc.detail)
		}
	}
}

// TestLiveAccepting looks at each real server and each raw wait kind.
func TestLiveAccepting(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			s, l, w := sc.run(t)
			if sc.prep != nil {
				w = Live().Accepting(s.group(t), []Listener{l})
			}
			sc.check(t, w)
		})
	}
}
