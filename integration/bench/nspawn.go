package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// container is a systemd 252 booted as PID 1 of a systemd-nspawn container
// that shares the host's /usr and network (../shared/SYSTEMD-IN-A-CONTAINER.md).
type container struct {
	name   string
	nspawn *proc
	pid1   int
}

// bootContainer boots a volatile container named name with bind mounted at
// the same path inside, and waits for its systemd to finish booting.
func bootContainer(ctx context.Context, name, bind, logDir string) (*container, error) {
	// nspawn refuses to clean up under a /run that is not tmpfs: give it one
	// in a private mount namespace. No machined or dbus on the host, hence
	// --register=no --keep-unit. unshare execs sh execs nspawn: one pid.
	script := `mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && exec systemd-nspawn --directory=/ --volatile=yes --register=no --keep-unit -M "$1" --boot --console=pipe --bind="$2" --system-call-filter=pidfd_getfd`
	p, err := startProc("systemd-nspawn", "/", filepath.Join(logDir, "console.log"), os.Environ(), true,
		"unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", name, bind)
	if err != nil {
		return nil, err
	}
	c := &container{name: name, nspawn: p}
	if err := c.waitBooted(ctx); err != nil {
		c.powerOff()
		return nil, fmt.Errorf("container %s: %w (console: %s)", name, err, filepath.Join(logDir, "console.log"))
	}
	return c, nil
}

func (c *container) waitBooted(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for c.pid1 == 0 {
		for _, pid := range children(c.nspawn.pid()) {
			if comm(pid) == "systemd" {
				c.pid1 = pid
			}
		}
		if c.nspawn.exited() {
			return fmt.Errorf("systemd-nspawn exited: %v", c.nspawn.err)
		}
		if c.pid1 == 0 && sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) != nil {
			return errors.New("no systemd in the container within 60s")
		}
	}
	// is-system-running --wait answers once boot is over; "degraded" is
	// normal here (systemd-firstboot fails in an empty /etc).
	for {
		out, _ := c.exec(ctx, "systemctl", "is-system-running", "--wait")
		switch state := strings.TrimSpace(out); state {
		case "running", "degraded":
			return nil
		}
		if sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) != nil {
			return fmt.Errorf("systemd did not finish booting within 60s (state %q)", strings.TrimSpace(out))
		}
	}
}

// exec runs a command in all the container's namespaces and returns its
// combined output.
func (c *container) exec(ctx context.Context, argv ...string) (string, error) {
	args := append([]string{"-t", strconv.Itoa(c.pid1), "-a"}, argv...)
	out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in container: %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// powerOff shuts the container down and waits for nspawn to exit, killing
// it (and so the container) if it does not within 30s.
func (c *container) powerOff() {
	if c.pid1 != 0 && !c.nspawn.exited() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _ = c.exec(ctx, "systemctl", "poweroff")
		cancel()
	}
	select {
	case <-c.nspawn.done:
		return
	case <-time.After(30 * time.Second):
	}
	_ = c.nspawn.stop(syscall.SIGKILL, 5*time.Second)
	if c.pid1 != 0 {
		_ = syscall.Kill(c.pid1, syscall.SIGKILL) // the pid namespace dies with its init
	}
}
