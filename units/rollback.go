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
)

// A failed install undoes itself, so that it never leaves a half-installed
// app restarting behind it (the issue measured 38 restarts in 100 s, the
// port held and clients hanging, after a 200/CHDIR failure):
//
//   - a first install (no NAME.service before) stops, disables and removes
//     every unit it wrote and reloads systemd: nothing is left enabled or
//     listening;
//   - a re-install writes the previous unit files back (and removes the
//     ones that are new), reloads systemd, restores which units were
//     enabled, starts the sockets that were listening (re-binding those
//     whose addresses it had changed) and, when the previous service was
//     running, restarts it and waits until it is ready.

// prior is what Install found before it changed anything.
type prior struct {
	files   map[string][]byte // previous content of each unit file Install touches; absent: did not exist
	enabled map[string]bool   // UnitFileState was enabled
	active  map[string]bool   // ActiveState was active (or reloading, activating)
}

// first reports whether there was no previous install of the app.
func (p *prior) first(service string) bool {
	_, ok := p.files[service]
	return !ok
}

// snapshot records the state of units before Install touches them.
func (m *Manager) snapshot(ctx context.Context, name string, units []string) (*prior, error) {
	p := &prior{files: map[string][]byte{}, enabled: map[string]bool{}, active: map[string]bool{}}
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join(m.unitDir, u))
		switch {
		case err == nil:
			p.files[u] = b
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("read %s: %w", filepath.Join(m.unitDir, u), err)
		}
		props, err := m.conn.GetUnitPropertiesContext(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("properties of %s: %w", u, err)
		}
		state, _ := props["UnitFileState"].(string)
		active, _ := props["ActiveState"].(string)
		p.enabled[u] = state == "enabled"
		p.active[u] = active == "active" || active == "reloading" || active == "activating"
	}
	return p, nil
}

// InstallError is a failed install, after its undo.
type InstallError struct {
	Err error // why the install failed (a *StartError carries the journal)
	// First is true for a first install, which was removed; false for a
	// re-install, whose previous units were put back.
	First bool
	// UndoErr is why the undo itself failed, or nil.
	UndoErr error
}

func (e *InstallError) Error() string {
	switch {
	case e.UndoErr != nil && e.First:
		return fmt.Sprintf("%v; removing the units it wrote failed too: %v", e.Err, e.UndoErr)
	case e.UndoErr != nil:
		return fmt.Sprintf("%v; putting the previous units back failed too: %v", e.Err, e.UndoErr)
	case e.First:
		return fmt.Sprintf("%v; install undone: nothing is left enabled or listening", e.Err)
	}
	return fmt.Sprintf("%v; the previous units are back and the previous version is running", e.Err)
}

func (e *InstallError) Unwrap() error { return e.Err }

// undo reverts a failed Install (files as it was given them) to before,
// logging each step, and returns an *InstallError wrapping cause.
func (m *Manager) undo(ctx context.Context, name string, before *prior, files []File, cause error, log io.Writer) error {
	// The install's own deadline may be what failed it: give the undo time
	// of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	service := name + ".service"
	ie := &InstallError{Err: cause, First: before.first(service)}
	if ie.First {
		fmt.Fprintf(log, "install failed; removing %s again (a first install):\n", name)
		ie.UndoErr = m.removeAll(ctx, service, unitNames(files), log)
		if ie.UndoErr == nil {
			fmt.Fprintf(log, "nothing of %s is left enabled or listening\n", name)
		}
		return ie
	}
	fmt.Fprintf(log, "install failed; putting back the previous units of %s:\n", name)
	ie.UndoErr = m.restore(ctx, service, before, files, log)
	if ie.UndoErr == nil {
		if before.active[service] {
			fmt.Fprintf(log, "the previous %s is ready\n", service)
		} else {
			fmt.Fprintf(log, "the previous units are back (%s was not running before, and is not now)\n", service)
		}
	}
	return ie
}

// removeAll stops, disables and removes the sockets and then the service,
// and reloads systemd. The sockets go first: while one listens, a queued
// connection could start the failed service again.
func (m *Manager) removeAll(ctx context.Context, service string, units []string, log io.Writer) error {
	order := append(slices.DeleteFunc(slices.Clone(units), func(u string) bool { return u == service }), service)
	var errs []error
	for _, u := range order {
		if _, err := os.Stat(filepath.Join(m.unitDir, u)); errors.Is(err, fs.ErrNotExist) {
			continue // the install failed before writing it
		}
		if err := m.removeUnit(ctx, u); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(log, "  stopped, disabled and removed %s\n", u)
	}
	if err := m.daemonReload(ctx); err != nil {
		return errors.Join(append(errs, err)...)
	}
	fmt.Fprintf(log, "  reloaded systemd\n")
	return errors.Join(errs...)
}

