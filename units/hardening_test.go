package units

import (
	"strings"
	"testing"
)

// serviceOptions renders app and returns its [Service] lines.
func serviceOptions(t *testing.T, app *App) string {
	t.Helper()
	files, err := app.Render()
	if err != nil {
		t.Fatal(err)
	}
	return string(files[len(files)-1].Content)
}

// TestUserManagerProfile pins the three differences of the --user profile
// (hardening.go), each of which fails the start under systemd 252's user
// manager when missing (integration/units/user_test.go).
func TestUserManagerProfile(t *testing.T) {
	sys := serviceOptions(t, validApp())
	for _, want := range []string{"\nPrivateUsers=yes\n", "\nProtectHome=yes\n", "\nProtectKernelLogs=yes\n", "\nCapabilityBoundingSet=\n", "\nDynamicUser=yes\n"} {
		if !strings.Contains(sys, want) {
			t.Errorf("system unit lacks %q", strings.TrimSpace(want))
		}
	}
	user := validApp()
	user.UserManager = true
	got := serviceOptions(t, user)
	for _, want := range []string{"\nPrivateUsers=yes\n", "\nProtectHome=read-only\n", "\nCapabilityBoundingSet=\n", "\nProtectSystem=strict\n", "\nWantedBy=default.target\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("--user unit lacks %q:\n%s", strings.TrimSpace(want), got)
		}
	}
	for _, bad := range []string{"ProtectKernelLogs=", "DynamicUser=", "ProtectHome=yes"} {
		if strings.Contains(got, bad) {
			t.Errorf("--user unit has %s:\n%s", bad, got)
		}
	}
}

func TestUserManagerStrictNeedsNotifyReload(t *testing.T) {
	app := validApp()
	app.UserManager = true
	app.Hardening = HardeningStrict
	_, err := app.Render()
	if err == nil || !IsValidation(err) || !strings.Contains(err.Error(), "--hardening=strict with --user") || strings.Contains(err.Error(), "\n") {
		t.Errorf("strict --user on 252: %v, want one-line validation error", err)
	}
	app.SystemdVersion = MinNotifyReloadVersion
	got := serviceOptions(t, app)
	if !strings.Contains(got, "\nPrivateNetwork=yes\n") || strings.Contains(got, "ExecReload=") {
		t.Errorf("strict --user on %d:\n%s", MinNotifyReloadVersion, got)
	}
	app.UserManager = false
	app.SystemdVersion = 0
	if _, err := app.Render(); err != nil {
		t.Errorf("strict for the system manager: %v", err)
	}
}
