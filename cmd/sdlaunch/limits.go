package main

import (
	"fmt"
	"os"

	"github.com/sdlaunch/sdlaunch/prefork"
	"golang.org/x/sys/unix"
)

// How many workers a launcher can hold. --workers and --reload-surge are
// refused (exit 2, nothing started) beyond a hard cap, and `run` also
// refuses a count this process's limits cannot hold, instead of forking
// until EMFILE or EAGAIN.
const (
	// maxWorkers caps --workers and --reload-surge. A worker is a whole
	// process of the app: even four per core on a 256-core machine stays
	// below it. More belongs in several apps, not one launcher.
	maxWorkers = 1024
	// fdsPerWorker is what the launcher holds open for each live worker:
	// the read end of its output pipe and its private NOTIFY_SOCKET. (The
	// write end of the pipe is open only during the spawn, which fdHeadroom
	// covers; workers are reaped by pid, without pidfds.)
	fdsPerWorker = 2
	// fdHeadroom is kept free beyond the workers' descriptors and those
	// open at start: a spawn's pipe write end, control-socket clients
	// (reload-wait, status), the journal and notify sockets.
	fdHeadroom = 64
	// taskHeadroom counts the launcher's own threads, which RLIMIT_NPROC
	// counts with the workers (it limits the tasks of the real uid).
	taskHeadroom = 32
)

// capacity is what this process may open and start.
type capacity struct {
	nofile  uint64 // RLIMIT_NOFILE soft limit (Go raised it to the hard limit at start)
	nproc   uint64 // RLIMIT_NPROC soft limit
	openFDs int    // descriptors open now (inherited sockets, stdio, ...)
	root    bool   // the kernel exempts uid 0 from RLIMIT_NPROC
}

// readCapacity reads the limits of this process.
func readCapacity() (capacity, error) {
	var nofile, nproc unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil {
		return capacity{}, fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &nproc); err != nil {
		return capacity{}, fmt.Errorf("RLIMIT_NPROC: %w", err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return capacity{}, fmt.Errorf("count open descriptors: %w", err)
	}
	return capacity{nofile: nofile.Cur, nproc: nproc.Cur, openFDs: len(fds), root: os.Getuid() == 0}, nil
}

// checkWorkerCap refuses counts beyond maxWorkers, whatever the machine.
func checkWorkerCap(cfg prefork.Config) error {
	if cfg.Workers > maxWorkers {
		return usageErrorf("--workers %d: at most %d workers per launcher", cfg.Workers, maxWorkers)
	}
	if cfg.ReloadSurge > maxWorkers {
		return usageErrorf("--reload-surge %d: at most %d extra workers during a reload", cfg.ReloadSurge, maxWorkers)
	}
	return nil
}

// check refuses a worker count the limits cannot hold at the peak of a
// reload, when the old generation still serves while --reload-surge new
// workers start (the surge is --workers unless set).
func (cp capacity) check(cfg prefork.Config) error {
	surge := cfg.ReloadSurge
	if surge == 0 {
		surge = cfg.Workers
	}
	peak := cfg.Workers + surge
	flag := fmt.Sprintf("--workers %d", cfg.Workers)
	if cfg.ReloadSurge > 0 {
		flag += fmt.Sprintf(" with --reload-surge %d", cfg.ReloadSurge)
	}
	if need := uint64(peak*fdsPerWorker + cp.openFDs + fdHeadroom); need > cp.nofile {
		return usageErrorf("%s: up to %d workers during a reload need %d file descriptors, but RLIMIT_NOFILE is %d (raise LimitNOFILE= or ulimit -n, or use fewer workers)",
			flag, peak, need, cp.nofile)
	}
	if need := uint64(peak + taskHeadroom); !cp.root && cp.nproc != unix.RLIM_INFINITY && need > cp.nproc {
		return usageErrorf("%s: up to %d workers during a reload need %d processes, but RLIMIT_NPROC is %d (raise LimitNPROC= or ulimit -u, or use fewer workers)",
			flag, peak, need, cp.nproc)
	}
	return nil
}

// checkCapacity refuses, before any socket is bound, a worker count this
// process's limits cannot hold.
func checkCapacity(cfg prefork.Config) error {
	cp, err := readCapacity()
	if err != nil {
		return &exitError{code: exitUnexpected, msg: err.Error()}
	}
	return cp.check(cfg)
}
