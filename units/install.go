package units

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
)

// StartError is a unit that did not become active; Journal holds the last
// lines of its journal.
type StartError struct {
	Unit    string
	Op      string
	Err     error
	Journal string
}

func (e *StartError) Error() string {
	return fmt.Sprintf("%s %s failed: %v", e.Op, e.Unit, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// installedSockets reads Sockets= of an installed NAME.service, or nil.
func installedSockets(dir, name string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name+".service"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read installed unit: %w", err)
	}
	return socketsOf(b)
}

func socketsOf(service []byte) ([]string, error) {
	opts, err := unit.DeserializeOptions(bytes.NewReader(service))
	if err != nil {
		return nil, fmt.Errorf("parse installed service unit: %w", err)
	}
	var out []string
	for _, o := range opts {
		if o.Section == "Service" && o.Name == "Sockets" {
			out = append(out, strings.Fields(o.Value)...)
		}
	}
	return out, nil
}

// Plan describes what Install would do, for --dry-run.
func Plan(dir string, files []File, name string) (string, error) {
	var b strings.Builder
	stale, err := staleSockets(dir, name, files)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		old, err := os.ReadFile(p)
		state := "create"
		switch {
		case err == nil && bytes.Equal(old, f.Content):
			state = "keep (unchanged)"
		case err == nil:
			state = "update"
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("read %s: %w", p, err)
		}
		fmt.Fprintf(&b, "%s %s\n", state, p)
	}
	for _, s := range stale {
		fmt.Fprintf(&b, "stop, disable and remove %s (no longer listed)\n", filepath.Join(dir, s))
	}
	names := unitNames(files)
	fmt.Fprintf(&b, "reload systemd\nenable %s\n", strings.Join(names, " "))
	fmt.Fprintf(&b, "start (or restart if changed) %s and wait until %s is ready\n", strings.Join(names[:len(names)-1], " "), names[len(names)-1])
	for _, f := range files {
		fmt.Fprintf(&b, "\n### %s\n%s", filepath.Join(dir, f.Name), f.Content)
	}
	return b.String(), nil
}

func unitNames(files []File) []string {
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	return names
}

func staleSockets(dir, name string, files []File) ([]string, error) {
	old, err := installedSockets(dir, name)
	if err != nil {
		return nil, err
	}
	names := unitNames(files)
	var stale []string
	for _, s := range old {
		if !slices.Contains(names, s) {
			stale = append(stale, s)
		}
	}
	return stale, nil
}

// Install writes the app's units (files, socket units first, the service
// last, as Render returns them), reloads systemd, enables them, starts the
// sockets and the service and waits for the service to be ready. Units that
// changed are restarted. log gets one line per step.
//
// An install that fails undoes itself (rollback.go): a first install leaves
// nothing enabled or listening; a re-install puts the previous units back
// and restarts the previous service. The error is an *InstallError saying
// which.
func (m *Manager) Install(ctx context.Context, name string, files []File, log io.Writer) error {
	if len(files) < 2 || files[len(files)-1].Name != name+".service" {
		return fmt.Errorf("install %s: want socket units followed by %s.service", name, name)
	}
	stale, err := staleSockets(m.unitDir, name, files)
	if err != nil {
		return err
	}
	before, err := m.snapshot(ctx, name, append(unitNames(files), stale...))
	if err != nil {
		return err
	}
	err = m.apply(ctx, name, files, stale, log)
	if err == nil {
		return nil
	}
	return m.undo(ctx, name, before, files, err, log)
}

