package activation

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A stopping launcher's socket drops new connection attempts, still lets
// the queued ones be accepted with their data, reports the queue, and is
// gone (refused) once the launcher released the last copy.
func TestStopAdmittingQueuedThenRelease(t *testing.T) {
	for _, host := range []string{"127.0.0.1", ""} { // IPv4, and the dual-stack wildcard
		socks, err := Bind([]Spec{mustParse(t, host+":"+strconv.Itoa(freePort(t)))}, Backlog)
		if err != nil {
			t.Fatal(err)
		}
		s := socks[0]
		sa, _ := unix.Getsockname(s.FD())
		addr := "127.0.0.1:" + strconv.Itoa(sockPort(sa))
		queued, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := queued.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if n := s.Queued(); n != 1 {
			t.Fatalf("%q: Queued() = %d, want 1", host, n)
		}
		if err := s.StopAdmitting(); err != nil {
			t.Fatal(err)
		}
		// A new attempt is not admitted: its SYN goes unanswered.
		if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("%q: a connection was admitted after StopAdmitting", host)
		} else if !errors.Is(err, syscall.ETIMEDOUT) && !isTimeout(err) {
			t.Fatalf("%q: dial after StopAdmitting: %v, want a timeout", host, err)
		}
		// The queued one is still there, with its request.
		nfd, _, err := unix.Accept(s.FD())
		if err != nil {
			t.Fatalf("%q: accept the queued connection: %v", host, err)
		}
		buf := make([]byte, 64)
		n, _ := unix.Read(nfd, buf)
		unix.Close(nfd)
		queued.Close()
		if string(buf[:n]) != "GET / HTTP/1.0\r\n\r\n" {
			t.Fatalf("%q: queued connection carried %q", host, buf[:n])
		}
		if n := s.Queued(); n != 0 {
			t.Fatalf("%q: Queued() = %d after accepting, want 0", host, n)
		}
		if err := s.Release(); err != nil {
			t.Fatal(err)
		}
		if _, err := net.DialTimeout("tcp", addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("%q: dial after Release: %v, want connection refused", host, err)
		}
	}
}

// Sockets systemd passed are systemd's: none of this touches them.
func TestInheritedSocketsAreLeftAlone(t *testing.T) {
	socks, err := Bind([]Spec{mustParse(t, "127.0.0.1:"+strconv.Itoa(freePort(t)))}, Backlog)
	if err != nil {
		t.Fatal(err)
	}
	s := socks[0]
	s.bound = false // as if inherited
	defer func() { s.bound = true; s.Close() }()
	if err := s.StopAdmitting(); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(s.FD())
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(sockPort(sa)), 5*time.Second)
	if err != nil {
		t.Fatalf("an inherited socket was filtered or shut down: %v", err)
	}
	c.Close()
}

func sockPort(sa unix.Sockaddr) int {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	return 0
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
