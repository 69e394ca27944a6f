package observe

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Where pidfd_getfd is refused (an outer seccomp filter: systemd-nspawn's
// and Docker's default ones do not allow it; kernels before 5.6), the
// launcher still sees its workers' sockets through sock_diag (diag.go) or,
// where AF_NETLINK is refused too, in /proc/PID/net/tcp{,6}: state,
// addresses and queues, but no traffic times or byte counts. Such a socket
// is Blind, and InProgress counts a held, open Blind connection as busy: a
// stop then waits for the worker to let go of its connections (or for half
// of --graceful-timeout), which a connection-per-request load allows and a
// keep-alive one does not.

// FallbackSockets is LiveSockets that falls back for good, once
// pidfd_getfd is refused, to sock_diag for the TCP listeners' ports of ls,
// and from there to /proc/PID/net once AF_NETLINK is refused; Degraded says
// why, once it did.
func FallbackSockets(fs FS, ls []Listener) *Fallback {
	f := &Fallback{fs: fs}
	for _, l := range ls {
		if l.Network == "tcp" && !slices.Contains(f.ports, l.Addr.Port()) {
			f.ports = append(f.ports, l.Addr.Port())
		}
	}
	return f
}

// Fallback is the SockReader FallbackSockets returns.
type Fallback struct {
	fs     FS
	ports  []uint16
	mu     sync.Mutex
	why    string // pidfd_getfd refused: why
	noDiag string // sock_diag refused too: why
}

// Degraded is "" while pidfd_getfd works, else why it does not, and what
// is read instead.
func (f *Fallback) Degraded() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.why == "":
		return ""
	case f.noDiag == "":
		return f.why + "; reading sock_diag instead"
	}
	return f.why + "; " + f.noDiag + "; reading /proc/PID/net instead"
}

// Slow: the sockets are read from /proc/PID/net, whose tcp tables list
// every socket of the network namespace (TIME_WAIT ones too).
func (f *Fallback) Slow() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.why != "" && f.noDiag != ""
}

func (f *Fallback) Read(pid, fd int) (SockInfo, error) {
	f.mu.Lock()
	why := f.why
	f.mu.Unlock()
	if why == "" {
		si, err := liveSockets{}.Read(pid, fd)
		if err == nil || !refused(err) {
			return si, err
		}
		f.mu.Lock()
		f.why = err.Error()
		f.mu.Unlock()
	}
	out := map[int]SockInfo{}
	if err := f.readBlind(pid, map[int]uint64{fd: 0}, out); err != nil {
		return SockInfo{}, err
	}
	si, ok := out[fd]
	if !ok {
		return SockInfo{}, fmt.Errorf("pid %d fd %d: %w", pid, fd, unix.EBADF)
	}
	return si, nil
}

// table reads the TCP sockets that processes may hold on the listeners'
// ports with sock_diag; nil (and no error) once sock_diag is refused.
func (f *Fallback) table() (map[uint64]SockInfo, error) {
	f.mu.Lock()
	noDiag := f.noDiag
	f.mu.Unlock()
	if noDiag != "" {
		return nil, nil
	}
	tab, err := diagTable(f.ports)
	if err != nil && diagRefused(err) {
		f.mu.Lock()
		f.noDiag = err.Error()
		f.mu.Unlock()
		return nil, nil
	}
	return tab, err
}

func refused(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EACCES)
}

// ReadAll reads several descriptors of pid at once (fds: descriptor to
// socket inode, as listed in /proc/PID/fd): one by one while pidfd_getfd
// works, else in one pass over /proc/PID/net, whose tcp tables list every
// socket of the network namespace, TIME_WAIT ones included (14,000 lines,
// 36 ms to read, measured under a connection-per-request load).
func (f *Fallback) ReadAll(pid int, fds map[int]uint64) (map[int]SockInfo, error) {
	out := make(map[int]SockInfo, len(fds))
	rest := map[int]uint64{}
	for _, fd := range sortedKeysU(fds) {
		if f.Degraded() != "" {
			rest[fd] = fds[fd]
			continue
		}
		si, err := f.Read(pid, fd)
		if err != nil {
			if gone(err) || errors.Is(err, unix.EBADF) {
				continue
			}
			return nil, err
		}
		out[fd] = si
	}
	if len(rest) == 0 {
		return out, nil
	}
	if err := f.readBlind(pid, rest, out); err != nil {
		return nil, err
	}
	return out, nil
}

