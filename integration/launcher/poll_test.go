package launcher

import (
	"testing"
	"time"
)

// waitUntil polls cond every 20ms until it holds, failing the test after
// timeout. The timeout only bounds a hang: pass a generous one.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(timeout, cond) {
		t.Fatalf("timed out after %s waiting until %s", timeout, what)
	}
}

// pollUntil polls cond every 20ms; false if it did not hold within timeout.
func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
