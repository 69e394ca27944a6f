package observe

import (
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// accepted connects to the listener lfd (127.0.0.1) and accepts: the
// accepted socket's descriptor and inode, and the client's address.
func accepted(t *testing.T, lfd int, l Listener) (int, uint64, string) {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return fd, st.Ino, c.LocalAddr().String()
}

// sock_diag lists a held connection of the listener's port, with its
// addresses, by inode, and neither the listener nor a connection on
// another port.
func TestDiagTableListsHeldConnectionsOfThePort(t *testing.T) {
	lfd, l := tcpListener(t)
	ofd, other := tcpListener(t)
	_, ino, peer := accepted(t, lfd, l)
	_, otherIno, _ := accepted(t, ofd, other)
	tab, err := diagTable([]uint16{l.Addr.Port()})
	if diagRefused(err) {
		t.Skipf("sock_diag refused here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	si, ok := tab[ino]
	if !ok {
		t.Fatalf("the accepted socket (inode %d) is not in sock_diag's table: %v", ino, tab)
	}
	if si.Network != "tcp" || si.State != "ESTABLISHED" || si.Local != l.Addr.String() || si.Peer != peer || !si.Blind {
		t.Errorf("sock_diag: %+v, want a blind ESTABLISHED tcp %s <- %s", si, l.Addr, peer)
	}
	if _, ok := tab[l.Inode]; ok {
		t.Errorf("the listener is in the table")
	}
	if _, ok := tab[otherIno]; ok {
		t.Errorf("a connection of port %d is in the table of port %d", other.Addr.Port(), l.Addr.Port())
	}
}

// With pidfd_getfd refused, a held connection is read from sock_diag, and
// with AF_NETLINK refused too, from /proc/PID/net; either way Holding and
// Connections find it, and Degraded says what is read.
func TestFallbackWithoutPidfdGetfd(t *testing.T) {
	lfd, l := tcpListener(t)
	fd, ino, peer := accepted(t, lfd, l)
	self := []int{os.Getpid()}
	for _, mode := range []string{"sock_diag", "/proc/PID/net"} {
		t.Run(mode, func(t *testing.T) {
			f := FallbackSockets(Live(), []Listener{l})
			f.why = "pidfd_getfd: operation not permitted (test)"
			if mode == "/proc/PID/net" {
				f.noDiag = "AF_NETLINK refused (test)"
			} else if _, err := diagTable(nil); diagRefused(err) {
				t.Skipf("sock_diag refused here: %v", err)
			}
			if d := f.Degraded(); d == "" || !strings.Contains(d, mode) {
				t.Errorf("Degraded() = %q, want it to name %s", d, mode)
			}
			c, ok, err := Live().Holding(self, []Listener{l}, f)
			if err != nil || !ok {
				t.Fatalf("Holding = %v, %v, %v; want the accepted connection", c, ok, err)
			}
			if c.FD != fd || c.Inode != ino || c.Info.Peer != peer {
				t.Errorf("Holding = %v (inode %d), want fd %d inode %d <- %s", c, c.Inode, fd, ino, peer)
			}
			cs, err := Live().Connections(self, []Listener{l}, f)
			if err != nil || len(cs) != 1 || cs[0].FD != fd || !cs[0].Info.Blind || cs[0].Info.State != "ESTABLISHED" {
				t.Fatalf("Connections = %v, %v; want the one blind ESTABLISHED connection on fd %d", cs, err, fd)
			}
			if si, err := f.Read(os.Getpid(), fd); err != nil || si.Local != l.Addr.String() {
				t.Errorf("Read(fd %d) = %+v, %v", fd, si, err)
			}
		})
	}
}

// A group that holds no connection of the listeners (only the listener
// and a connection of another port) holds none, in every mode.
func TestHoldingNothing(t *testing.T) {
	_, l := tcpListener(t)
	ofd, other := tcpListener(t)
	accepted(t, ofd, other)
	self := []int{os.Getpid()}
	for i, f := range []*Fallback{FallbackSockets(Live(), []Listener{l}), {fs: Live(), ports: []uint16{l.Addr.Port()}, why: "test"}, {fs: Live(), why: "test", noDiag: "test"}} {
		if c, ok, err := Live().Holding(self, []Listener{l}, f); ok || err != nil {
			t.Errorf("mode %d: Holding = %v, %v, %v; want none", i, c, ok, err)
		}
	}
}
