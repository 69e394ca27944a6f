package observe

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// fixtureMeta is DIR/meta.json of a snapshot: what FS{Root: DIR/proc} needs
// to answer as the live system did.
type fixtureMeta struct {
	Arch      string     `json:"arch"`
	Launcher  int        `json:"launcher"`
	PGID      int        `json:"pgid"`
	Listeners []Listener `json:"listeners"`
	PIDs      []int      `json:"pids"`
	Wait      Wait       `json:"wait"` // the verdict at recording time
	Note      string     `json:"note,omitempty"`
}

// Snapshot looks at group pgid of launcher like Group and Accepting do and
// copies everything it read under dir/proc (link targets as files, the
// memory read for poll/select sets as PID/mem.txt), with dir/meta.json,
// so that the same look over the fixture needs no live process. It returns
// the live verdict. dir must not exist yet.
func (fs FS) Snapshot(dir string, launcher, pgid int, ls []Listener, note string) (Wait, error) {
	if _, err := os.Stat(dir); err == nil {
		return Wait{}, fmt.Errorf("snapshot: %s already exists", dir)
	}
	var errs []error
	rec := recordingProc{proc: fs.proc(), dir: filepath.Join(dir, "proc"), errs: &errs}
	pids, err := group(rec, launcher, pgid)
	if err != nil {
		return Wait{}, fmt.Errorf("snapshot: %w", err)
	}
	w := accepting(rec, fs.arch(), pids, ls, false, false)
	meta, err := json.MarshalIndent(fixtureMeta{Arch: fs.arch(), Launcher: launcher, PGID: pgid, Listeners: ls, PIDs: pids, Wait: w, Note: note}, "", "  ")
	if err != nil {
		return Wait{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), append(meta, '\n'), 0o644); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Wait{}, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	return w, nil
}
