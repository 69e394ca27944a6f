package observe

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestHexAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F40":                         "127.0.0.1:8000",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"0000000000000000FFFF00000100007F:1F40": "[::ffff:127.0.0.1]:8000",
		"garbage":                               "garbage",
	} {
		if got := hexAddr(in); got != want {
			t.Errorf("hexAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// The /proc/PID/net reading finds a real accepted connection, with its
// addresses, and marks it blind (busy while held).
func TestProcNetSocketOfARealConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /")); err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rc, _ := s.(*net.TCPConn).SyscallConn()
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	read := func() (SockInfo, error) {
		m, err := Live().procNetSockets(os.Getpid(), map[int]uint64{fd: st.Ino}, nil)
		return m[fd], err
	}
	si, err := read()
	if err != nil {
		t.Fatal(err)
	}
	if si.Network != "tcp" || si.State != "ESTABLISHED" || si.Local != l.Addr().String() || !si.Blind {
		t.Fatalf("procNetSockets = %+v, want a blind ESTABLISHED tcp socket on %s", si, l.Addr())
	}
	waitRx := 0
	for si.RxQueue == 0 && waitRx < 1000 { // the 5 bytes are in flight on loopback for a moment at most
		si, _ = read()
		waitRx++
	}
	if si.RxQueue != 5 {
		t.Errorf("RxQueue = %d, want the 5 unread bytes", si.RxQueue)
	}
	if busy, why := InProgress(nil, Conn{Info: si}); !busy {
		t.Errorf("a blind held connection is not busy: %s", why)
	}
}
