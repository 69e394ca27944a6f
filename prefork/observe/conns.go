package observe

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// SockInfo is what the kernel says of one socket.
type SockInfo struct {
	Network string // "tcp", "unix" (stream sockets); anything else is not a connection
	State   string // TCP state name ("ESTABLISHED", "LISTEN", ...); unix: "LISTEN" or "CONNECTED"
	Local   string // tcp: "127.0.0.1:8000", "[::ffff:127.0.0.1]:8000"; unix: the bound path
	Peer    string

	RxQueue  uint32 // unread bytes (SIOCINQ)
	OutQueue uint32 // written by the app, not yet acknowledged (SIOCOUTQ)
	NotSent  uint32 // written, not yet sent (tcpi_notsent_bytes)

	BytesReceived, BytesAcked uint64        // tcpi_bytes_received, tcpi_bytes_acked
	LastRecv, LastSend        time.Duration // tcpi_last_data_recv, tcpi_last_data_sent: how long ago (jiffies, shown in ms)

	// Blind: read from /proc/PID/net (see FallbackSockets): state and
	// queues only, no traffic times or counts.
	Blind bool
}

// SockReader reads what the kernel says of descriptor fd of process pid.
type SockReader interface {
	Read(pid, fd int) (SockInfo, error)
}

// Conn is an accepted connection held by a process of the group.
type Conn struct {
	PID, FD  int
	Inode    uint64
	Listener int // index into the listeners it was accepted from
	Info     SockInfo
}

func (c Conn) String() string {
	return fmt.Sprintf("pid %d fd %d %s %s <- %s", c.PID, c.FD, c.Info.Network, c.Info.Local, c.Info.Peer)
}

// Connections lists the accepted connections the pids hold: stream sockets,
// not listening, whose local address is one of ls's (tcp: the same port, and
// the listener's IP unspecified or equal, v4-mapped addresses unmapped;
// unix: the same path). The same socket held by two pids (inherited across a
// fork) is listed once per holder. A process or descriptor that goes away
// while being read is skipped; any other failure is an error, so that the
// caller never mistakes "could not see" for "holds nothing".
func (fs FS) Connections(pids []int, ls []Listener, sr SockReader) ([]Conn, error) {
	return connections(fs.proc(), pids, ls, sr)
}

func connections(p proc, pids []int, ls []Listener, sr SockReader) ([]Conn, error) {
	isListener := make(map[uint64]bool, len(ls))
	for _, l := range ls {
		isListener[l.Inode] = true
	}
	var out []Conn
	for _, pid := range pids {
		fds, err := readFDs(p, pid)
		if err != nil {
			if gone(err) {
				continue
			}
			return nil, fmt.Errorf("connections of pid %d: %w", pid, err)
		}
		cand := make(map[int]uint64, len(fds.sock))
		for fd, ino := range fds.sock {
			if !isListener[ino] {
				cand[fd] = ino
			}
		}
		infos, err := readAll(sr, pid, cand)
		if err != nil {
			return nil, fmt.Errorf("connections of pid %d: %w", pid, err)
		}
		for _, fd := range sortedKeysU(cand) {
			info, ok := infos[fd]
			if !ok || info.State == "LISTEN" || (info.Network != "tcp" && info.Network != "unix") {
				continue
			}
			if li := matchListener(info, ls); li >= 0 {
				out = append(out, Conn{PID: pid, FD: fd, Inode: cand[fd], Listener: li, Info: info})
			}
		}
	}
	return out, nil
}

// Holding returns a connection accepted from one of ls that one of pids
// holds, if any: evidence that the group accepts, when it is never seen
// waiting (a saturated sync server goes from one connection to the next).
// The processes run: with sock_diag (pidfd_getfd refused), the kernel's
// table is read before the descriptors are listed, so that a connection
// held for a millisecond is found in both.
func (fs FS) Holding(pids []int, ls []Listener, f *Fallback) (Conn, bool, error) {
	var sr SockReader = f
	if f.Degraded() != "" && !f.Slow() {
		tab, err := f.table()
		if err != nil || tab == nil {
			return Conn{}, false, err
		}
		sr = snapshot(tab)
	}
	cs, err := connections(fs.proc(), pids, ls, sr)
	if err != nil || len(cs) == 0 {
		return Conn{}, false, err
	}
	return cs[0], true, nil
}

// snapshot is a sock_diag table read as a BatchReader: a descriptor whose
// socket is not in it is none of the listeners' held connections.
type snapshot map[uint64]SockInfo

func (t snapshot) Read(pid, fd int) (SockInfo, error) {
	return SockInfo{}, fmt.Errorf("pid %d fd %d: a snapshot is read by inode: %w", pid, fd, unix.EBADF)
}

func (t snapshot) ReadAll(pid int, fds map[int]uint64) (map[int]SockInfo, error) {
	out := make(map[int]SockInfo, len(fds))
	for fd, ino := range fds {
		if si, ok := t[ino]; ok {
			out[fd] = si
		}
	}
	return out, nil
}

// BatchReader is a SockReader that reads several descriptors of a process
// at once, cheaper than one by one (see Fallback.ReadAll).
type BatchReader interface {
	ReadAll(pid int, fds map[int]uint64) (map[int]SockInfo, error)
}

