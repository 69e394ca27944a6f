package units

import (
	"os"
	"os/exec"
	"testing"
)

// requireTool returns the path of an external tool a test needs. Missing
// tools skip the test on a developer machine but fail it under CI, so CI
// cannot go green without running it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found (install Debian package systemd): %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}
