package prefork

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"
)

// The control socket lets `sdlaunch reload-wait` (ExecReload= on systemd
// 252, which has no Type=notify-reload) start a reload and wait for its
// verdict, and lets `sdlaunch status` list the workers. It is an abstract
// unix socket named after the launcher's pid; only root and the launcher's
// own user may use it.

// ControlSocketName is the control socket of the launcher with pid, as seen
// from this process's pid namespace. Abstract sockets are scoped by network
// namespace but pids by pid namespace: containers that share the host's
// network (nspawn's default, --network=host) can run launchers with the same
// pid, so the name carries the pid namespace too.
func ControlSocketName(pid int) string {
	var ns uint64
	if fi, err := os.Stat("/proc/self/ns/pid"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ns = st.Ino
		}
	}
	return fmt.Sprintf("@sdlaunch/%d/%d/control", ns, pid)
}

// WorkerInfo describes one worker for `sdlaunch status`.
type WorkerInfo struct {
	Slot       int       `json:"slot"`
	Generation int       `json:"generation"`
	PID        int       `json:"pid"`
	State      string    `json:"state"`
	Started    time.Time `json:"started"`
	Status     string    `json:"status,omitempty"`
}

// StatusInfo is the launcher's answer to a status request.
type StatusInfo struct {
	Status     string       `json:"status"`
	Generation int          `json:"generation"`
	Workers    []WorkerInfo `json:"workers"`
}

type ctlRequest struct {
	cmd   string
	reply chan string
}

// serveControl accepts control connections until the listener is closed.
// Running out of descriptors (EMFILE, ENFILE) or memory must not end it for
// good: it backs off (5 ms doubling to 1 s, as net/http's Serve does),
// logs once per outage, and goes on.
func serveControl(l *net.UnixListener, requests chan<- ctlRequest, quit <-chan struct{}, logf func(prio journal.Priority, format string, a ...any)) {
	var delay time.Duration
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-quit:
				return
			default:
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
				logf(prioWarning, "control socket: %v; retrying (reload-wait and status wait meanwhile)", err)
			} else {
				delay = min(2*delay, time.Second)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-quit:
				t.Stop()
				return
			}
			continue
		}
		if delay != 0 {
			logf(prioNotice, "control socket accepting again")
			delay = 0
		}
		go handleControl(c, requests, quit)
	}
}

func handleControl(c *net.UnixConn, requests chan<- ctlRequest, quit <-chan struct{}) {
	defer c.Close()
	if !peerAllowed(c) {
		fmt.Fprintln(c, "error: permission denied")
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	req := ctlRequest{cmd: strings.TrimSpace(line), reply: make(chan string, 1)}
	select {
	case requests <- req:
	case <-quit:
		fmt.Fprintln(c, "error: launcher is stopping")
		return
	}
	select {
	case ans := <-req.reply:
		fmt.Fprintln(c, ans)
	case <-quit:
		fmt.Fprintln(c, "error: launcher is stopping")
	}
}

func peerAllowed(c *net.UnixConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	_ = rc.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	return err == nil && cred != nil && (cred.Uid == 0 || int(cred.Uid) == os.Geteuid())
}

func listenControl(name string) (*net.UnixListener, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", name, err)
	}
	return l, nil
}

// control sends one request to the launcher with pid and returns its answer.
func control(pid int, cmd string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("unix", ControlSocketName(pid), 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("no sdlaunch launcher with pid %d answers: %w", pid, err)
	}
	defer c.Close()
	if timeout > 0 {
		_ = c.SetDeadline(time.Now().Add(timeout))
	}
	if _, err := fmt.Fprintln(c, cmd); err != nil {
		return "", fmt.Errorf("launcher %d: %w", pid, err)
	}
	ans, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("launcher %d did not answer %q: %w", pid, cmd, err)
	}
	return strings.TrimSpace(ans), nil
}

// ReloadError is returned by Reload when the new generation could not boot
// and the launcher rolled back to the old one (or was stopping).
type ReloadError struct{ Msg string }

func (e *ReloadError) Error() string { return e.Msg }

// Reload asks the launcher with pid to roll a new generation and waits for
// the verdict (timeout 0: wait as long as it takes).
func Reload(pid int, timeout time.Duration) (string, error) {
	ans, err := control(pid, "reload", timeout)
	if err != nil {
		return "", err
	}
	if msg, ok := strings.CutPrefix(ans, "ok "); ok {
		return msg, nil
	}
	return "", &ReloadError{Msg: strings.TrimPrefix(ans, "error: ")}
}

// Status asks the launcher with pid for its workers.
func Status(pid int) (*StatusInfo, error) {
	ans, err := control(pid, "status", 10*time.Second)
	if err != nil {
		return nil, err
	}
	var st StatusInfo
	if err := json.Unmarshal([]byte(ans), &st); err != nil {
		return nil, fmt.Errorf("launcher %d: bad status answer %q: %w", pid, ans, err)
	}
	return &st, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(b)
}
