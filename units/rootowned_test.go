package units

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRootOwned(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make root-owned files")
	}
	parent := "/var/lib/sdlaunch-unit-test"
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(parent, "bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "sdlaunch")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckRootOwned(exe); err != nil {
		t.Errorf("a root-owned 0755 binary in root-owned dirs: %v", err)
	}
	for name, mutate := range map[string]func() error{
		"group-writable file": func() error { return os.Chmod(exe, 0o775) },
		"world-writable dir":  func() error { return os.Chmod(dir, 0o777) },
		"file of another uid": func() error { return os.Chown(exe, 4242, 4242) },
		"dir of another uid":  func() error { return os.Chown(dir, 4242, 4242) },
	} {
		if err := mutate(); err != nil {
			t.Fatal(err)
		}
		err := CheckRootOwned(exe)
		if err == nil || !IsValidation(err) || !strings.Contains(err.Error(), "owned by root") {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
		_ = os.Chmod(exe, 0o755)
		_ = os.Chmod(dir, 0o755)
		_ = os.Chown(exe, 0, 0)
		_ = os.Chown(dir, 0, 0)
	}
	if err := CheckRootOwned(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing binary was accepted")
	}
}
