package units

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// ErrNoSystemd means there is no systemd manager to talk to.
var ErrNoSystemd = errors.New("systemd is not running here (no service manager on D-Bus); use `sdlaunch generate` to write the unit files instead")

// Manager is a D-Bus connection to the system or the calling user's
// service manager, plus the directory its units are installed in.
type Manager struct {
	conn    *sddbus.Conn
	user    bool
	unitDir string
}

// Connect talks to the system manager (user=false; directly over
// /run/systemd/private as root, else over the system bus) or to the calling
// user's manager (user=true, $XDG_RUNTIME_DIR/systemd/private or the
// session bus).
func Connect(ctx context.Context, user bool) (*Manager, error) {
	m := &Manager{user: user}
	var err error
	if user {
		m.unitDir, err = UserUnitDir()
		if err != nil {
			return nil, err
		}
		m.conn, err = connectUser(ctx)
	} else {
		m.unitDir = SystemUnitDir
		m.conn, err = connectSystem(ctx)
	}
	if err != nil {
		return nil, err
	}
	// Job results (JobRemoved) are only sent to subscribed clients on a
	// bus; direct connections get them anyway.
	if err := m.conn.Subscribe(); err != nil {
		m.conn.Close()
		return nil, fmt.Errorf("subscribe to systemd signals: %w", err)
	}
	return m, nil
}

func connectSystem(ctx context.Context) (*sddbus.Conn, error) {
	// /run/systemd/system exists exactly when systemd is PID 1 (sd_booted).
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return nil, ErrNoSystemd
	}
	if os.Geteuid() == 0 {
		if c, err := sddbus.NewSystemdConnectionContext(ctx); err == nil {
			return c, nil
		}
	}
	c, err := sddbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd over the system bus: %w", err)
	}
	return c, nil
}

func connectUser(ctx context.Context) (*sddbus.Conn, error) {
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if rt == "" {
		rt = filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	}
	private := filepath.Join(rt, "systemd", "private")
	if _, err := os.Stat(private); err == nil {
		c, err := sddbus.NewConnection(func() (*dbus.Conn, error) {
			conn, err := dbus.Dial("unix:path="+private, dbus.WithContext(ctx))
			if err != nil {
				return nil, err
			}
			if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		})
		if err == nil {
			return c, nil
		}
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		if _, err := os.Stat(filepath.Join(rt, "bus")); err != nil {
			return nil, fmt.Errorf("no user service manager (%s missing): %w", private, ErrNoSystemd)
		}
	}
	c, err := sddbus.NewUserConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to the user's systemd over the session bus: %w", err)
	}
	return c, nil
}

// Close closes the connection.
func (m *Manager) Close() { m.conn.Close() }

// UnitDir is where this manager's units are installed.
func (m *Manager) UnitDir() string { return m.unitDir }

// User reports whether this is the user manager.
func (m *Manager) User() bool { return m.user }

// Version returns the manager's major version (property Version of
// org.freedesktop.systemd1.Manager).
func (m *Manager) Version(ctx context.Context) (int, error) {
	v, err := m.conn.GetManagerProperty("Version")
	if err != nil {
		return 0, fmt.Errorf("read systemd version: %w", err)
	}
	return ParseSystemdVersion(v)
}

// JobError is a systemd job that did not end in "done".
type JobError struct {
	Unit, Op, Result string
}

func (e *JobError) Error() string {
	return fmt.Sprintf("%s %s: job %s", e.Op, e.Unit, e.Result)
}

type jobFunc func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

// runJob enqueues a job and waits for its result.
func (m *Manager) runJob(ctx context.Context, op string, f jobFunc, unit string) error {
	ch := make(chan string, 1)
	if _, err := f(ctx, unit, "replace", ch); err != nil {
		return fmt.Errorf("%s %s: %w", op, unit, err)
	}
	select {
	case r := <-ch:
		if r != "done" {
			return &JobError{Unit: unit, Op: op, Result: r}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: waiting for the job: %w", op, unit, ctx.Err())
	}
}

func (m *Manager) start(ctx context.Context, unit string) error {
	return m.runJob(ctx, "start", m.conn.StartUnitContext, unit)
}

func (m *Manager) stop(ctx context.Context, unit string) error {
	return m.runJob(ctx, "stop", m.conn.StopUnitContext, unit)
}

func (m *Manager) restart(ctx context.Context, unit string) error {
	return m.runJob(ctx, "restart", m.conn.RestartUnitContext, unit)
}

func (m *Manager) reload(ctx context.Context, unit string) error {
	return m.runJob(ctx, "reload", m.conn.ReloadUnitContext, unit)
}

// daemonReload makes systemd re-read unit files.
func (m *Manager) daemonReload(ctx context.Context) error {
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("reload systemd: %w", err)
	}
	return nil
}

// unitState is the part of a unit's properties we act on.
type unitState struct {
	Load, Active, Sub string
}

func (m *Manager) state(ctx context.Context, unit string) (unitState, error) {
	p, err := m.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return unitState{}, fmt.Errorf("properties of %s: %w", unit, err)
	}
	s := func(k string) string { v, _ := p[k].(string); return v }
	return unitState{Load: s("LoadState"), Active: s("ActiveState"), Sub: s("SubState")}, nil
}
