package observe

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// connServer is the target in "conn" mode: it accepts, reads and writes
// only when told, so each TCP state below is reached by explicit steps.
func connServer(t *testing.T, lfd int) *server {
	s := startServer(t, lfd, startOpts{stdin: true}, targetBin(t), "conn")
	s.await(t, "waiting")
	return s
}

func lookConns(t *testing.T, s *server, ls []Listener) []Conn {
	t.Helper()
	cs, err := Live().Connections(s.group(t), ls, LiveSockets())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func lookOne(t *testing.T, s *server, ls []Listener) Conn {
	t.Helper()
	cs := lookConns(t, s, ls)
	if len(cs) != 1 {
		t.Fatalf("Connections = %v, want exactly one", cs)
	}
	return cs[0]
}

// awaitConn looks until the connection satisfies ok (the kernel's state or
// clock moving on), and returns that look.
func awaitConn(t *testing.T, s *server, ls []Listener, what string, ok func(SockInfo) bool) Conn {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		c := lookOne(t, s, ls)
		if ok(c.Info) {
			return c
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v; last %+v", what, deadline, c.Info)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func wantVerdict(t *testing.T, step string, prev map[uint64]SockInfo, c Conn, busy bool, why string) {
	t.Helper()
	b, w := InProgress(prev, c)
	if b != busy || !strings.Contains(w, why) {
		t.Errorf("%s: InProgress = %v %q, want %v with %q; info %+v", step, b, w, busy, why, c.Info)
	}
}

// jiffy: LastRecv/LastSend count jiffies (4 ms at HZ=250, 10 ms at HZ=100);
// waiting until the kernel's own clock shows this much makes "sent after
// received" unambiguous.
const jiffy = 20 * time.Millisecond

func TestConnectionsTCPVerdicts(t *testing.T) {
	lfd, l := tcpListener(t)
	ls := []Listener{l}
	_, other := tcpListener(t) // the server's outgoing connection goes here
	s := connServer(t, lfd)
	s.send(t, "dial "+other.Addr.String(), "dialed")
	if cs := lookConns(t, s, ls); len(cs) != 0 {
		t.Fatalf("before accepting: Connections = %v, want none (an outgoing connection is not an accepted one)", cs)
	}
	if _, err := io.WriteString(s.stdin, "accept\n"); err != nil {
		t.Fatal(err)
	}
	cl := dial(t, l)
	s.await(t, "accepted")
	id := "1" // 0 is the outgoing connection

	// 1. Connected, nothing sent by the client.
	c := lookOne(t, s, ls)
	if c.Info.BytesReceived != 0 || c.Info.State != "ESTABLISHED" || c.Info.Peer != cl.LocalAddr().String() {
		t.Fatalf("fresh connection: %+v (client %s)", c.Info, cl.LocalAddr())
	}
	if c.Info.LastRecv < freshConn {
		wantVerdict(t, "fresh", nil, c, true, "request not arrived yet")
	}
	c = awaitConn(t, s, ls, "connected a second ago", func(i SockInfo) bool { return i.LastRecv >= freshConn })
	wantVerdict(t, "connected, silent for 1s", nil, c, false, "nothing received")

	// 2. The client sent a request the server has not read.
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(cl, req); err != nil {
		t.Fatal(err)
	}
	c = awaitConn(t, s, ls, "request queued", func(i SockInfo) bool { return i.RxQueue == uint32(len(req)) })
	wantVerdict(t, "unread request", nil, c, true, "unread request bytes")

	// 3. Read, not answered.
	s.send(t, "read "+id+" "+itoa(len(req)), "read "+id)
	c = lookOne(t, s, ls)
	if c.Info.RxQueue != 0 || c.Info.BytesReceived != uint64(len(req)) {
		t.Fatalf("after read: %+v", c.Info)
	}
	wantVerdict(t, "read, not answered", nil, c, true, "request read, not answered")

	// 4. Answered: busy at the first look, idle at the second.
	awaitConn(t, s, ls, "a jiffy after the request", func(i SockInfo) bool { return i.LastRecv >= jiffy })
	resp := "HTTP/1.0 200 OK" // one line: the command is line-based
	s.send(t, "write "+id+" "+resp, "wrote "+id)
	got := make([]byte, len(resp))
	if _, err := io.ReadFull(cl, got); err != nil {
		t.Fatal(err)
	}
	c = lookOne(t, s, ls)
	wantVerdict(t, "answered, first look", nil, c, true, "first look")
	prev := map[uint64]SockInfo{c.Inode: c.Info}
	c = lookOne(t, s, ls)
	wantVerdict(t, "answered, second look", prev, c, false, "idle keep-alive")

	// 5. Mid-response: the client does not read a large response.
	s.send(t, "read "+id+" 0", "read "+id) // no-op read keeps the command sequence simple
	line := s.send(t, "writen "+id+" 50000000", "wrote "+id)
	n := atoi(t, line[strings.LastIndexByte(line, ' ')+1:])
	c = lookOne(t, s, ls)
	if c.Info.OutQueue == 0 && c.Info.NotSent == 0 {
		t.Fatalf("mid-response: nothing queued: %+v", c.Info)
	}
	wantVerdict(t, "mid-response", map[uint64]SockInfo{c.Inode: c.Info}, c, true, "")
	t.Logf("mid-response, %d bytes written: %+v", n, c.Info)
	// The client reads it all: idle again once two looks agree.
	if _, err := io.ReadFull(cl, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	prev = nil
	end := time.Now().Add(deadline)
	for {
		c = lookOne(t, s, ls)
		if b, _ := InProgress(prev, c); !b {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("after the client read the response: still busy: %+v", c.Info)
		}
		prev = map[uint64]SockInfo{c.Inode: c.Info}
	}

	// 6. The client closes: CLOSE_WAIT, idle.
	cl.Close()
	c = awaitConn(t, s, ls, "CLOSE_WAIT", func(i SockInfo) bool { return i.State == "CLOSE_WAIT" })
	wantVerdict(t, "client closed", prev, c, false, "idle")

	// 7. The server closes: no longer held.
	s.send(t, "close "+id, "closed "+id)
	if cs := lookConns(t, s, ls); len(cs) != 0 {
		t.Errorf("after close: Connections = %v", cs)
	}
}

func TestConnectionsUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		t.Fatal(err)
	}
	l, err := Describe(fd)
	if err != nil || l.Network != "unix" || l.Path != path {
		t.Fatalf("Describe = %+v, %v", l, err)
	}
	ls := []Listener{l}
	s := connServer(t, fd)
	if _, err := io.WriteString(s.stdin, "accept\n"); err != nil {
		t.Fatal(err)
	}
	cl, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s.await(t, "accepted 0")
	c := lookOne(t, s, ls)
	if c.Info.Network != "unix" || c.Info.Local != path || c.Info.State != "CONNECTED" {
		t.Fatalf("unix connection: %+v", c.Info)
	}
	wantVerdict(t, "unix", map[uint64]SockInfo{c.Inode: c.Info}, c, true, "unix connection")
}

// A server that answers within a jiffy leaves LastRecv == LastSend; such an
// idle keep-alive connection must still become idle (once a second old and
// unmoved), or every stop would wait for the graceful timeout.
func TestIdleKeepAliveAfterFastAnswer(t *testing.T) {
	lfd, l := tcpListener(t)
	ls := []Listener{l}
	s := connServer(t, lfd)
	if _, err := io.WriteString(s.stdin, "accept\n"); err != nil {
		t.Fatal(err)
	}
	cl := dial(t, l)
	s.await(t, "accepted 0")
	if _, err := io.WriteString(cl, "ping"); err != nil {
		t.Fatal(err)
	}
	awaitConn(t, s, ls, "request queued", func(i SockInfo) bool { return i.RxQueue == 4 })
	s.send(t, "echo 0 4", "echoed 0")
	if _, err := io.ReadFull(cl, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	first := lookOne(t, s, ls)
	var prev map[uint64]SockInfo
	end := time.Now().Add(deadline)
	for {
		c := lookOne(t, s, ls)
		busy, why := InProgress(prev, c)
		if !busy {
			t.Logf("idle after %v (answer tied with the request: %v): %s", c.Info.LastSend, first.Info.LastRecv == first.Info.LastSend, why)
			return
		}
		if time.Now().After(end) {
			t.Fatalf("idle keep-alive connection still busy: %s; %+v", why, c.Info)
		}
		prev = map[uint64]SockInfo{c.Inode: c.Info}
		time.Sleep(10 * time.Millisecond)
	}
}

// A connection that looks idle by the kernel's times (its response sent,
// nothing received since) is idle only when a thread waits for its next
// request: one frozen between a response's headers and its body shows the
// same times, and no thread waits on it.
func TestAwaitsInput(t *testing.T) {
	lfd, l := tcpListener(t)
	ls := []Listener{l}
	s := connServer(t, lfd)
	c, err := net.Dial("tcp", l.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.send(t, "accept", "accepted 0")
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	s.send(t, "echo 0 4", "echoed 0")
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	look := func() Wait {
		t.Helper()
		pids, err := Live().Freeze(os.Getpid(), s.pgid, deadline)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := Thaw(s.pgid); err != nil {
				t.Fatal(err)
			}
		}()
		return Live().AwaitsInput(pids, lookOne(t, s, ls))
	}
	// Only the command loop's read of stdin: nothing waits on the connection.
	if w := look(); w.Accepting || w.Unknown != "" {
		t.Fatalf("before any thread reads it: AwaitsInput = %+v, want no thread and nothing unknown", w)
	}
	s.send(t, "await 0", "awaiting 0")
	end := time.Now().Add(deadline)
	for {
		w := look()
		if w.Accepting {
			if !strings.Contains(w.Detail, "in read on") {
				t.Errorf("AwaitsInput detail %q, want the thread in read", w.Detail)
			}
			break
		}
		if time.Now().After(end) {
			t.Fatalf("a thread blocked in read(2) on the connection was not seen within %v: %+v", deadline, w)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
