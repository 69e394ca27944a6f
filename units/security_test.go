package units

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

var exposureRe = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+\.[0-9]+)`)

// securityScore runs `systemd-analyze security --offline=yes` on the
// rendered service and returns its overall exposure level.
func securityScore(t *testing.T, app *App) float64 {
	t.Helper()
	analyze := requireTool(t, "systemd-analyze")
	files, err := app.Render()
	if err != nil {
		t.Fatal(err)
	}
	dir := writeForVerify(t, files)
	args := []string{"security", "--offline=yes", "--no-pager"}
	env := os.Environ()
	if app.UserManager {
		// the user scope needs a runtime directory, even offline
		args = append(args, "--user")
		env = append(env, "XDG_RUNTIME_DIR="+t.TempDir())
	}
	args = append(args, filepath.Join(dir, app.ServiceName()))
	cmd := exec.Command(analyze, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze %v: %v\n%s", args, err, out)
	}
	m := exposureRe.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return score
}

func TestSecurityScores(t *testing.T) {
	apps := goldenApps()
	cases := []struct {
		golden string
		max    float64
	}{
		{"readme", 2.0}, // LimitNICE=+0 and setpriority for run's default --reload-nice
		{"reload-nice-off", 2.0},
		{"readme-strict", 1.0},
		{"node-jit", 2.0},       // MemoryDenyWriteExecute=no for V8
		{"gunicorn-named", 2.0}, // a fixed User= instead of DynamicUser=
		{"quoting", 2.0},
		{"user-manager", 2.0}, // --user: PrivateUsers=yes, ProtectHome=read-only, no ProtectKernelLogs=
	}
	for _, c := range cases {
		score := securityScore(t, apps[c.golden])
		t.Logf("%s: exposure %.1f (max %.1f)", c.golden, score, c.max)
		if score > c.max {
			t.Errorf("%s scores %.1f, above %.1f", c.golden, score, c.max)
		}
	}
	// The thresholds mean something only if an unhardened unit fails them.
	off := apps["readme"]
	off.Hardening = HardeningOff
	if score := securityScore(t, off); score <= 2.0 {
		t.Errorf("--hardening=off scores %.1f; the measurement is broken", score)
	}
	strictNode := apps["node-jit"]
	strictNode.Hardening = HardeningStrict
	if score := securityScore(t, strictNode); score > 1.0 {
		t.Errorf("strict node scores %.1f, above 1.0", score)
	}
}
