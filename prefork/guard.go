package prefork

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A standalone launcher (no systemd, whose cgroup would clean up after it)
// can be SIGKILLed. Its workers die with it (Pdeathsig), but Pdeathsig
// reaches only direct children: a worker's daemonised grandchild (setsid
// and a double fork) was re-parented to the launcher, and at the
// launcher's death it goes on to init, holding the port. Nothing a process
// does to its session takes it out of the care of a subreaper ancestor,
// so the process the operator started stays one: Guard runs the real
// launcher as its child and only waits, forwards signals, and, once the
// launcher is gone however it went, kills whatever was left to it. If the
// guardian itself is SIGKILLed, the launcher gets SIGQUIT (its Pdeathsig)
// and stops at once, taking its descendants with it.

// Environment the guardian passes to the launcher it runs; launcher-only
// (see activation.StripLauncherEnv), never seen by workers.
const (
	EnvGuarded    = "SDLAUNCH_GUARDED"     // "1": the launcher runs under a guardian
	EnvNotifyDir  = "SDLAUNCH_NOTIFY_DIR"  // the workers' notify sockets' directory, which the guardian removes
	EnvControlPID = "SDLAUNCH_CONTROL_PID" // the pid that names the control socket: the guardian's, the one the operator knows
)

// forwarded are the signals the guardian passes on to the launcher.
var forwarded = [...]os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, unix.SIGHUP,
	unix.SIGTTIN, unix.SIGTTOU, unix.SIGUSR1, unix.SIGUSR2}

// Guard runs argv (the launcher, from exe) under the calling process as its
// guardian and returns the exit status to exit with: the launcher's, or
// 128+N when a signal N ended it.
func Guard(exe string, argv, env []string, stderr *os.File) int {
	// Pdeathsig is tied to the thread that forked.
	runtime.LockOSThread()
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "sdlaunch: "+format+"\n", a...)
		return 1
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	dir, err := makeNotifyDir()
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append(forwarded[:], unix.SIGCHLD)...)
	defer signal.Stop(sigs)
	env = append(env[:len(env):len(env)], EnvGuarded+"=1", EnvNotifyDir+"="+dir,
		EnvControlPID+"="+strconv.Itoa(os.Getpid()))
	pid, err := syscall.ForkExec(exe, argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{
			// Its own session: no controlling terminal, so a Ctrl-C reaches
			// the guardian alone (which forwards it once) and job control
			// (SIGTTOU, which the launcher reads as scale-down) never
			// applies to it.
			Setsid:    true,
			Pdeathsig: unix.SIGQUIT,
		},
	})
	if err != nil {
		return fail("start the launcher: %v", err)
	}
	var status unix.WaitStatus
	for running := true; running; {
		sig := <-sigs
		if sig != unix.SIGCHLD {
			_ = unix.Kill(pid, sig.(syscall.Signal))
			continue
		}
		for {
			var ws unix.WaitStatus
			p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if p <= 0 || err != nil {
				break
			}
			if p == pid {
				status, running = ws, false
			}
		}
	}
	sweepOrphans(stderr)
	switch {
	case status.Exited():
		return status.ExitStatus()
	case status.Signaled():
		return 128 + int(status.Signal())
	}
	return 1
}

// sweepOrphans kills and reaps whatever the launcher left to the guardian.
func sweepOrphans(stderr *os.File) {
	deadline := time.Now().Add(sweepWait)
	for {
		kids := children()
		if len(kids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stderr, "sdlaunch: processes still running after the launcher exited: %v\n", kids)
			return
		}
		for _, k := range kids {
			_ = unix.Kill(-k, unix.SIGKILL)
			_ = unix.Kill(k, unix.SIGKILL)
		}
		for {
			var ws unix.WaitStatus
			p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if p <= 0 || err != nil {
				break
			}
			fmt.Fprintf(stderr, "sdlaunch: killed process %d, left behind by a launcher that did not stop\n", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
