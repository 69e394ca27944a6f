package units

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ErrNotInstalled means NAME.service is not known to the manager.
var ErrNotInstalled = errors.New("not installed")

// installedUnits returns the app's socket units and service, from the
// installed service file, or ErrNotInstalled.
func (m *Manager) installedUnits(ctx context.Context, name string) (sockets []string, service string, err error) {
	if err := ValidateName(name); err != nil {
		return nil, "", err
	}
	service = name + ".service"
	sockets, err = installedSockets(m.unitDir, name)
	if err != nil {
		return nil, "", err
	}
	if sockets == nil {
		st, err := m.state(ctx, service)
		if err != nil {
			return nil, "", err
		}
		if st.Load != "loaded" {
			return nil, "", fmt.Errorf("%s: %w (no %s)", name, ErrNotInstalled, filepath.Join(m.unitDir, service))
		}
	}
	return sockets, service, nil
}

// Installed returns nil when the app is installed, else an error wrapping
// ErrNotInstalled (the test `sdlaunch status` applies).
func (m *Manager) Installed(ctx context.Context, name string) error {
	_, _, err := m.installedUnits(ctx, name)
	return err
}

// Uninstall stops and disables the app's units, removes their files and
// reloads systemd.
func (m *Manager) Uninstall(ctx context.Context, name string, log io.Writer) error {
	sockets, service, err := m.installedUnits(ctx, name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(m.unitDir, service)); err != nil {
		return fmt.Errorf("%s: %w by sdlaunch (no %s)", name, ErrNotInstalled, filepath.Join(m.unitDir, service))
	}
	// The service first, so it drains while the sockets still queue
	// connections; then the sockets.
	for _, u := range append([]string{service}, sockets...) {
		if err := m.removeUnit(ctx, u); err != nil {
			return err
		}
		fmt.Fprintf(log, "stopped, disabled and removed %s\n", u)
	}
	if err := m.daemonReload(ctx); err != nil {
		return err
	}
	return nil
}

// Restart restarts the service (the sockets stay open, so clients queue
// instead of being refused) and waits for it to be ready again. It is also
// how an operator brings back an app that stays down after an exit 2 or 69
// (afterexit.go): sockets that are not listening are started first, and a
// failed service's failure (and start-limit counter) is reset.
func (m *Manager) Restart(ctx context.Context, name string) error {
	sockets, service, err := m.installedUnits(ctx, name)
	if err != nil {
		return err
	}
	since := time.Now()
	if err := m.startSockets(ctx, sockets, since); err != nil {
		return err
	}
	if st, err := m.state(ctx, service); err == nil && st.Active == "failed" {
		_ = m.conn.ResetFailedUnitContext(ctx, service)
	}
	return m.waitActive(ctx, "restart", m.restart, service, since)
}

// startSockets starts the socket units that are not active (a no-op for
// those that are).
func (m *Manager) startSockets(ctx context.Context, sockets []string, since time.Time) error {
	for _, s := range sockets {
		st, err := m.state(ctx, s)
		if err != nil {
			return err
		}
		if st.Active == "active" {
			continue
		}
		if st.Active == "failed" {
			_ = m.conn.ResetFailedUnitContext(ctx, s)
		}
		if err := m.start(ctx, s); err != nil {
			return &StartError{Unit: s, Op: "start", Err: err, Journal: JournalTail(ctx, s, m.user, since, 20)}
		}
	}
	return nil
}

// Reload asks the service to roll a new generation of workers and waits for
// the verdict (ExecReload=sdlaunch reload-wait on 252, Type=notify-reload on
// later systemd).
func (m *Manager) Reload(ctx context.Context, name string) error {
	_, service, err := m.installedUnits(ctx, name)
	if err != nil {
		return err
	}
	since := time.Now()
	st, err := m.state(ctx, service)
	if err != nil {
		return err
	}
	if st.Active != "active" {
		return &StartError{Unit: service, Op: "reload", Err: fmt.Errorf("unit is %s (%s), not active", st.Active, st.Sub),
			Journal: JournalTail(ctx, service, m.user, since.Add(-time.Minute), 20)}
	}
	err = m.waitActive(ctx, "reload", m.reload, service, since)
	var se *StartError
	if errors.As(err, &se) {
		// The launcher's STATUS= says why it rolled back; a chatty app can
		// push that line out of the journal tail.
		if p, perr := m.conn.GetUnitTypePropertiesContext(ctx, service, "Service"); perr == nil {
			if text, _ := p["StatusText"].(string); text != "" {
				se.Err = fmt.Errorf("%w; launcher status: %s", se.Err, text)
			}
		}
	}
	return err
}
