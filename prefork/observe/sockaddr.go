package observe

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockName is getsockname(2) (or getpeername(2)) decoded by hand: x/sys's
// decoding asks SO_PROTOCOL for every inet address, one more syscall per
// socket. It returns the address family and the address as text:
// "127.0.0.1:8000", "[::1]:8000", a unix path, "@name" (abstract), or ""
// (unnamed).
func sockName(fd int, peer bool) (family uint16, addr string, err error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unsafe.Sizeof(rsa))
	nr := uintptr(unix.SYS_GETSOCKNAME)
	if peer {
		nr = unix.SYS_GETPEERNAME
	}
	if _, _, e := unix.Syscall(nr, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n))); e != 0 {
		return 0, "", e
	}
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return unix.AF_INET, netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(p[0])<<8|uint16(p[1])).String(), nil
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return unix.AF_INET6, netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(p[0])<<8|uint16(p[1])).String(), nil
	case unix.AF_UNIX:
		a := (*unix.RawSockaddrUnix)(unsafe.Pointer(&rsa))
		const off = uint32(unsafe.Offsetof(a.Path))
		if n <= off {
			return unix.AF_UNIX, "", nil
		}
		path := make([]byte, 0, n-off)
		for _, c := range a.Path[:n-off] {
			path = append(path, byte(c))
		}
		if path[0] == 0 {
			return unix.AF_UNIX, "@" + string(path[1:]), nil
		}
		for i, c := range path {
			if c == 0 {
				path = path[:i]
				break
			}
		}
		return unix.AF_UNIX, string(path), nil
	}
	return rsa.Addr.Family, "", nil
}
