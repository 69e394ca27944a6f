package observe

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseStat(t *testing.T) {
	st, err := parseStat([]byte("42 (a) b (c)) T 1 40 40 0 -1"))
	if err != nil || st != (procStat{State: 'T', PPID: 1, PGID: 40}) {
		t.Errorf("parseStat = %+v, %v", st, err)
	}
	for _, bad := range []string{"", "42 noparen S 1 2", "42 (x) S", "42 (x) S a b"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) = nil error", bad)
		}
	}
}

func TestParseSyscall(t *testing.T) {
	l, err := parseSyscall([]byte("232 0x4 0x7ffc1 0x80 0xffffffffffffffff 0x0 0x8 0x7ffc0 0x7f00\n"))
	if err != nil || l.nr != 232 || l.args[0] != 4 || l.args[3] != ^uint64(0) || l.running {
		t.Errorf("parseSyscall = %+v, %v", l, err)
	}
	if l, err := parseSyscall([]byte("running\n")); err != nil || !l.running {
		t.Errorf("running: %+v, %v", l, err)
	}
	if l, err := parseSyscall([]byte("-1 0x7ffc0 0x7f00\n")); err != nil || l.nr != -1 || l.running {
		t.Errorf("-1: %+v, %v", l, err)
	}
	for _, bad := range []string{"", "x 0x1", "7 0x1 0x2", "7 0x1 0x2 0x3 0x4 0x5 zz 0 0"} {
		if _, err := parseSyscall([]byte(bad)); err == nil {
			t.Errorf("parseSyscall(%q) = nil error", bad)
		}
	}
}

func TestParseEpollInfo(t *testing.T) {
	// As Linux 6.x prints it.
	in := "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1057\n" +
		"tfd:        3 events:       19 data:                3  pos:0 ino:1a2b sdev:8\n" +
		"tfd:       12 events: 80000019 data:     7f3c00001234  pos:0 ino:3039 sdev:8\n"
	es, err := parseEpollInfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []epollEntry{{tfd: 3, events: 0x19, ino: 0x1a2b}, {tfd: 12, events: 0x80000019, ino: 0x3039}}
	if len(es) != 2 || es[0] != want[0] || es[1] != want[1] {
		t.Errorf("parseEpollInfo = %+v, want %+v", es, want)
	}
	if _, err := parseEpollInfo([]byte("tfd: 3 events: zz data: 0 pos:0 ino:1 sdev:0\n")); err == nil {
		t.Error("bad events accepted")
	}
	if _, err := parseEpollInfo([]byte("tfd: 3 data: 0\n")); err == nil {
		t.Error("line without ino accepted")
	}
}

func TestSocketInode(t *testing.T) {
	if ino, ok := socketInode("socket:[123]"); !ok || ino != 123 {
		t.Errorf("socket:[123] = %d %v", ino, ok)
	}
	for _, s := range []string{"pipe:[1]", "socket:[x]", "socket:[1", "/dev/null"} {
		if _, ok := socketInode(s); ok {
			t.Errorf("socketInode(%q) ok", s)
		}
	}
}

func TestSortNumericAndCompress(t *testing.T) {
	n := []string{"10", "9", "x", "100", "1"}
	sortNumeric(n)
	if strings.Join(n, ",") != "1,9,10,100,x" {
		t.Errorf("sortNumeric = %v", n)
	}
	if got := strings.Join(compress([]string{"futex", "futex", "read", "futex"}), ", "); got != "futex x3, read" {
		t.Errorf("compress = %q", got)
	}
}

func TestUnsupportedArch(t *testing.T) {
	w := FS{Root: t.TempDir(), Arch: "riscv64"}.Accepting([]int{1}, []Listener{{Inode: 1}})
	if w.Accepting || w.Unknown != "observation not supported on GOARCH riscv64" {
		t.Errorf("riscv64: %+v", w)
	}
}

// A fixture's mem.txt answers reads inside a recorded region only.
func TestFixtureMem(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "7"), 0o755)
	os.WriteFile(filepath.Join(root, "7", "mem.txt"), []byte("1000 0102030405\n"), 0o644)
	p := dirProc{root: root}
	if b, err := p.readMem(7, 0x1001, 3); err != nil || string(b) != "\x02\x03\x04" {
		t.Errorf("readMem = %x, %v", b, err)
	}
	if _, err := p.readMem(7, 0x1003, 3); err == nil {
		t.Error("read past the region succeeded")
	}
	if _, err := p.readMem(8, 0x1000, 1); err == nil {
		t.Error("read of a pid without mem succeeded")
	}
}

