package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// setup is one way of running the app: started once, then measured in
// every loop with each of its operations.
type setup struct {
	name string
	url  string
	ops  []namedOp
	stop func()
	// journal, when set, returns the journal of [from, to] as JSON lines,
	// for the reload timeline.
	journal func(ctx context.Context, from, to time.Time) ([]byte, error)
}

type namedOp struct {
	name string
	fn   func(context.Context) error
}

// waitRolled waits until the process master has n children, none of them
// in old: gunicorn's own HUP has then replaced every worker (it does not
// say when it is done).
func waitRolled(ctx context.Context, master int, old []int, n int) error {
	for {
		kids := children(master)
		fresh := len(kids) == n
		for _, k := range kids {
			if slices.Contains(old, k) {
				fresh = false
			}
		}
		if fresh {
			return nil
		}
		if syscall.Kill(master, 0) != nil {
			return fmt.Errorf("gunicorn master %d is gone", master)
		}
		if sleepUntil(ctx, time.Now().Add(10*time.Millisecond)) != nil {
			return fmt.Errorf("gunicorn %d did not replace its workers %v (now %v): %w", master, old, kids, ctx.Err())
		}
	}
}

// hostPID maps a pid seen inside the pid namespace of the host's process
// init (a container's PID 1) to the host's, by the NSpid line of
// /proc/PID/status.
func hostPID(init, nsPID int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("host pid: %w", err)
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
	if err != nil {
		return 0, fmt.Errorf("host pid: %w", err)
	}
	want := strconv.Itoa(nsPID)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err != nil || l != ns {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(v)
				if len(f) >= 2 && f[len(f)-1] == want {
					return pid, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("host pid: no process is pid %d in a child namespace", nsPID)
}
