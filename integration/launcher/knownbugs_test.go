package launcher

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The last words of a worker that cannot boot reach the launcher's stderr
// even when the reader of that stderr is slow (a busy journald, a slow
// terminal): the launcher does not exit while a forwarder still holds lines
// the worker wrote before it exited.
//
// The worker prints 200 lines of 1 KB (a long traceback) and exits 3; with
// --boot-retries 1 and --ready notify (never ready) the launcher then gives
// up with 69. The test reads the launcher's stderr, through a pipe of one
// page, at about 25 lines a second, so when the worker exits some 110 KiB of its lines are still in
// its pipe and in the forwarder. Once the launcher's own "workers could not
// boot" line has come, the test stops reading altogether, until the
// launcher has exited or for 5 seconds: a launcher that waits for its
// forwarders cannot exit meanwhile and delivers every line afterwards; one
// that waits at most tailWait (300ms) for a forwarder, as prefork does
// today, exits and the lines still in the forwarder are lost.
func TestBootFailureLastWordsReachSlowStderr(t *testing.T) {
	const lines = 200
	script := fmt.Sprintf(`x=$(printf '%%1000s' '' | tr ' ' x)
i=0
while [ $i -lt %d ]; do printf 'LASTWORDS %%d %%s END\n' $i "$x"; i=$((i+1)); done
exit 3`, lines)
	resume := make(chan struct{})
	l := start(t, spec{
		Args:    []string{"-w", "1", "--ready", "notify", "--boot-retries", "1"},
		Command: []string{"/bin/sh", "-c", script},
		// One page: what the launcher wrote is read, not parked in the pipe.
		StderrPipeSize: 4096,
		Tap: func(line string) bool {
			switch {
			case strings.Contains(line, "LASTWORDS "):
				time.Sleep(40 * time.Millisecond) // a slow consumer
			case strings.HasPrefix(line, "sdlaunch: workers could not boot"):
				select { // and then a stalled one
				case <-resume:
				case <-time.After(5 * time.Second):
				}
			}
			return true
		},
	})
	code := l.waitExit(2 * time.Minute)
	close(resume)
	if code != 69 {
		t.Errorf("exit status %d, want 69", code)
	}
	l.waitOutput(2 * time.Minute)
	got := 0
	for _, ln := range l.stderr.snapshot() {
		if strings.HasPrefix(ln, "[w0] LASTWORDS ") && strings.HasSuffix(ln, " END") {
			got++
		}
	}
	if got != lines {
		t.Errorf("%d of the worker's %d lines reached stderr: the launcher exited before forwarding the rest", got, lines)
	}
}

// Every worker dies with a SIGKILLed launcher (Pdeathsig), however busy the
// machine: none is left holding the listening socket.
//
// prefork forks each worker with Pdeathsig=SIGKILL, on its locked thread.
// The child is the exec shim (sdlaunch itself), a Go program, which then
// execve()s the app from its main goroutine, and that goroutine is not
// locked to the main thread: after a syscall it may run on another thread.
// The parent-death signal belongs to the thread that called prctl (the
// child's first thread); an execve from another thread makes that thread the
// process's only one, without the signal. Such a worker survives a SIGKILL
// of the launcher (re-parented to PID 1, still serving on the socket).
// Under strace -f, 8 of 100 shim runs exec'd from another thread on this
// 2-core machine at load 26; how often it happens without strace depends on
// the load, so this test starts many workers, 4 times over, and can pass by
// luck on an idle machine.
func TestLauncherSIGKILLKillsEveryWorker(t *testing.T) {
	const workers, rounds = 64, 4
	for r := 1; r <= rounds; r++ {
		l := start(t, spec{
			Args:    []string{"-w", strconv.Itoa(workers), "--ready-after", "100ms"},
			Command: []string{"/bin/sleep", "1000"},
		})
		pids := l.waitWorkers(workers, 2*time.Minute)
		waitUntil(t, time.Minute, "every worker runs sleep", func() bool {
			for _, p := range pids {
				if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); !strings.HasPrefix(string(cmd), "/bin/sleep\x00") {
					return false
				}
			}
			return true
		})
		l.signal(syscall.SIGKILL)
		l.waitExit(time.Minute)
		var survivors []int
		pollUntil(30*time.Second, func() bool { // killed at once, or never
			survivors = survivors[:0]
			for _, p := range pids {
				if st, err := readStat(p); err == nil && st.state != 'Z' {
					survivors = append(survivors, p)
				}
			}
			return len(survivors) == 0
		})
		for _, p := range survivors {
			st, _ := readStat(p)
			t.Errorf("round %d: worker %d survived the launcher's SIGKILL (ppid %d, state %c)", r, p, st.ppid, st.state)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}