// readBlind describes fds (descriptor to inode; 0: look it up) of pid into
// out, from sock_diag or /proc/PID/net. A descriptor closed since it was
// listed is left out.
func (f *Fallback) readBlind(pid int, fds map[int]uint64, out map[int]SockInfo) error {
	for fd, ino := range fds {
		if ino != 0 {
			continue
		}
		target, err := os.Readlink(filepath.Join(f.fs.root(), strconv.Itoa(pid), "fd", strconv.Itoa(fd)))
		if err != nil {
			if gone(err) {
				delete(fds, fd)
				continue
			}
			return err
		}
		if ino, ok := socketInode(target); ok {
			fds[fd] = ino
		} else {
			delete(fds, fd)
			out[fd] = SockInfo{Network: "other"}
		}
	}
	tab, err := f.table()
	if err != nil {
		return err
	}
	blind, err := f.fs.procNetSockets(pid, fds, tab)
	if err != nil {
		return err
	}
	maps.Copy(out, blind)
	return nil
}

// procNetSockets describes the sockets fds (descriptor to inode) of pid,
// Blind SockInfos: the TCP ones from tab (sock_diag's) when it is not nil,
// else in one pass over /proc/PID/net/tcp{,6}; then the unix ones from
// /proc/PID/net/unix.
func (fs FS) procNetSockets(pid int, fds map[int]uint64, tab map[uint64]SockInfo) (map[int]SockInfo, error) {
	want := make(map[string][]int, len(fds))
	for fd, ino := range fds {
		k := strconv.FormatUint(ino, 10)
		want[k] = append(want[k], fd)
	}
	out := make(map[int]SockInfo, len(fds))
	found := func(ino string, si SockInfo) {
		for _, fd := range want[ino] {
			out[fd] = si
		}
		delete(want, ino)
	}
	if tab != nil {
		for _, ino := range fds {
			if si, ok := tab[ino]; ok {
				found(strconv.FormatUint(ino, 10), si)
			}
		}
	} else {
		for _, table := range []string{"tcp", "tcp6"} {
			if len(want) == 0 {
				break
			}
			if err := fs.scanTCP(pid, table, want, found); err != nil {
				return nil, err
			}
		}
	}
	if len(want) > 0 {
		fs.scanUnix(pid, want, found)
	}
	for ino := range want {
		// Not in this network namespace's tables (the accepted sockets of a
		// service in a private network namespace live in the host's): unknown,
		// so busy while held.
		found(ino, SockInfo{Network: "tcp", State: "ESTABLISHED", Local: "unknown", Blind: true})
	}
	return out, nil
}

// scanTCP finds the sockets want (by inode) in /proc/PID/net/tcp (or tcp6):
// "sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode".
func (fs FS) scanTCP(pid int, table string, want map[string][]int, found func(string, SockInfo)) error {
	f, err := os.Open(filepath.Join(fs.root(), strconv.Itoa(pid), "net", table))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read /proc/%d/net/%s: %w", pid, table, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(want) > 0 {
		fl := strings.Fields(sc.Text())
		if len(fl) < 10 {
			continue
		}
		if _, ok := want[fl[9]]; !ok {
			continue
		}
		st, _ := strconv.ParseUint(fl[3], 16, 8)
		tx, rx, _ := strings.Cut(fl[4], ":")
		txq, _ := strconv.ParseUint(tx, 16, 32)
		rxq, _ := strconv.ParseUint(rx, 16, 32)
		found(fl[9], SockInfo{Network: "tcp", State: tcpState(uint8(st)), Local: hexAddr(fl[1]), Peer: hexAddr(fl[2]),
			RxQueue: uint32(rxq), OutQueue: uint32(txq), Blind: true})
	}
	return sc.Err()
}

// scanUnix finds the sockets want in /proc/PID/net/unix: connected stream
// sockets, with the path they are bound to (an accepted one: its listener's).
func (fs FS) scanUnix(pid int, want map[string][]int, found func(string, SockInfo)) {
	f, err := os.Open(filepath.Join(fs.root(), strconv.Itoa(pid), "net", "unix"))
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(want) > 0 {
		fl := strings.Fields(sc.Text())
		if len(fl) < 7 {
			continue
		}
		if _, ok := want[fl[6]]; !ok {
			continue
		}
		path := ""
		if len(fl) >= 8 {
			path = fl[7]
		}
		found(fl[6], SockInfo{Network: "unix", State: "CONNECTED", Local: path, Blind: true})
	}
}

// hexAddr renders /proc/net/tcp's "0100007F:1F40" (and the IPv6 form) as
// "127.0.0.1:8000".
func hexAddr(s string) string {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil {
		return s
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return s
	}
	// Each 32-bit word is in host (little-endian) order.
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return s
	}
	return netip.AddrPortFrom(a, uint16(port)).String()
}
