package prefork

import (
	"fmt"
	"syscall"
	"time"

	"github.com/sdlaunch/sdlaunch/activation"
)

// ReadyMode says when a worker counts as ready.
type ReadyMode int

const (
	// ReadyAccept: a process of the worker's group is seen waiting for
	// connections on a listening socket (the default: the kernel's word,
	// not the app's).
	ReadyAccept ReadyMode = iota
	// ReadyNotify: the worker sent READY=1 on its NOTIFY_SOCKET, and a
	// process of its group is seen waiting for connections.
	ReadyNotify
	// ReadyAlive: the worker has stayed up for ReadyAfter (a timer; also
	// what accept falls back to where the launcher cannot look).
	ReadyAlive
)

// ParseReadyMode parses "accept", "notify" or "alive".
func ParseReadyMode(s string) (ReadyMode, error) {
	switch s {
	case "accept":
		return ReadyAccept, nil
	case "notify":
		return ReadyNotify, nil
	case "alive":
		return ReadyAlive, nil
	}
	return 0, fmt.Errorf("--ready %q: want accept, notify or alive", s)
}

func (r ReadyMode) String() string {
	return [...]string{"accept", "notify", "alive"}[r]
}

// MaxBacklog bounds --backlog (the kernel caps it at net.core.somaxconn).
const MaxBacklog = 1 << 20

// Config is what an operator sets: the flags of `sdlaunch run`. cmd builds
// it; nothing here reads os.Args or the environment.
type Config struct {
	Command         []string // the app's argv; Command[0] is resolved through PATH by the shim
	Workers         int
	MinReady        int // 0: all workers
	Ready           ReadyMode
	ReadyAfter      time.Duration
	StartTimeout    time.Duration
	BootRetries     int
	StopSignal      syscall.Signal
	GracefulTimeout time.Duration
	BackoffMax      time.Duration
	WorkerWatchdog  time.Duration // 0: off
	ReloadSurge     int           // 0: Workers
	ReloadNice      int           // nice increment of successors until ready (0: off)
	ReloadNiceQuiet bool          // ReloadNice is the default, not the operator's: where it cannot apply, say so at debug priority
	MaxLifetime     time.Duration // 0: never recycle

	// Backlog is the listen(2) backlog the launcher sets its sockets to
	// again whenever a worker may have set its own (0: leave them as they
	// are). See activation.Socket.Relisten.
	Backlog int

	// Dir is each worker's working directory, resolved anew at every start:
	// a deploy that flips a `current` symlink is picked up by the next
	// reload ("" keeps the launcher's own).
	Dir string
}

// Runtime is what the launcher was given by its environment rather than by
// the operator: the sockets, the workers' base environment, systemd's
// notify socket and watchdog. cmd gathers it after Config validated.
type Runtime struct {
	Sockets []*activation.Socket // owned by the master from New on
	Env     []string             // the workers' base environment; launcher-only variables are stripped
	Exe     string               // binary that runs the exec shim; "/proc/self/exe" when empty

	// NotifySocket is where READY/STATUS/RELOADING/STOPPING/WATCHDOG go
	// ("" for none).
	NotifySocket string
	// Watchdog is systemd's WATCHDOG_USEC for the launcher (0: none).
	Watchdog time.Duration
	// Journal sends logs with native journal fields instead of to stderr.
	Journal bool
	// ControlSocket is the abstract unix socket name for reload-wait and
	// status ("" for none).
	ControlSocket string
	// NotifyDir is the directory for the workers' notify sockets; "" makes
	// a private one (a guardian passes its own, which it removes even if
	// the launcher is SIGKILLed).
	NotifyDir string
}

// Validate checks the values that flags alone cannot; errors name the value.
func (c *Config) Validate() error {
	switch {
	case len(c.Command) == 0:
		return fmt.Errorf("no COMMAND given: usage is sdlaunch run [options] -- COMMAND [ARG...]")
	case c.Workers < 1:
		return fmt.Errorf("--workers %d: need at least 1", c.Workers)
	case c.MinReady < 0 || c.MinReady > c.Workers:
		return fmt.Errorf("--min-ready %d: must be between 1 and --workers (%d)", c.MinReady, c.Workers)
	case c.BootRetries < 1:
		return fmt.Errorf("--boot-retries %d: need at least 1", c.BootRetries)
	case c.ReadyAfter < 0:
		return fmt.Errorf("--ready-after %s: must not be negative", c.ReadyAfter)
	case c.StartTimeout <= 0:
		return fmt.Errorf("--start-timeout %s: must be positive", c.StartTimeout)
	case c.GracefulTimeout < 0:
		return fmt.Errorf("--graceful-timeout %s: must not be negative", c.GracefulTimeout)
	case c.BackoffMax < initialBackoff:
		return fmt.Errorf("--backoff-max %s: must be at least %s", c.BackoffMax, initialBackoff)
	case c.WorkerWatchdog < 0 || (c.WorkerWatchdog > 0 && c.WorkerWatchdog < 100*time.Millisecond):
		return fmt.Errorf("--worker-watchdog %s: must be 0 (off) or at least 100ms", c.WorkerWatchdog)
	case c.ReloadSurge < 0:
		return fmt.Errorf("--reload-surge %d: must not be negative", c.ReloadSurge)
	case c.ReloadNice < 0 || c.ReloadNice > 19:
		return fmt.Errorf("--reload-nice %d: must be between 0 (off) and 19", c.ReloadNice)
	case c.MaxLifetime < 0:
		return fmt.Errorf("--max-lifetime %s: must not be negative", c.MaxLifetime)
	case c.Backlog < 0 || c.Backlog > MaxBacklog:
		return fmt.Errorf("--backlog %d: must be between 1 and %d", c.Backlog, MaxBacklog)
	}
	return nil
}

func (r *Runtime) validate() error {
	if len(r.Sockets) == 0 {
		return fmt.Errorf("no socket: systemd passed none (LISTEN_FDS) and no --listen address was given")
	}
	return nil
}

func (c *Config) minReady(workers int) int {
	if c.MinReady == 0 || c.MinReady > workers {
		return workers
	}
	return c.MinReady
}

func (c *Config) surge(workers int) int {
	if c.ReloadSurge == 0 {
		return workers
	}
	return c.ReloadSurge
}
