package prefork

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// workerNotify is a worker's private NOTIFY_SOCKET: a unixgram socket the
// launcher listens on, so unmodified sd_notify code in the worker reports to
// the launcher, never to systemd. One socket per worker means a message is
// attributed by the socket it arrived on even when the sender (systemd-notify)
// has exited before we could look at it; SCM_CREDENTIALS then confirm the
// sender is the worker or a process of its group.
type workerNotify struct {
	conn *net.UnixConn
	path string
	// rejectEvery bounds the warnings about rejected datagrams (tests
	// lengthen it).
	rejectEvery time.Duration
}

func listenWorkerNotify(dir string, slot, seq int) (*workerNotify, error) {
	path := filepath.Join(dir, fmt.Sprintf("w%d-%d.sock", slot, seq))
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("worker notify socket: %w", err)
	}
	rc, err := conn.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
		if cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("worker notify socket SO_PASSCRED: %w", err)
	}
	return &workerNotify{conn: conn, path: path, rejectEvery: rejectEvery}, nil
}

// notifyMsg is one datagram from a worker, parsed into KEY=VALUE pairs.
type notifyMsg struct {
	id     *workerID
	fields map[string]string
}

// notifyMax is the largest datagram systemd accepts (NOTIFY_BUFFER_MAX,
// PIPE_BUF): a longer one is dropped whole, as systemd drops it, rather
// than cut and its prefix acted on.
const notifyMax = 4096

// rejectEvery bounds the warnings about rejected datagrams: one per
// worker per interval, carrying the count of those not logged.
const rejectEvery = 10 * time.Second

// serve reads datagrams until the socket is closed and hands accepted ones
// to deliver. It must not touch worker state: it only reads the immutable
// id. Rejected datagrams (an oversized one, a sender outside the worker's
// process group) are reported through reject at most once per rejectEvery,
// so a flood costs the supervisor loop nothing.
func (n *workerNotify) serve(id *workerID, deliver func(notifyMsg), reject func(why string, suppressed int)) {
	buf := make([]byte, notifyMax+1)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	var (
		lastWarn   time.Time
		suppressed int
	)
	warn := func(why string) {
		if now := time.Now(); lastWarn.IsZero() || now.Sub(lastWarn) >= n.rejectEvery {
			reject(why, suppressed)
			lastWarn, suppressed = now, 0
			return
		}
		suppressed++
	}
	for {
		nb, noob, flags, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		pid, ok := senderPID(oob[:noob])
		switch {
		case nb > notifyMax || flags&unix.MSG_TRUNC != 0:
			warn(fmt.Sprintf("dropped a notify message of more than %d bytes (systemd drops them too)", notifyMax))
		case !ok || !belongsTo(pid, id.pid):
			warn(fmt.Sprintf("ignored a notify message from pid %d, which is not in its process group", pid))
		default:
			deliver(parseNotify(id, buf[:nb]))
		}
	}
}

func (n *workerNotify) close() {
	if n != nil {
		n.conn.Close()
		os.Remove(n.path)
	}
}

func senderPID(oob []byte) (int32, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return cred.Pid, true
		}
	}
	return 0, false
}

// belongsTo accepts the worker itself, any process of its process group
// (systemd-notify run from a worker's shell), or a sender that has already
// exited (systemd-notify exits right after sending).
func belongsTo(pid int32, worker int) bool {
	if int(pid) == worker {
		return true
	}
	pgid, err := unix.Getpgid(int(pid))
	if errors.Is(err, unix.ESRCH) {
		return true
	}
	return err == nil && pgid == worker
}

func parseNotify(id *workerID, b []byte) notifyMsg {
	m := notifyMsg{id: id, fields: map[string]string{}}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue
		}
		m.fields[k] = v
	}
	return m
}

// parseUsec parses an EXTEND_TIMEOUT_USEC-style value.
func parseUsec(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v >= 0
}

// makeNotifyDir creates the private directory for the workers' sockets.
func makeNotifyDir() (string, error) {
	dir, err := os.MkdirTemp("", "sdlaunch-")
	if err != nil {
		return "", fmt.Errorf("notify socket directory: %w", err)
	}
	return dir, nil
}
