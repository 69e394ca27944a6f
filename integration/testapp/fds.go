package main

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/sdlaunch/sdlaunch/integration/testapp/report"
	"golang.org/x/sys/unix"
)

// listFDs lists /proc/self/fd with raw system calls only, so that calling it
// first thing in main sees exactly the inherited descriptors (os.ReadDir
// would start the runtime's poller and add its epoll and eventfd descriptors).
func listFDs() []report.FD {
	dirfd, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return []report.FD{{FD: -1, Target: "error: " + err.Error()}}
	}
	defer syscall.Close(dirfd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := syscall.ReadDirent(dirfd, buf)
		if err != nil {
			return []report.FD{{FD: -1, Target: "error: " + err.Error()}}
		}
		if n <= 0 {
			break
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
	var out []report.FD
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dirfd {
			continue
		}
		info := report.FD{FD: fd}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			info.CloExec = flags&unix.FD_CLOEXEC != 0
		}
		lb := make([]byte, 256)
		if n, err := syscall.Readlink("/proc/self/fd/"+name, lb); err == nil {
			info.Target = string(lb[:n])
		} else {
			info.Target = "error: " + err.Error()
		}
		if strings.HasPrefix(info.Target, "socket:") {
			describeSocket(fd, &info)
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FD < out[j].FD })
	return out
}

func describeSocket(fd int, info *report.FD) {
	if sa, err := syscall.Getsockname(fd); err == nil {
		switch sa := sa.(type) {
		case *syscall.SockaddrInet4:
			info.SockName = net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
		case *syscall.SockaddrInet6:
			info.SockName = net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
		case *syscall.SockaddrUnix:
			info.SockName = "unix:" + sa.Name
		default:
			info.SockName = fmt.Sprintf("%T", sa)
		}
	}
	if t, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE); err == nil {
		switch t {
		case syscall.SOCK_STREAM:
			info.SockType = "stream"
		case syscall.SOCK_DGRAM:
			info.SockType = "dgram"
		case syscall.SOCK_SEQPACKET:
			info.SockType = "seqpacket"
		default:
			info.SockType = strconv.Itoa(t)
		}
	}
	if l, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err == nil {
		info.Listen = l == 1
	}
}
