package observe

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMain makes the test process a subreaper, as the launcher is, and runs
// the helper modes the unprivileged tests start this binary in.
func TestMain(m *testing.M) {
	if mode := os.Getenv("OBSERVE_HELPER"); mode != "" {
		os.Exit(runHelper(mode))
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(1)
	}
	code := m.Run()
	if targetOnce.path != "" {
		os.RemoveAll(filepath.Dir(targetOnce.path))
	}
	os.Exit(code)
}

// helperT is the testing.TB the helper modes give the test helpers: a
// failure ends the helper with the message on stderr.
type helperT struct {
	testing.TB
	cleanups []func()
}

type helperFatal string

func (h *helperT) Helper()                   {}
func (h *helperT) Cleanup(f func())          { h.cleanups = append(h.cleanups, f) }
func (h *helperT) Fatal(a ...any)            { panic(helperFatal(fmt.Sprint(a...))) }
func (h *helperT) Fatalf(f string, a ...any) { panic(helperFatal(fmt.Sprintf(f, a...))) }
func (h *helperT) Skipf(f string, a ...any)  { panic(helperFatal("skip: " + fmt.Sprintf(f, a...))) }
func (h *helperT) Logf(string, ...any)       {}

// helperReport is what a helper prints, as JSON, for the test to judge.
type helperReport struct {
	UID        int
	NoNewPrivs string
	Wait       Wait
	Conns      []Conn
	ConnsErr   string
	FrozenPIDs []int
	FreezeErr  string
	ThawErr    string
}

// helperLook is the input of the "look" mode.
type helperLook struct {
	Launcher, PGID int
	Listeners      []Listener
}

func runHelper(mode string) (code int) {
	h := &helperT{}
	defer func() {
		for i := len(h.cleanups) - 1; i >= 0; i-- {
			h.cleanups[i]()
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			if msg, ok := r.(helperFatal); ok {
				fmt.Fprintln(os.Stderr, "helper:", msg)
			} else {
				fmt.Fprintln(os.Stderr, "helper panic:", r, string(debug.Stack()))
			}
			code = 1
		}
	}()
	rep := helperReport{UID: os.Getuid(), NoNewPrivs: noNewPrivs()}
	switch mode {
	case "look": // look at a group someone else started
		var in helperLook
		if err := json.Unmarshal([]byte(os.Getenv("OBSERVE_LOOK")), &in); err != nil {
			h.Fatal(err)
		}
		pids, err := Live().Group(in.Launcher, in.PGID)
		if err != nil {
			h.Fatal(err)
		}
		rep.Wait = Live().Accepting(pids, in.Listeners)
		if _, err := Live().Connections(pids, in.Listeners, LiveSockets()); err != nil {
			rep.ConnsErr = err.Error()
		}
		if _, err := Live().Freeze(in.Launcher, in.PGID, deadline); err != nil {
			rep.FreezeErr = err.Error()
		}
	case "pair": // start a target as our own child, as the launcher does
		fd, l := tcpListener(h)
		ls := []Listener{l}
		s := startServer(h, fd, startOpts{stdin: true}, targetBin(h), "conn")
		s.await(h, "waiting")
		if _, err := io.WriteString(s.stdin, "accept\n"); err != nil {
			h.Fatal(err)
		}
		rep.Wait = awaitWait(h, s, ls, "accepting", isAccepting)
		c := dial(h, l)
		s.await(h, "accepted 0")
		if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
			h.Fatal(err)
		}
		pids := s.group(h)
		var err error
		rep.Conns, err = Live().Connections(pids, ls, LiveSockets())
		if err != nil {
			rep.ConnsErr = err.Error()
		}
		rep.FrozenPIDs, err = Live().Freeze(os.Getpid(), s.pgid, deadline)
		if err != nil {
			rep.FreezeErr = err.Error()
		}
		if err := Thaw(s.pgid); err != nil {
			rep.ThawErr = err.Error()
		}
	default:
		h.Fatalf("unknown helper mode %q", mode)
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		h.Fatal(err)
	}
	return 0
}

func noNewPrivs() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
