package activation

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultFDName is what sd_listen_fds_with_names reports for an unnamed fd.
const DefaultFDName = "unknown"

// Socket is a listening socket owned by the launcher as a raw,
// close-on-exec file descriptor.
type Socket struct {
	Name   string // LISTEN_FDNAMES entry
	Desc   string // human description, e.g. "tcp 127.0.0.1:8000"
	fd     int
	bound  bool   // the launcher bound it (--listen), rather than inheriting it
	unlink string // unix socket path to remove on Close (sockets we bound)
	kept   int    // the TCP backlog Relisten last set, as the kernel reports it
}

// Bound reports whether the launcher bound the socket itself (--listen)
// rather than inheriting it from systemd: only then is closing the
// launcher's copy the end of it once the workers let go.
func (s *Socket) Bound() bool { return s.bound }

// FD returns the descriptor. It stays owned by the Socket.
func (s *Socket) FD() int { return s.fd }

// Close closes the descriptor and removes a unix socket file the launcher made.
func (s *Socket) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	if s.unlink != "" {
		if rerr := os.Remove(s.unlink); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

func (s *Socket) String() string {
	if s.Name == DefaultFDName {
		return s.Desc
	}
	return s.Name + " (" + s.Desc + ")"
}

// CloseAll closes every socket, returning the first error.
func CloseAll(socks []*Socket) error {
	var first error
	for _, s := range socks {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Backlog is the default listen(2) backlog (run and install --backlog); the
// kernel caps it at net.core.somaxconn (4096 by default), like systemd's
// default Backlog=SOMAXCONN.
const Backlog = 4096

// Bind creates sockets for specs, listening with backlog. On error every
// socket made so far is closed and the error names the offending address.
func Bind(specs []Spec, backlog int) ([]*Socket, error) {
	socks := make([]*Socket, 0, len(specs))
	for _, sp := range specs {
		s, err := bindOne(sp, backlog)
		if err != nil {
			_ = CloseAll(socks)
			return nil, fmt.Errorf("listen %s: %w", sp, err)
		}
		socks = append(socks, s)
	}
	return socks, nil
}

func bindOne(sp Spec, backlog int) (*Socket, error) {
	name := sp.Name
	if name == "" {
		name = DefaultFDName
	}
	if sp.Network == "unix" {
		return bindUnix(sp.Address, name, backlog)
	}
	var (
		family int
		sa     unix.Sockaddr
	)
	switch {
	case sp.Host == "":
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: sp.Port}
	default:
		ip, err := netip.ParseAddr(sp.Host)
		if err != nil {
			return nil, fmt.Errorf("parse host: %w", err)
		}
		if ip.Is4() {
			family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: sp.Port, Addr: ip.As4()}
		} else {
			family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: sp.Port, Addr: ip.As16()}
		}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil && sp.Host == "" && errors.Is(err, unix.EAFNOSUPPORT) {
		// No IPv6 on this host: ":port" means every IPv4 address.
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: sp.Port}
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if family == unix.AF_INET6 && sp.Host == "" {
		// ":port" serves IPv4 and IPv6, like systemd's BindIPv6Only=default.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen: %w", err)
	}
	return &Socket{Name: name, Desc: describe(fd), fd: fd, bound: true}, nil
}

func bindUnix(path, name string, backlog int) (*Socket, error) {
	abstract := strings.HasPrefix(path, "@") // x/sys binds "@name" in the abstract namespace
	if fi, err := os.Lstat(path); err == nil && !abstract {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if stale, err := staleUnix(path); err != nil {
			return nil, err
		} else if !stale {
			return nil, unix.EADDRINUSE
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	unlink := path
	if abstract {
		unlink = ""
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		if unlink != "" {
			os.Remove(unlink)
		}
		return nil, fmt.Errorf("listen: %w", err)
	}
	return &Socket{Name: name, Desc: "unix " + path, fd: fd, bound: true, unlink: unlink}, nil
}

// staleUnix reports whether nobody accepts on the unix socket at path.
func staleUnix(path string) (bool, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("probe socket: %w", err)
	}
	defer unix.Close(fd)
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	return errors.Is(err, unix.ECONNREFUSED), nil
}

// describe renders "tcp 127.0.0.1:8000", "unix /run/x.sock", "udp ..." or
// "fd N" for a descriptor.
func describe(fd int) string {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fmt.Sprintf("fd %d", fd)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Sprintf("socket fd %d", fd)
	}
	proto := map[int]string{unix.SOCK_STREAM: "tcp", unix.SOCK_DGRAM: "udp", unix.SOCK_SEQPACKET: "seqpacket"}[typ]
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return fmt.Sprintf("%s %s", proto, netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)))
	case *unix.SockaddrInet6:
		return fmt.Sprintf("%s %s", proto, netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)))
	case *unix.SockaddrUnix:
		kind := "unix"
		if typ == unix.SOCK_DGRAM {
			kind = "unixgram"
		}
		n := a.Name
		if n == "" {
			n = "(unnamed)"
		}
		return kind + " " + n
	}
	return strings.TrimSpace(proto + " socket")
}
