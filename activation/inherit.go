package activation

import (
	"fmt"
	"os"
	"strconv"

	sdactivation "github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// Inherited takes the sockets systemd passed to this process (LISTEN_FDS with
// LISTEN_PID equal to our pid), validates them, moves them to close-on-exec
// descriptors owned by the returned Sockets, and unsets LISTEN_*.
//
// notice is non-empty when LISTEN_FDS was set for another process (stale
// variables, e.g. inherited through a wrapper shell): they are ignored.
func Inherited() (socks []*Socket, notice string, err error) {
	envPID, envFDs := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	if envFDs != "" && envPID != strconv.Itoa(os.Getpid()) {
		notice = fmt.Sprintf("ignoring LISTEN_FDS=%s meant for pid %s", envFDs, envPID)
	}
	files := sdactivation.Files(true)
	for _, f := range files {
		s, err := adopt(f)
		if err != nil {
			_ = CloseAll(socks)
			for _, f := range files {
				f.Close()
			}
			return nil, "", err
		}
		socks = append(socks, s)
	}
	return socks, notice, nil
}

// adopt duplicates f's descriptor into one the Socket owns and closes f.
// The descriptor is reached through SyscallConn, never Fd(), so its
// blocking mode is left exactly as systemd set it.
func adopt(f *os.File) (*Socket, error) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("inherited fd %s: %w", f.Name(), err)
	}
	var (
		nfd, orig int
		derr      error
	)
	if err := rc.Control(func(fd uintptr) {
		orig = int(fd)
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 3)
	}); err != nil {
		return nil, fmt.Errorf("inherited fd %s: %w", f.Name(), err)
	}
	if derr != nil {
		return nil, fmt.Errorf("inherited fd %d (%s) is not usable: %w", orig, f.Name(), derr)
	}
	name := f.Name()
	if name == "LISTEN_FD_"+strconv.Itoa(orig) {
		name = DefaultFDName
	}
	return &Socket{Name: name, Desc: describe(nfd), fd: nfd}, nil
}
