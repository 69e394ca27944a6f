package activation

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ShimArg is argv[1] of the re-exec shim: `sdlaunch __sdlaunch_exec_shim COMMAND ARG...`.
const ShimArg = "__sdlaunch_exec_shim"

// ShimArgv is the argv that runs command through the shim of binary exe.
func ShimArgv(exe string, command []string) []string {
	return append([]string{exe, ShimArg}, command...)
}

// ExecShim runs in the freshly forked child: it sets LISTEN_PID (and
// WATCHDOG_PID when a watchdog is given) to its own pid, restores default
// dispositions for the signals the launcher uses to stop workers, and
// replaces itself with command. It returns only on failure.
func ExecShim(command []string) error {
	if len(command) == 0 {
		return errors.New("exec shim: no command")
	}
	pid := strconv.Itoa(os.Getpid())
	env := os.Environ()
	out := env[:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, "LISTEN_PID=") || strings.HasPrefix(kv, "WATCHDOG_PID=") {
			continue
		}
		out = append(out, kv)
	}
	env = append(out, "LISTEN_PID="+pid)
	if os.Getenv("WATCHDOG_USEC") != "" {
		env = append(env, "WATCHDOG_PID="+pid)
	}
	path, err := exec.LookPath(command[0])
	if err != nil {
		return fmt.Errorf("exec %s: %w", command[0], err)
	}
	// A launcher started with SIGINT ignored (a background job of a
	// non-interactive shell) would pass that on through execve, and the
	// Flask dev server would then ignore its stop signal.
	for _, sig := range []syscall.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGQUIT, unix.SIGABRT} {
		setDefault(sig)
	}
	if err := unix.Exec(path, command, env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

// setDefault sets sig's disposition to SIG_DFL with rt_sigaction.
func setDefault(sig syscall.Signal) {
	var act struct {
		handler  uintptr
		flags    uint64
		restorer uintptr
		mask     uint64
	}
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
}
