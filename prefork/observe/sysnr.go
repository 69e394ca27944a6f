package observe

import "strconv"

// What a thread's current syscall means for accepting connections.
type sysKind uint8

const (
	sysOther   sysKind = iota // not a wait on listeners (read, futex, wait4, ...)
	sysAccept                 // accept, accept4: a0 is the fd
	sysRead                   // read, readv, recvfrom, recvmsg: a0 is the fd (a wait for input on a connection)
	sysPoll                   // poll, ppoll: a0 = struct pollfd *, a1 = nfds
	sysSelect                 // select, pselect6: a0 = nfds, a1 = fd_set *readfds
	sysEpoll                  // epoll_wait, epoll_pwait, epoll_pwait2: a0 = epfd
	sysOpaque                 // a wait /proc cannot see into (io_uring_enter)
	sysRestart                // restart_syscall: the original arguments are gone
)

type sysEntry struct {
	name string
	kind sysKind
}

// lookupSys names syscall nr of arch and says what it means for accepting.
// Only the waits the observer decodes, and a few common ones that make
// Detail readable, are listed. ok is false for an unsupported arch.
func lookupSys(arch string, nr int) (e sysEntry, ok bool) {
	switch arch {
	case "amd64":
		return amd64Sys(nr), true
	case "arm64":
		return arm64Sys(nr), true
	}
	return sysEntry{}, false
}

func amd64Sys(nr int) sysEntry {
	switch nr {
	case 0:
		return sysEntry{"read", sysRead}
	case 7:
		return sysEntry{"poll", sysPoll}
	case 19:
		return sysEntry{"readv", sysRead}
	case 23:
		return sysEntry{"select", sysSelect}
	case 34:
		return sysEntry{"pause", sysOther}
	case 35:
		return sysEntry{"nanosleep", sysOther}
	case 43:
		return sysEntry{"accept", sysAccept}
	case 45:
		return sysEntry{"recvfrom", sysRead}
	case 47:
		return sysEntry{"recvmsg", sysRead}
	case 61:
		return sysEntry{"wait4", sysOther}
	case 128:
		return sysEntry{"rt_sigtimedwait", sysOther}
	case 130:
		return sysEntry{"rt_sigsuspend", sysOther}
	case 202:
		return sysEntry{"futex", sysOther}
	case 219:
		return sysEntry{"restart_syscall", sysRestart}
	case 230:
		return sysEntry{"clock_nanosleep", sysOther}
	case 232:
		return sysEntry{"epoll_wait", sysEpoll}
	case 247:
		return sysEntry{"waitid", sysOther}
	case 270:
		return sysEntry{"pselect6", sysSelect}
	case 271:
		return sysEntry{"ppoll", sysPoll}
	case 281:
		return sysEntry{"epoll_pwait", sysEpoll}
	case 288:
		return sysEntry{"accept4", sysAccept}
	case 426:
		return sysEntry{"io_uring_enter", sysOpaque}
	case 441:
		return sysEntry{"epoll_pwait2", sysEpoll}
	}
	return sysEntry{"syscall " + strconv.Itoa(nr), sysOther}
}

func arm64Sys(nr int) sysEntry {
	switch nr {
	case 22:
		return sysEntry{"epoll_pwait", sysEpoll}
	case 63:
		return sysEntry{"read", sysRead}
	case 65:
		return sysEntry{"readv", sysRead}
	case 72:
		return sysEntry{"pselect6", sysSelect}
	case 73:
		return sysEntry{"ppoll", sysPoll}
	case 95:
		return sysEntry{"waitid", sysOther}
	case 98:
		return sysEntry{"futex", sysOther}
	case 101:
		return sysEntry{"nanosleep", sysOther}
	case 115:
		return sysEntry{"clock_nanosleep", sysOther}
	case 128:
		return sysEntry{"restart_syscall", sysRestart}
	case 133:
		return sysEntry{"rt_sigsuspend", sysOther}
	case 137:
		return sysEntry{"rt_sigtimedwait", sysOther}
	case 202:
		return sysEntry{"accept", sysAccept}
	case 207:
		return sysEntry{"recvfrom", sysRead}
	case 212:
		return sysEntry{"recvmsg", sysRead}
	case 242:
		return sysEntry{"accept4", sysAccept}
	case 260:
		return sysEntry{"wait4", sysOther}
	case 426:
		return sysEntry{"io_uring_enter", sysOpaque}
	case 441:
		return sysEntry{"epoll_pwait2", sysEpoll}
	}
	return sysEntry{"syscall " + strconv.Itoa(nr), sysOther}
}
