package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The legacy syscalls, which x/sys no longer uses on amd64.

func rawSelect(nfd int, r *unix.FdSet) error {
	_, _, e := unix.Syscall6(unix.SYS_SELECT, uintptr(nfd), uintptr(unsafe.Pointer(r)), 0, 0, 0, 0)
	return errnoErr(e)
}

func rawEpollWait(ep int, evs []unix.EpollEvent) error {
	_, _, e := unix.Syscall6(unix.SYS_EPOLL_WAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), ^uintptr(0), 0, 0)
	return errnoErr(e)
}

func rawPoll(fds []unix.PollFd) error {
	_, _, e := unix.Syscall(unix.SYS_POLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), ^uintptr(0))
	return errnoErr(e)
}

func rawPause() { unix.Syscall(unix.SYS_PAUSE, 0, 0, 0) }

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
