package observe

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Where pidfd_getfd is refused (an outer seccomp filter: systemd-nspawn's
// and Docker's default ones do not allow it; kernels before 5.6), the
// launcher still sees its workers' sockets in /proc/PID/net/tcp{,6}: state,
// addresses and queues, but no traffic times or byte counts. Such a socket
// is Blind, and InProgress counts a held, open Blind connection as busy: a
// stop then waits for the worker to let go of its connections (or for half
// of --graceful-timeout), which a connection-per-request load allows and a
// keep-alive one does not.

// FallbackSockets is LiveSockets that falls back to /proc/PID/net for good
// once pidfd_getfd is refused; Degraded says why, once it did.
func FallbackSockets(fs FS) *Fallback { return &Fallback{fs: fs} }

// Fallback is the SockReader FallbackSockets returns.
type Fallback struct {
	fs  FS
	mu  sync.Mutex
	why string
}

// Degraded is "" while pidfd_getfd works, else why it does not.
func (f *Fallback) Degraded() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.why
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
	return f.fs.procNetSocket(pid, fd)
}

func refused(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EACCES)
}

// procNetSocket describes fd of pid from /proc/PID/net: a Blind SockInfo.
func (fs FS) procNetSocket(pid, fd int) (SockInfo, error) {
	target, err := os.Readlink(filepath.Join(fs.root(), strconv.Itoa(pid), "fd", strconv.Itoa(fd)))
	if err != nil {
		return SockInfo{}, err
	}
	ino, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return SockInfo{Network: "other"}, nil
	}
	ino = strings.TrimSuffix(ino, "]")
	for _, table := range []string{"tcp", "tcp6"} {
		si, found, err := fs.scanTCP(pid, table, ino)
		if err != nil {
			return SockInfo{}, err
		}
		if found {
			return si, nil
		}
	}
	if path, found := fs.scanUnix(pid, ino); found {
		return SockInfo{Network: "unix", State: "CONNECTED", Local: path, Blind: true}, nil
	}
	// Not in this network namespace's tables (the accepted sockets of a
	// service in a private network namespace live in the host's): unknown,
	// so busy while held.
	return SockInfo{Network: "tcp", State: "ESTABLISHED", Local: "unknown", Blind: true}, nil
}

// scanTCP finds socket inode ino in /proc/PID/net/tcp (or tcp6):
// "sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode".
func (fs FS) scanTCP(pid int, table, ino string) (SockInfo, bool, error) {
	f, err := os.Open(filepath.Join(fs.root(), strconv.Itoa(pid), "net", table))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return SockInfo{}, false, nil
		}
		return SockInfo{}, false, fmt.Errorf("read /proc/%d/net/%s: %w", pid, table, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 10 || fl[9] != ino {
			continue
		}
		st, _ := strconv.ParseUint(fl[3], 16, 8)
		tx, rx, _ := strings.Cut(fl[4], ":")
		txq, _ := strconv.ParseUint(tx, 16, 32)
		rxq, _ := strconv.ParseUint(rx, 16, 32)
		return SockInfo{Network: "tcp", State: tcpState(uint8(st)), Local: hexAddr(fl[1]), Peer: hexAddr(fl[2]),
			RxQueue: uint32(rxq), OutQueue: uint32(txq), Blind: true}, true, nil
	}
	return SockInfo{}, false, sc.Err()
}

func (fs FS) scanUnix(pid int, ino string) (string, bool) {
	f, err := os.Open(filepath.Join(fs.root(), strconv.Itoa(pid), "net", "unix"))
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) >= 7 && fl[6] == ino {
			if len(fl) >= 8 {
				return fl[7], true
			}
			return "", true
		}
	}
	return "", false
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
