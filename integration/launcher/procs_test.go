package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// markerVar is set, with a value unique to the test, in the environment of
// every launcher a test starts; the workers inherit it. Scanning
// /proc/*/environ for it finds every process a test left behind.
const markerVar = "SDLAUNCH_TEST_ID"

type markerProc struct {
	pid     int
	cmdline string
}

// markerProcs lists the live (non-zombie) processes whose environment holds
// the marker id.
func markerProcs(id string) []markerProc {
	want := []byte(markerVar + "=" + id + "\x00")
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []markerProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		if !bytes.HasPrefix(env, want) && !bytes.Contains(env, append([]byte{0}, want...)) {
			continue
		}
		if st, err := readStat(pid); err == nil && st.state == 'Z' {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, markerProc{pid: pid, cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))})
	}
	return out
}

// assertNoLeftovers waits up to timeout for every process with the marker to
// be gone; survivors fail the test and are SIGKILLed.
func assertNoLeftovers(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		procs := markerProcs(id)
		if len(procs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, p := range procs {
				st, _ := readStat(p.pid)
				fmt.Fprintf(&b, "  pid %d (ppid %d, pgid %d, state %c): %s\n", p.pid, st.ppid, st.pgid, st.state, p.cmdline)
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
			t.Errorf("%d process(es) outlived the launcher (killed now):\n%s", len(procs), b.String())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type procStat struct {
	state      byte
	ppid, pgid int
	startTicks int64 // field 22, starttime, in clock ticks since boot
}

// readStat parses /proc/PID/stat (the command name may hold spaces and parens).
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("read stat: %w", err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, errors.New("malformed stat")
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("starttime: %w", err)
	}
	return procStat{state: f[0][0], ppid: ppid, pgid: pgid, startTicks: ticks}, nil
}

// procAge is how long ago pid started (10ms resolution).
func procAge(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("read uptime: %w", err)
	}
	secs, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	if err != nil {
		return 0, fmt.Errorf("uptime: %w", err)
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(secs*float64(time.Second)) - time.Duration(st.startTicks)*time.Second/clkTck, nil
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z'
}

// zombieChildren counts pid's zombie children.
func zombieChildren(pid int) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(p); err == nil && st.ppid == pid && st.state == 'Z' {
			n++
		}
	}
	return n
}

// openFDs lists /proc/PID/fd with link targets.
func openFDs(pid int) (map[int]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list fds: %w", err)
	}
	out := map[int]string{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out[fd] = target
	}
	return out, nil
}

// sigIgnored returns the SigIgn mask of /proc/PID/status.
func sigIgnored(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(ln, "SigIgn:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no SigIgn in status")
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// freeze stops pid with SIGSTOP and waits until every one of its threads
// is stopped: kill(2) returns before they are, and a thread still running
// could accept one more connection.
func freeze(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %d: %v", pid, err)
	}
	waitUntil(t, time.Minute, fmt.Sprintf("every thread of %d stopped", pid), func() bool {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil || len(tasks) == 0 {
			return false
		}
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			i := bytes.LastIndexByte(b, ')')
			if err != nil || i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				return false
			}
		}
		return true
	})
}
