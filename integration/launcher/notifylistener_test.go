package launcher

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifyMsg is one datagram received on the test NOTIFY_SOCKET.
type notifyMsg struct {
	PID    int // sender, from SCM_CREDENTIALS
	Fields []string
	At     time.Time
}

func (m notifyMsg) String() string {
	return fmt.Sprintf("pid %d: %q", m.PID, strings.Join(m.Fields, "\\n"))
}

// has reports whether the datagram carries exactly the field kv ("READY=1").
func (m notifyMsg) has(kv string) bool {
	for _, f := range m.Fields {
		if f == kv {
			return true
		}
	}
	return false
}

// get returns the value of the field key ("STATUS").
func (m notifyMsg) get(key string) (string, bool) {
	for _, f := range m.Fields {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// matches reports whether the datagram carries kv: the exact field, or any
// value of the key when kv ends in "=".
func (m notifyMsg) matches(kv string) bool {
	if key, ok := strings.CutSuffix(kv, "="); ok {
		_, has := m.get(key)
		return has
	}
	return m.has(kv)
}

// notifyListener plays systemd's side of NOTIFY_SOCKET.
type notifyListener struct {
	path string
	conn *net.UnixConn
	msgs *feed[notifyMsg]
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "notify.sock")
	if len(path) >= 100 { // sun_path is 108 bytes
		d, err := os.MkdirTemp("", "sdn")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		path = filepath.Join(d, "n.sock")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on test NOTIFY_SOCKET: %v", err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_PASSCRED: %v %v", err, serr)
	}
	n := &notifyListener{path: path, conn: conn, msgs: newFeed[notifyMsg]()}
	done := make(chan struct{})
	go n.read(done)
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return n
}

func (n *notifyListener) read(done chan<- struct{}) {
	defer close(done)
	defer n.msgs.close()
	buf := make([]byte, 64*1024)
	oob := make([]byte, 1024)
	for {
		nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		m := notifyMsg{PID: -1, At: time.Now()}
		if cmsgs, err := syscall.ParseSocketControlMessage(oob[:noob]); err == nil {
			for _, c := range cmsgs {
				if cred, err := syscall.ParseUnixCredentials(&c); err == nil {
					m.PID = int(cred.Pid)
				}
			}
		}
		for _, f := range strings.Split(string(buf[:nb]), "\n") {
			if f != "" {
				m.Fields = append(m.Fields, f)
			}
		}
		n.msgs.add(m)
	}
}

// waitField waits for a datagram at index >= from carrying kv (see
// notifyMsg.matches). It fails the test on timeout.
func (n *notifyListener) waitField(t *testing.T, from int, kv string, timeout time.Duration) (int, notifyMsg) {
	t.Helper()
	i, m := n.msgs.waitFor(from, timeout, func(m notifyMsg) bool { return m.matches(kv) })
	if i < 0 {
		t.Fatalf("no %q on NOTIFY_SOCKET within %s; got:\n%s", kv, timeout, n.dump())
	}
	return i, m
}

// waitStatus waits for a datagram at index >= from whose STATUS= matches
// re; -1 when none came within timeout.
func (n *notifyListener) waitStatus(from int, re *regexp.Regexp, timeout time.Duration) int {
	i, _ := n.msgs.waitFor(from, timeout, func(m notifyMsg) bool {
		s, ok := m.get("STATUS")
		return ok && re.MatchString(s)
	})
	return i
}

func (n *notifyListener) dump() string {
	var b strings.Builder
	for i, m := range n.msgs.snapshot() {
		fmt.Fprintf(&b, "  %d %s %s\n", i, m.At.Format("15:04:05.000"), m)
	}
	return b.String()
}