// apply is Install without the undo.
func (m *Manager) apply(ctx context.Context, name string, files []File, stale []string, log io.Writer) error {
	res, err := WriteFiles(m.unitDir, files)
	if err != nil {
		return err
	}
	for _, f := range res.Changed {
		fmt.Fprintf(log, "wrote %s\n", filepath.Join(m.unitDir, f))
	}
	for _, s := range stale {
		if err := m.removeUnit(ctx, s); err != nil {
			return err
		}
		fmt.Fprintf(log, "removed %s\n", s)
	}
	if err := m.daemonReload(ctx); err != nil {
		return err
	}
	names := unitNames(files)
	if _, _, err := m.conn.EnableUnitFilesContext(ctx, names, false, true); err != nil {
		return fmt.Errorf("enable %s: %w", strings.Join(names, " "), err)
	}
	fmt.Fprintf(log, "enabled %s\n", strings.Join(names, " "))

	since := time.Now()
	service := names[len(names)-1]
	// Which sockets listened before this install started anything: only
	// those need a restart for new addresses. A new socket can be active by
	// the time the loop below reaches it (started with another socket of the
	// service), and restarting it then races a connection on the others
	// that activates the service: "Socket service NAME.service already
	// active, refusing" (seen once in CI under load).
	listened := map[string]bool{}
	for _, s := range names[:len(names)-1] {
		if st, err := m.state(ctx, s); err == nil {
			listened[s] = st.Active == "active" || st.Active == "activating"
		}
	}
	// systemd refuses to start a socket unit while its service runs
	// ("Socket service NAME.service already active, refusing"): a socket
	// that does not listen yet (a new LABEL=ADDR) needs the service stopped
	// first. The other sockets keep queueing connections meanwhile.
	if svc, err := m.state(ctx, service); err == nil && (svc.Active == "active" || svc.Active == "reloading" || svc.Active == "activating") {
		for _, s := range names[:len(names)-1] {
			if st, err := m.state(ctx, s); err == nil && st.Active != "active" {
				if err := m.stop(ctx, service); err != nil {
					return err
				}
				fmt.Fprintf(log, "stopped %s (%s does not listen yet)\n", service, s)
				break
			}
		}
	}
	serviceRestarted := false
	for _, s := range names[:len(names)-1] {
		st, err := m.state(ctx, s)
		if err != nil {
			return err
		}
		op, f := "start", m.start
		if st.Active == "failed" {
			_ = m.conn.ResetFailedUnitContext(ctx, s)
		}
		if slices.Contains(res.Changed, s) && listened[s] && (st.Active == "active" || st.Active == "activating") {
			// New addresses: the socket must be re-bound. Requires= makes
			// systemd restart the service with it.
			op, f = "restart", m.restart
			serviceRestarted = true
		}
		if err := f(ctx, s); err != nil {
			return &StartError{Unit: s, Op: op, Err: err, Journal: JournalTail(ctx, s, m.user, since, 20)}
		}
		fmt.Fprintf(log, "%sed %s\n", op, s)
	}
	st, err := m.state(ctx, service)
	if err != nil {
		return err
	}
	op, f := "start", m.start
	if slices.Contains(res.Changed, service) && !serviceRestarted && (st.Active == "active" || st.Active == "reloading") {
		op, f = "restart", m.restart
	}
	if st.Active == "failed" {
		// stopped after an exit 69, or crashed; start anew
		_ = m.conn.ResetFailedUnitContext(ctx, service)
	}
	if err := m.waitActive(ctx, op, f, service, since); err != nil {
		return err
	}
	fmt.Fprintf(log, "%s is ready\n", service)
	return nil
}

// waitActive runs a start-like job and checks that the unit ended up active.
func (m *Manager) waitActive(ctx context.Context, op string, f func(context.Context, string) error, unit string, since time.Time) error {
	err := f(ctx, unit)
	if err == nil {
		st, serr := m.state(ctx, unit)
		if serr != nil {
			return serr
		}
		if st.Active == "active" {
			return nil
		}
		err = fmt.Errorf("unit is %s (%s)", st.Active, st.Sub)
	}
	return &StartError{Unit: unit, Op: op, Err: err, Journal: JournalTail(ctx, unit, m.user, since, 20)}
}

// removeUnit stops and disables one unit and deletes its file.
func (m *Manager) removeUnit(ctx context.Context, u string) error {
	if err := m.stop(ctx, u); err != nil {
		var je *JobError
		if !errors.As(err, &je) {
			return err
		}
	}
	if _, err := m.conn.DisableUnitFilesContext(ctx, []string{u}, false); err != nil {
		return fmt.Errorf("disable %s: %w", u, err)
	}
	if err := os.Remove(filepath.Join(m.unitDir, u)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", u, err)
	}
	_ = m.conn.ResetFailedUnitContext(ctx, u)
	return nil
}