func TestMatchListener(t *testing.T) {
	ap := netip.MustParseAddrPort
	ls := []Listener{
		{Network: "tcp", Addr: ap("127.0.0.1:8000")},
		{Network: "tcp", Addr: ap("[::]:9000")},
		{Network: "unix", Path: "/run/a.sock"},
		{Network: "unix", Path: "@abstract"},
		{Network: "tcp", Addr: ap("0.0.0.0:7000")},
	}
	for _, c := range []struct {
		info SockInfo
		want int
	}{
		{SockInfo{Network: "tcp", Local: "127.0.0.1:8000"}, 0},
		{SockInfo{Network: "tcp", Local: "[::ffff:127.0.0.1]:8000"}, 0},
		{SockInfo{Network: "tcp", Local: "127.0.0.2:8000"}, -1},
		{SockInfo{Network: "tcp", Local: "127.0.0.1:8001"}, -1},
		{SockInfo{Network: "tcp", Local: "[::1]:9000"}, 1},
		{SockInfo{Network: "tcp", Local: "[::ffff:10.0.0.1]:9000"}, 1},
		{SockInfo{Network: "tcp", Local: "192.0.2.1:7000"}, 4},
		{SockInfo{Network: "unix", Local: "/run/a.sock"}, 2},
		{SockInfo{Network: "unix", Local: "@abstract"}, 3},
		{SockInfo{Network: "unix", Local: ""}, -1},
		{SockInfo{Network: "unix", Local: "/run/b.sock"}, -1},
		{SockInfo{Network: "tcp", Local: "garbage"}, -1},
	} {
		if got := matchListener(c.info, ls); got != c.want {
			t.Errorf("matchListener(%s %q) = %d, want %d", c.info.Network, c.info.Local, got, c.want)
		}
	}
}

func TestInProgressRules(t *testing.T) {
	ms := time.Millisecond
	idle := SockInfo{Network: "tcp", State: "ESTABLISHED", BytesReceived: 100, BytesAcked: 500, LastRecv: 900 * ms, LastSend: 800 * ms}
	with := func(f func(*SockInfo)) SockInfo { s := idle; f(&s); return s }
	prevOf := func(s SockInfo) map[uint64]SockInfo { return map[uint64]SockInfo{7: s} }
	cases := []struct {
		name string
		prev map[uint64]SockInfo
		info SockInfo
		busy bool
		why  string
	}{
		{"idle keep-alive, two looks", prevOf(idle), idle, false, "idle keep-alive"},
		{"first look", nil, idle, true, "first look"},
		{"unread bytes", prevOf(idle), with(func(s *SockInfo) { s.RxQueue = 18 }), true, "18 unread request bytes"},
		{"fresh, nothing received", nil, with(func(s *SockInfo) { s.BytesReceived, s.LastRecv, s.LastSend = 0, 300*ms, 300*ms }), true, "request not arrived yet"},
		{"old, nothing received", nil, with(func(s *SockInfo) { s.BytesReceived, s.LastRecv, s.LastSend = 0, 1500*ms, 1500*ms }), false, "nothing received"},
		{"read, not answered", prevOf(idle), with(func(s *SockInfo) { s.LastRecv = 10 * ms }), true, "request read, not answered"},
		{"same jiffy, young", prevOf(idle), with(func(s *SockInfo) { s.LastRecv, s.LastSend = 200*ms, 200*ms }), true, "request read, not answered"},
		{"same jiffy, a second old, unmoved", prevOf(with(func(s *SockInfo) { s.LastRecv, s.LastSend = 1000*ms, 1000*ms })),
			with(func(s *SockInfo) { s.LastRecv, s.LastSend = 1200*ms, 1200*ms }), false, "idle keep-alive"},
		// A client that sends at once: its request lands in the jiffy of
		// the handshake, the "last sent" time of a connection that never
		// sent, so the two tie for good; a 2 s request was cut before.
		{"fresh, request read, nothing written, a second old", prevOf(with(func(s *SockInfo) { s.BytesAcked, s.LastRecv, s.LastSend = 0, 1900*ms, 1900*ms })),
			with(func(s *SockInfo) { s.BytesAcked, s.LastRecv, s.LastSend = 0, 2000*ms, 2000*ms }), true, "nothing written yet"},
		{"not sent yet", prevOf(idle), with(func(s *SockInfo) { s.NotSent = 1 }), true, "1 response bytes not sent"},
		{"received since", prevOf(idle), with(func(s *SockInfo) { s.BytesReceived = 101 }), true, "received 1 bytes since"},
		{"acked since", prevOf(idle), with(func(s *SockInfo) { s.BytesAcked = 600 }), true, "sent data since"},
		{"acked what was queued", prevOf(with(func(s *SockInfo) { s.BytesAcked, s.OutQueue = 400, 100 })), idle, false, "idle"},
		{"client FIN", prevOf(idle), with(func(s *SockInfo) { s.State, s.BytesReceived = "CLOSE_WAIT", 101 }), false, "idle"},
		{"client FIN and data", prevOf(idle), with(func(s *SockInfo) { s.State, s.BytesReceived = "CLOSE_WAIT", 102 }), true, "received 1 bytes"},
		{"half-closed with a request", prevOf(idle), with(func(s *SockInfo) { s.State, s.RxQueue = "CLOSE_WAIT", 5 }), true, "unread"},
		{"app closed", nil, with(func(s *SockInfo) { s.State, s.RxQueue = "FIN_WAIT1", 5 }), false, "state FIN_WAIT1"},
		{"last ack", nil, with(func(s *SockInfo) { s.State = "LAST_ACK" }), false, "state LAST_ACK"},
		{"unix", prevOf(idle), SockInfo{Network: "unix", State: "CONNECTED"}, true, "unix connection"},
	}
	for _, c := range cases {
		busy, why := InProgress(c.prev, Conn{Inode: 7, Info: c.info})
		if busy != c.busy || !strings.Contains(why, c.why) {
			t.Errorf("%s: InProgress = %v %q, want %v with %q", c.name, busy, why, c.busy, c.why)
		}
	}
}