// restore puts the previous units back and starts what was running.
//
// The previous files are loaded (daemon-reload) before anything is stopped
// or started: the sockets keep listening throughout, and a queued
// connection may activate the service at any moment, which must then start
// the previous version, never the failed one again. The service is then
// restarted (whatever runs, or waits in auto-restart, is stopped and the
// loaded, previous version started), not stopped and started: between a
// stop and a start, socket activation would slip in.
func (m *Manager) restore(ctx context.Context, service string, before *prior, files []File, log io.Writer) error {
	newContent := map[string][]byte{}
	for _, f := range files {
		newContent[f.Name] = f.Content
	}
	// Units new with this install are not part of the previous app: disabled
	// and deleted now, stopped once the previous service (which does not
	// require them) is loaded, so that their stop cannot stop it.
	var added []string
	for _, f := range files {
		if _, ok := before.files[f.Name]; !ok {
			added = append(added, f.Name)
		}
	}
	if len(added) > 0 {
		if _, err := m.conn.DisableUnitFilesContext(ctx, added, false); err != nil {
			return fmt.Errorf("disable %s: %w", strings.Join(added, " "), err)
		}
		for _, u := range added {
			if err := os.Remove(filepath.Join(m.unitDir, u)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", u, err)
			}
			fmt.Fprintf(log, "  disabled and removed %s (new)\n", filepath.Join(m.unitDir, u))
		}
	}
	var back []File
	for u, content := range before.files {
		back = append(back, File{Name: u, Content: content})
	}
	slices.SortFunc(back, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	var sockets []string // the previous socket units
	for _, f := range back {
		if f.Name != service {
			sockets = append(sockets, f.Name)
		}
	}
	res, err := WriteFiles(m.unitDir, back)
	if err != nil {
		return err
	}
	for _, u := range res.Changed {
		fmt.Fprintf(log, "  restored %s\n", filepath.Join(m.unitDir, u))
	}
	if err := m.daemonReload(ctx); err != nil {
		return err
	}
	fmt.Fprintf(log, "  reloaded systemd\n")
	for _, u := range added {
		if st, err := m.state(ctx, u); err == nil && (st.Active == "inactive" || st.Active == "failed") {
			_ = m.conn.ResetFailedUnitContext(ctx, u)
			continue // never started, or already stopped
		}
		if err := m.stop(ctx, u); err != nil {
			var je *JobError
			if !errors.As(err, &je) {
				return err
			}
		}
		_ = m.conn.ResetFailedUnitContext(ctx, u)
		fmt.Fprintf(log, "  stopped %s\n", u)
	}
	var enable, disable []string
	for _, f := range back {
		if before.enabled[f.Name] {
			enable = append(enable, f.Name)
		} else {
			disable = append(disable, f.Name)
		}
	}
	if len(enable) > 0 {
		if _, _, err := m.conn.EnableUnitFilesContext(ctx, enable, false, true); err != nil {
			return fmt.Errorf("enable %s: %w", strings.Join(enable, " "), err)
		}
		fmt.Fprintf(log, "  enabled %s\n", strings.Join(enable, " "))
	}
	if len(disable) > 0 {
		if _, err := m.conn.DisableUnitFilesContext(ctx, disable, false); err != nil {
			return fmt.Errorf("disable %s: %w", strings.Join(disable, " "), err)
		}
		fmt.Fprintf(log, "  disabled %s\n", strings.Join(disable, " "))
	}
	since := time.Now()
	for _, u := range append(sockets, service) {
		_ = m.conn.ResetFailedUnitContext(ctx, u)
	}
	for _, s := range sockets {
		if !before.active[s] {
			continue
		}
		op, f := "start", m.start
		if st, err := m.state(ctx, s); err == nil && st.Active == "active" && !bytes.Equal(newContent[s], before.files[s]) {
			// still bound to the failed install's addresses
			op, f = "restart", m.restart
		}
		if err := f(ctx, s); err != nil {
			return &StartError{Unit: s, Op: op, Err: err, Journal: JournalTail(ctx, s, m.user, since, 20)}
		}
		fmt.Fprintf(log, "  %sed %s\n", op, s)
	}
	if !before.active[service] {
		// it was not running before: stop the failed one
		if err := m.stop(ctx, service); err != nil {
			var je *JobError
			if !errors.As(err, &je) {
				return err
			}
		}
		fmt.Fprintf(log, "  stopped %s\n", service)
		return nil
	}
	// Always a restart of our own, even after a socket's restart restarted
	// it: it may be waiting in auto-restart, where a start job would wait
	// for RestartSec=.
	if err := m.waitActive(ctx, "restart", m.restart, service, since); err != nil {
		return err
	}
	fmt.Fprintf(log, "  restarted %s (the previous version) and it is ready\n", service)
	return nil
}
