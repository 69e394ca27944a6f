package observe

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Listener is one of the launcher's listening sockets, as the kernel knows
// it. Workers hold the same open file, so its inode identifies it in any
// process's /proc/PID/fd and in epoll registrations.
type Listener struct {
	Inode   uint64         // st_ino of the socket
	Network string         // "tcp" or "unix"
	Addr    netip.AddrPort // tcp: bound local address (unspecified IP = every address)
	Path    string         // unix: bound path, "@name" for an abstract socket
}

func (l Listener) String() string {
	if l.Network == "unix" {
		return "unix " + l.Path
	}
	return "tcp " + l.Addr.String()
}

// Describe describes the listening stream socket fd (one of the launcher's
// own). It uses the raw descriptor and leaves its flags alone; pass
// activation.Socket.FD(), never (*os.File).Fd(), which would make the shared
// socket blocking for every worker.
func Describe(fd int) (Listener, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Listener{}, fmt.Errorf("describe fd %d: fstat: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return Listener{}, fmt.Errorf("describe fd %d: not a socket (mode %#o)", fd, st.Mode)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return Listener{}, fmt.Errorf("describe fd %d: SO_TYPE: %w", fd, err)
	}
	if typ != unix.SOCK_STREAM {
		return Listener{}, fmt.Errorf("describe fd %d: not a stream socket (type %d)", fd, typ)
	}
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return Listener{}, fmt.Errorf("describe fd %d: SO_ACCEPTCONN: %w", fd, err)
	}
	if acc != 1 {
		return Listener{}, fmt.Errorf("describe fd %d: socket is not listening", fd)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return Listener{}, fmt.Errorf("describe fd %d: getsockname: %w", fd, err)
	}
	l := Listener{Inode: st.Ino}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		l.Network, l.Addr = "tcp", netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		l.Network, l.Addr = "tcp", netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	case *unix.SockaddrUnix:
		l.Network, l.Path = "unix", a.Name
	default:
		return Listener{}, fmt.Errorf("describe fd %d: unsupported address family %T", fd, sa)
	}
	return l, nil
}