// readAll reads fds of pid with sr, leaving out the descriptors that were
// closed (or whose process exited) since they were listed.
func readAll(sr SockReader, pid int, fds map[int]uint64) (map[int]SockInfo, error) {
	if br, ok := sr.(BatchReader); ok {
		return br.ReadAll(pid, fds)
	}
	out := make(map[int]SockInfo, len(fds))
	for _, fd := range sortedKeysU(fds) {
		info, err := sr.Read(pid, fd)
		if err != nil {
			if gone(err) || errors.Is(err, unix.EBADF) {
				continue // exited, or closed the fd, since the listing
			}
			return nil, fmt.Errorf("fd %d: %w", fd, err)
		}
		out[fd] = info
	}
	return out, nil
}

func sortedKeysU(m map[int]uint64) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortInts(out)
	return out
}

// matchListener returns the index of the listener info was accepted from, or -1.
func matchListener(info SockInfo, ls []Listener) int {
	var local netip.AddrPort
	if info.Network == "tcp" {
		var err error
		if local, err = netip.ParseAddrPort(info.Local); err != nil {
			return -1
		}
	}
	for i, l := range ls {
		if l.Network != info.Network {
			continue
		}
		switch l.Network {
		case "unix":
			if l.Path != "" && l.Path == info.Local {
				return i
			}
		case "tcp":
			if l.Addr.Port() != local.Port() {
				continue
			}
			lip := l.Addr.Addr().Unmap()
			if lip.IsUnspecified() || lip == local.Addr().Unmap().WithZone("") {
				return i
			}
		}
	}
	return -1
}

// LiveSockets reads sockets of other processes by duplicating them with
// pidfd_getfd(2) (Linux 5.6; needs PTRACE_MODE_ATTACH_REALCREDS over the
// target: same uid and dumpable, or CAP_SYS_PTRACE, and with Yama
// ptrace_scope=1 an ancestor). Unlike sock_diag or /proc/net/tcp it works
// whatever network namespace the target or the caller is in, and needs no
// AF_NETLINK. Each read duplicates the descriptor close-on-exec, asks the
// socket with SO_TYPE, getsockname, TCP_INFO (unix: SO_ACCEPTCONN),
// getpeername, SIOCINQ and SIOCOUTQ, and closes the duplicate; the target's
// file (and its blocking mode) is untouched: 10 syscalls a socket.
func LiveSockets() SockReader { return liveSockets{} }

type liveSockets struct{}

func (liveSockets) Read(pid, fd int) (SockInfo, error) {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return SockInfo{}, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pfd)
	dup, err := unix.PidfdGetfd(pfd, fd, 0) // always O_CLOEXEC
	if err != nil {
		return SockInfo{}, fmt.Errorf("pidfd_getfd pid %d fd %d: %w", pid, fd, err)
	}
	defer unix.Close(dup)
	return readSocket(dup)
}

// readSocket describes a socket this process holds.
func readSocket(fd int) (SockInfo, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return SockInfo{}, fmt.Errorf("SO_TYPE: %w", err)
	}
	if typ != unix.SOCK_STREAM {
		return SockInfo{Network: "other"}, nil
	}
	fam, local, err := sockName(fd, false)
	if err != nil {
		return SockInfo{}, fmt.Errorf("getsockname: %w", err)
	}
	si := SockInfo{Local: local}
	switch fam {
	case unix.AF_INET, unix.AF_INET6:
		si.Network = "tcp"
	case unix.AF_UNIX:
		si.Network = "unix"
	default:
		si.Network = "other"
		return si, nil
	}
	if si.Network == "unix" {
		acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if err != nil {
			return SockInfo{}, fmt.Errorf("SO_ACCEPTCONN: %w", err)
		}
		if acc == 1 {
			si.State = "LISTEN"
			return si, nil
		}
		si.State = "CONNECTED"
	} else {
		ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return SockInfo{}, fmt.Errorf("TCP_INFO: %w", err)
		}
		si.State = tcpState(ti.State)
		if si.State == "LISTEN" {
			return si, nil
		}
		si.NotSent = ti.Notsent_bytes
		si.BytesReceived, si.BytesAcked = ti.Bytes_received, ti.Bytes_acked
		si.LastRecv = time.Duration(ti.Last_data_recv) * time.Millisecond
		si.LastSend = time.Duration(ti.Last_data_sent) * time.Millisecond
	}
	if _, peer, err := sockName(fd, true); err == nil {
		si.Peer = peer // ENOTCONN once the peer is gone
	}
	inq, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return SockInfo{}, fmt.Errorf("SIOCINQ: %w", err)
	}
	outq, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return SockInfo{}, fmt.Errorf("SIOCOUTQ: %w", err)
	}
	si.RxQueue, si.OutQueue = uint32(inq), uint32(outq)
	return si, nil
}

// tcpState names include/net/tcp_states.h.
func tcpState(s uint8) string {
	names := [...]string{1: "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"}
	if int(s) < len(names) && names[s] != "" {
		return names[s]
	}
	return "STATE_" + strconv.Itoa(int(s))
}
