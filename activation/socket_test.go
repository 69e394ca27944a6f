package activation

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBindTCPAndUnix(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	specs := []Spec{mustParse(t, "127.0.0.1:"+strconv.Itoa(freePort(t))), mustParse(t, "api=unix:"+sock)}
	socks, err := Bind(specs, Backlog)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(socks)
	for _, s := range socks {
		flags, err := unix.FcntlInt(uintptr(s.FD()), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s: not close-on-exec (flags %#x, %v)", s, flags, err)
		}
		if fl, _ := unix.FcntlInt(uintptr(s.FD()), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
			t.Errorf("%s: non-blocking; systemd passes blocking sockets by default", s)
		}
	}
	if !socks[0].Bound() || !socks[1].Bound() {
		t.Error("sockets bound from --listen not marked as bound by the launcher")
	}
	if socks[0].Name != DefaultFDName || socks[1].Name != "api" {
		t.Errorf("names = %q, %q", socks[0].Name, socks[1].Name)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial the bound unix socket: %v", err)
	}
	c.Close()
	if err := CloseAll(socks); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unix socket file left behind: %v", err)
	}
}

func TestBindInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Bind([]Spec{mustParse(t, "127.0.0.1:"+strconv.Itoa(port))}, Backlog)
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("Bind on a port in use: %v, want EADDRINUSE", err)
	}
}

func TestBindReplacesStaleUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Bind([]Spec{mustParse(t, "unix:"+path)}, Backlog); !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("Bind on a live unix socket: %v, want EADDRINUSE", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // leaves a stale socket file
	socks, err := Bind([]Spec{mustParse(t, "unix:"+path)}, Backlog)
	if err != nil {
		t.Fatalf("Bind over a stale socket file: %v", err)
	}
	CloseAll(socks)
}

func TestStripLauncherEnv(t *testing.T) {
	in := []string{"PATH=/bin", "LISTEN_FDS=2", "LISTEN_PID=1", "LISTEN_FDNAMES=a", "NOTIFY_SOCKET=/run/x",
		"WATCHDOG_USEC=1", "WATCHDOG_PID=1", "JOURNAL_STREAM=8:9", "LISTEN_FDS_EXTRA=ok",
		"SDLAUNCH_GUARDED=1", "SDLAUNCH_NOTIFY_DIR=/tmp/x", "SDLAUNCH_CONTROL_PID=1"}
	got := StripLauncherEnv(in)
	want := []string{"PATH=/bin", "LISTEN_FDS_EXTRA=ok"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("StripLauncherEnv = %q, want %q", got, want)
	}
}

func mustParse(t *testing.T, s string) Spec {
	t.Helper()
	sp, err := ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// freePort returns a port free on 127.0.0.1 and ::1 a moment ago, from
// 1100-1999: outside the kernel's ephemeral range, from which port 0 would
// pick and an outgoing connection of a package tested beside this one
// could take it before Bind does.
func freePort(t *testing.T) int {
	t.Helper()
	const lo, hi = 1100, 1999
	start := os.Getpid() % (hi - lo + 1)
next:
	for i := 0; i <= hi-lo; i++ {
		p := lo + (start+i)%(hi-lo+1)
		for _, host := range []string{"127.0.0.1", "[::1]"} {
			l, err := net.Listen("tcp", host+":"+strconv.Itoa(p))
			if err != nil && !(host == "[::1]" && errors.Is(err, unix.EADDRNOTAVAIL)) {
				continue next
			}
			if l != nil {
				_ = l.Close()
			}
		}
		return p
	}
	t.Fatalf("no free port in %d-%d", lo, hi)
	return 0
}

func TestBindAbstractUnix(t *testing.T) {
	name := "@sdlaunch-test-" + strconv.Itoa(os.Getpid())
	socks, err := Bind([]Spec{mustParse(t, "unix:"+name)}, Backlog)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(socks)
	if socks[0].Desc != "unix "+name {
		t.Errorf("Desc = %q", socks[0].Desc)
	}
	c, err := net.Dial("unix", name)
	if err != nil {
		t.Fatalf("dial the abstract socket: %v", err)
	}
	c.Close()
	if _, err := os.Lstat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("binding an abstract socket made a file %q: %v", name, err)
	}
	if err := CloseAll(socks); err != nil {
		t.Fatal(err)
	}
}
