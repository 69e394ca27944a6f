package prefork

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// A worker that boots while the one it replaces still serves (a reload's
// successor, a recycled worker's) runs at a lower CPU priority until it is
// ready. On a machine that the serving generation keeps busy, the next
// one's boot (gunicorn --preload imports the app in each arbiter) took the
// CPU from requests in flight: a reload's worst request waited 984 ms
// against 73 ms in the steady state on 2 CPUs. Lowered, the boot takes
// what the serving workers leave.

// bootPriority sets the nice value of a worker's process group: every
// thread of every process in it (setpriority(PRIO_PGRP)), and what they
// fork inherits it.
type bootPriority struct {
	base int // the launcher's own nice value, which a ready worker gets back
	boot int // a booting successor's
}

// lowestNice is the nice value a retired worker tears down at.
const lowestNice = 19

// retire gives group pgid the lowest CPU priority (see
// supervisor.lowerable). Lowering needs no privilege; a group gone already
// is no error.
func (m *Master) retire(pgid int) {
	err := unix.Setpriority(unix.PRIO_PGRP, pgid, lowestNice)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		m.log.Logf(prioWarning, "setpriority(PRIO_PGRP, %d, %d): %v", pgid, lowestNice, err)
	}
}

// canSetPriority reports whether setpriority(2) may be called here, and
// why not: a unit's SystemCallFilter= without it (the default hardening
// denies @resources) refuses it with EPERM even where the kernel would
// allow it. It sets the calling thread's nice value to what it is, which
// needs no privilege.
func canSetPriority() (bool, string) {
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		raw, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
		if err == nil {
			err = unix.Setpriority(unix.PRIO_PROCESS, 0, 20-raw)
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		return false, fmt.Sprintf("setpriority: %v", err)
	}
	return true, ""
}

// newBootPriority returns nil, and why, when booting successors cannot be
// lowered by `by` and raised back: raising a nice value needs CAP_SYS_NICE
// or an RLIMIT_NICE that allows it (a unit's LimitNICE=), and a worker left
// at the lower priority would serve slower for good.
func newBootPriority(by int) (*bootPriority, string) {
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return nil, fmt.Sprintf("getpriority: %v", err)
	}
	base := 20 - raw // the system call's value is 20 - nice
	boot := min(base+by, lowestNice)
	if boot <= base {
		return nil, fmt.Sprintf("the launcher runs at nice %d already", base)
	}
	if err := probeRestore(base, boot); err != nil {
		var rl unix.Rlimit
		_ = unix.Getrlimit(unix.RLIMIT_NICE, &rl)
		return nil, fmt.Sprintf("a lowered priority cannot be raised back to nice %d here (%v: RLIMIT_NICE %d and no CAP_SYS_NICE; a unit allows it with LimitNICE=+%d, as sdlaunch install writes it)", base, err, rl.Cur, base)
	}
	return &bootPriority{base: base, boot: boot}, ""
}

// probeRestore lowers a thread of its own to boot and raises it back to
// base. The thread is never unlocked: it ends with the goroutine, so a
// failed raise leaves nothing at the lower priority.
func probeRestore(base, boot int) error {
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, boot); err != nil {
			errc <- err
			return
		}
		errc <- unix.Setpriority(unix.PRIO_PROCESS, 0, base)
	}()
	return <-errc
}

// set gives group pgid the boot priority (booting) or the launcher's. A
// group that is gone already (ESRCH) is no error.
func (p *bootPriority) set(pgid int, booting bool) error {
	nice := p.base
	if booting {
		nice = p.boot
	}
	err := unix.Setpriority(unix.PRIO_PGRP, pgid, nice)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("setpriority(PRIO_PGRP, %d, %d): %w", pgid, nice, err)
	}
	return nil
}
