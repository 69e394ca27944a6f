package observe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Where pidfd_getfd is refused, the kernel's socket tables are read with
// sock_diag(7) (NETLINK_SOCK_DIAG, what ss(8) uses) rather than from
// /proc/PID/net/tcp: a dump asks only for the sockets in the states a
// process can hold (not LISTEN, not TIME_WAIT) whose local port is a
// listener's, so it costs what the service's own connections cost, however
// many TIME_WAIT sockets the namespace has (/proc/net/tcp lists them all:
// 14,000 lines, 36 ms, under a connection-per-request load). It sees the
// launcher's network namespace, where its listeners and so their accepted
// connections live, except when systemd made the listeners in another one
// (PrivateNetwork=yes): there pidfd_getfd is allowed by the generated units.

// heldStates are the TCP states of a socket a process may hold after
// accept(2): not LISTEN, SYN_*, TIME_WAIT or NEW_SYN_RECV.
const heldStates = 1<<1 | 1<<4 | 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<11 // ESTABLISHED FIN_WAIT1 FIN_WAIT2 CLOSE CLOSE_WAIT LAST_ACK CLOSING

// diagTable reads, with sock_diag, the TCP sockets in heldStates whose local
// port is one of ports: Blind SockInfos by inode.
func diagTable(ports []uint16) (map[uint64]SockInfo, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	out := map[uint64]SockInfo{}
	seen := map[uint16]bool{}
	for _, port := range ports {
		if seen[port] {
			continue
		}
		seen[port] = true
		for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
			if err := diagDump(fd, fam, port, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// diagRequest is an inet_diag_req_v2 dump of family's TCP sockets in
// heldStates, with a bytecode filter for local port == port.
func diagRequest(family uint8, port uint16, seq uint32) []byte {
	const reqLen = 56 // inet_diag_req_v2
	// INET_DIAG_BC_S_GE port, then INET_DIAG_BC_S_LE port; each op is
	// {code, yes, no} followed by {0, 0, port}; "no" jumps past the end,
	// which rejects the socket.
	bc := make([]byte, 16)
	bc[0], bc[1] = 2, 8 // INET_DIAG_BC_S_GE: yes +8, no +20 (16 bytes left + 4)
	binary.NativeEndian.PutUint16(bc[2:], 20)
	binary.NativeEndian.PutUint16(bc[6:], port)
	bc[8], bc[9] = 3, 8 // INET_DIAG_BC_S_LE: yes +8, no +12 (8 bytes left + 4)
	binary.NativeEndian.PutUint16(bc[10:], 12)
	binary.NativeEndian.PutUint16(bc[14:], port)
	attrLen := 4 + len(bc)
	total := unix.SizeofNlMsghdr + reqLen + attrLen
	b := make([]byte, total)
	binary.NativeEndian.PutUint32(b[0:], uint32(total))
	binary.NativeEndian.PutUint16(b[4:], 20) // SOCK_DIAG_BY_FAMILY
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(b[8:], seq)
	r := b[unix.SizeofNlMsghdr:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(r[4:], heldStates)
	a := r[reqLen:]
	binary.NativeEndian.PutUint16(a[0:], uint16(attrLen))
	binary.NativeEndian.PutUint16(a[2:], 1) // INET_DIAG_REQ_BYTECODE
	copy(a[4:], bc)
	return b
}

func diagDump(fd int, family uint8, port uint16, out map[uint64]SockInfo) error {
	seq := uint32(port)<<8 | uint32(family)
	if err := unix.Sendto(fd, diagRequest(family, port, seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("sock_diag reply: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("sock_diag reply: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return fmt.Errorf("sock_diag: %w", unix.Errno(-e))
					}
				}
				return nil
			}
			if si, ino, ok := parseDiagMsg(m.Data); ok {
				out[ino] = si
			}
		}
	}
}

// parseDiagMsg reads an inet_diag_msg: family, state, timer, retrans, then
// inet_diag_sockid (sport, dport big-endian, src[16], dst[16], if, cookie),
// expires, rqueue, wqueue, uid, inode.
func parseDiagMsg(d []byte) (SockInfo, uint64, bool) {
	if len(d) < 72 {
		return SockInfo{}, 0, false
	}
	fam, state := d[0], d[1]
	sport, dport := binary.BigEndian.Uint16(d[4:]), binary.BigEndian.Uint16(d[6:])
	addr := func(b []byte) netip.Addr {
		if fam == unix.AF_INET {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16([16]byte(b[:16]))
	}
	si := SockInfo{
		Network:  "tcp",
		State:    tcpState(state),
		Local:    netip.AddrPortFrom(addr(d[8:24]), sport).String(),
		Peer:     netip.AddrPortFrom(addr(d[24:40]), dport).String(),
		RxQueue:  binary.NativeEndian.Uint32(d[56:]),
		OutQueue: binary.NativeEndian.Uint32(d[60:]),
		Blind:    true,
	}
	return si, uint64(binary.NativeEndian.Uint32(d[68:])), true
}

// diagRefused: sock_diag cannot be used here at all (AF_NETLINK not
// allowed, by RestrictAddressFamilies= or a seccomp filter).
func diagRefused(err error) bool {
	return errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) ||
		errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, os.ErrPermission)
}