func TestDescribe(t *testing.T) {
	_, l := tcpListener(t)
	if l.Network != "tcp" || !l.Addr.Addr().IsLoopback() || l.Addr.Port() == 0 || l.Inode == 0 {
		t.Errorf("Describe = %+v", l)
	}
	if l.String() != "tcp "+l.Addr.String() {
		t.Errorf("String = %q", l.String())
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := Describe(fd); err == nil || !strings.Contains(err.Error(), "not listening") {
		t.Errorf("unlistened socket: %v", err)
	}
	udp, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(udp)
	if _, err := Describe(udp); err == nil || !strings.Contains(err.Error(), "not a stream socket") {
		t.Errorf("udp: %v", err)
	}
	if _, err := Describe(0x7fff); err == nil {
		t.Error("bad fd described")
	}
	abs, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(abs)
	if err := unix.Bind(abs, &unix.SockaddrUnix{Name: "@observe-test-" + t.Name()}); err != nil {
		t.Fatal(err)
	}
	unix.Listen(abs, 1)
	if l, err := Describe(abs); err != nil || l.Path != "@observe-test-"+t.Name() || l.String() != "unix @observe-test-"+t.Name() {
		t.Errorf("abstract: %+v, %v", l, err)
	}
}

func TestSockName(t *testing.T) {
	for _, c := range []struct {
		family int
		sa     unix.Sockaddr
		want   func(string) bool
	}{
		{unix.AF_INET6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}, func(s string) bool { return strings.HasPrefix(s, "[::1]:") }},
		{unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, func(s string) bool { return strings.HasPrefix(s, "127.0.0.1:") }},
		{unix.AF_UNIX, &unix.SockaddrUnix{Name: "@observe-sockname"}, func(s string) bool { return s == "@observe-sockname" }},
		{unix.AF_UNIX, &unix.SockaddrUnix{Name: filepath.Join(t.TempDir(), "p.sock")}, func(s string) bool { return strings.HasSuffix(s, "/p.sock") }},
	} {
		fd, err := unix.Socket(c.family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, c.sa); err != nil {
			t.Skipf("bind %v: %v", c.sa, err) // no IPv6 here
		}
		fam, addr, err := sockName(fd, false)
		if err != nil || int(fam) != c.family || !c.want(addr) {
			t.Errorf("sockName(%v) = %d %q %v", c.sa, fam, addr, err)
		}
		if _, _, err := sockName(fd, true); err == nil {
			t.Errorf("getpeername of an unconnected socket succeeded")
		}
	}
}
