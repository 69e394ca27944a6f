package main

import (
	"fmt"
	"os"
	"strings"
)

// autogroupKnob is the kernel's autogroup scheduler switch.
//
// With it on, and a process in the root cpu cgroup (a cgroup-v1 host whose
// cpu controller has no children, as here), CFS shares the CPUs between
// sessions before it shares them between threads. systemd starts every
// service in a session of its own, so a service under systemd gets one
// share against the bench's load generator, whatever it runs, while the
// baseline, supervisord and sdlaunch standalone are children of the bench
// and share its session. Measured on 2 CPUs at half of capacity (open
// loop): with the switch on, the reloads of both the hand-written gunicorn
// unit and sdlaunch under systemd lost thousands of requests to timeouts,
// and none with it off. So the bench turns it off for its run: clients of
// a real service run elsewhere and take no share of its CPUs.
const autogroupKnob = "/proc/sys/kernel/sched_autogroup_enabled"

// autogroup is what the bench did to the knob.
type autogroup struct {
	was     string // the knob's value before the run ("": no such knob)
	changed bool   // the bench turned it off and puts it back at the end
}

// neutralizeAutogroup turns the autogroup scheduler off unless keep is
// set, and says what it did.
func neutralizeAutogroup(keep bool) (autogroup, error) {
	b, err := os.ReadFile(autogroupKnob)
	if os.IsNotExist(err) {
		return autogroup{}, nil // a kernel without CONFIG_SCHED_AUTOGROUP
	}
	if err != nil {
		return autogroup{}, fmt.Errorf("autogroup: %w", err)
	}
	a := autogroup{was: strings.TrimSpace(string(b))}
	if keep || a.was == "0" {
		return a, nil
	}
	if err := os.WriteFile(autogroupKnob, []byte("0\n"), 0o644); err != nil {
		return a, fmt.Errorf("autogroup: turning %s off: %w", autogroupKnob, err)
	}
	a.changed = true
	return a, nil
}

// restore puts the knob back as the bench found it.
func (a autogroup) restore() error {
	if !a.changed {
		return nil
	}
	if err := os.WriteFile(autogroupKnob, []byte(a.was+"\n"), 0o644); err != nil {
		return fmt.Errorf("autogroup: putting %s back to %s: %w", autogroupKnob, a.was, err)
	}
	return nil
}

// off says whether the run had no autogroup scheduling.
func (a autogroup) off() bool { return a.changed || a.was != "1" }

// note is the results' sentence about the knob.
func (a autogroup) note() string {
	switch {
	case a.changed:
		return "the kernel's autogroup scheduler was off for the run (it was on: every systemd service would then get one CPU share against the load generator, the other setups none; `-autogroup` keeps it)"
	case !a.off():
		return "**the kernel's autogroup scheduler was on**: every systemd service got one CPU share against the load generator, the other setups none"
	default:
		return "no autogroup scheduling"
	}
}
