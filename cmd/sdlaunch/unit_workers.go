package main

import (
	"context"

	"github.com/sdlaunch/sdlaunch/prefork"
	"github.com/sdlaunch/sdlaunch/units"
)

// launcherWorkers asks the launcher (its control socket) for its workers and
// falls back to the service's cgroup when it does not answer (not running
// yet, or behind PrivateNetwork=, which hides its abstract socket).
type launcherWorkers struct{}

func (launcherWorkers) Workers(ctx context.Context, svc *units.ServiceStatus) ([]units.Process, error) {
	cg, cgErr := units.CgroupWorkers{}.Workers(ctx, svc)
	if svc.MainPID <= 0 {
		return cg, cgErr
	}
	st, err := prefork.Status(svc.MainPID)
	if err != nil {
		return cg, cgErr
	}
	cmdline := map[int]string{}
	for _, p := range cg {
		cmdline[p.PID] = p.Command
	}
	out := []units.Process{{PID: svc.MainPID, Worker: -1, Generation: -1, Role: "launcher", State: st.Status, Command: cmdline[svc.MainPID]}}
	for _, w := range st.Workers {
		out = append(out, units.Process{PID: w.PID, Worker: w.Slot, Generation: w.Generation, Role: "worker", State: w.State, Command: cmdline[w.PID]})
	}
	return out, nil
}
