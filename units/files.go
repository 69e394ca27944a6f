package units

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SystemUnitDir is where install writes units for the system manager.
const SystemUnitDir = "/etc/systemd/system"

// UserUnitDir is where install writes units for the calling user's manager:
// $XDG_CONFIG_HOME/systemd/user, or ~/.config/systemd/user.
func UserUnitDir() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "systemd", "user"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("user unit directory: %w", err)
	}
	return filepath.Join(home, ".config", "systemd", "user"), nil
}

// WriteResult says which files a WriteFiles call changed.
type WriteResult struct {
	Changed   []string // names whose content differs from before (or new)
	Unchanged []string
}

// WriteFiles writes each file into dir atomically (temp file in dir,
// fsync, rename) with mode 0644, skipping files whose content is already
// identical. Either every changed file is in place or an error is returned;
// temp files never remain.
func WriteFiles(dir string, files []File) (WriteResult, error) {
	var res WriteResult
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("create %s: %w", dir, err)
	}
	type pending struct{ tmp, dst, name string }
	var todo []pending
	cleanup := func() {
		for _, p := range todo {
			_ = os.Remove(p.tmp)
		}
	}
	for _, f := range files {
		dst := filepath.Join(dir, f.Name)
		old, err := os.ReadFile(dst)
		if err == nil && bytes.Equal(old, f.Content) {
			res.Unchanged = append(res.Unchanged, f.Name)
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			cleanup()
			return WriteResult{}, fmt.Errorf("read %s: %w", dst, err)
		}
		tmp, err := writeTemp(dir, f)
		if err != nil {
			cleanup()
			return WriteResult{}, err
		}
		todo = append(todo, pending{tmp, dst, f.Name})
	}
	for i, p := range todo {
		if err := os.Rename(p.tmp, p.dst); err != nil {
			todo = todo[i:]
			cleanup()
			return WriteResult{}, fmt.Errorf("install %s: %w", p.dst, err)
		}
		res.Changed = append(res.Changed, p.name)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return res, nil
}

func writeTemp(dir string, f File) (string, error) {
	t, err := os.CreateTemp(dir, "."+f.Name+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", f.Name, err)
	}
	name := t.Name()
	fail := func(err error) (string, error) {
		_ = t.Close()
		_ = os.Remove(name)
		return "", fmt.Errorf("write %s: %w", f.Name, err)
	}
	if _, err := t.Write(f.Content); err != nil {
		return fail(err)
	}
	if err := t.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := t.Sync(); err != nil {
		return fail(err)
	}
	if err := t.Close(); err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("write %s: %w", f.Name, err)
	}
	return name, nil
}
