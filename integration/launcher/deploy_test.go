package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/testapp/report"
)

// appScript writes the command the launcher runs: a shell script that execs
// the testapp as VERSION, or a broken deploy that exits 1. Reloads must pick
// up the new content.
func appScript(t *testing.T, path, version string) {
	t.Helper()
	var src string
	if version == "broken" {
		src = "#!/bin/sh\necho \"app.sh: ImportError: no module named config (broken deploy, generation $SDLAUNCH_GENERATION)\" >&2\nexit 1\n"
	} else {
		src = fmt.Sprintf("#!/bin/sh\nTESTAPP_VERSION=%s exec %s\n", version, bin.testapp)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// reloadWait runs `sdlaunch reload-wait PID`.
func reloadWait(t *testing.T, pid int) (int, string) {
	t.Helper()
	code, stdout, stderr := runLauncher(t, nil, 45*time.Second, "reload-wait", strconv.Itoa(pid))
	return code, strings.TrimSpace(stdout + stderr)
}

// expectGeneration checks that exactly the launcher's current workers, n of
// them, answer /env with the given generation and version.
func expectGeneration(t *testing.T, l *launcher, n int, gen, version string) []int {
	t.Helper()
	var pids []int
	waitUntil(t, 30*time.Second, fmt.Sprintf("%d workers of generation %s", n, gen), func() bool {
		pids = l.workerPids()
		if len(pids) != n {
			return false
		}
		var r report.Env
		return l.getJSON("/env", &r) == nil && r.Env["SDLAUNCH_GENERATION"] == gen
	})
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	slots := map[string]bool{}
	for pid, r := range l.collectEnv(want, 30*time.Second) {
		if r.Env["SDLAUNCH_GENERATION"] != gen || r.Env["TESTAPP_VERSION"] != version {
			t.Errorf("worker %d: generation %q version %q, want %s and %s", pid, r.Env["SDLAUNCH_GENERATION"], r.Env["TESTAPP_VERSION"], gen, version)
		}
		slots[r.Env["SDLAUNCH_WORKER"]] = true
	}
	if len(slots) != n {
		t.Errorf("worker slots %v, want %d distinct", slots, n)
	}
	return pids
}

// startScripted starts a launcher (options args) whose command is a
// versioned app script at version "1", with a test NOTIFY_SOCKET and the
// testapp in notify mode (a good version sends READY=1 itself; a broken one
// never does, however slow the machine), and waits for READY=1 and both
// workers of generation 1. It returns the script to redeploy, the index of
// READY=1 and the first workers' pids.
func startScripted(t *testing.T, args ...string) (l *launcher, script string, ready int, pids []int) {
	t.Helper()
	script = filepath.Join(t.TempDir(), "app.sh")
	appScript(t, script, "1")
	l = start(t, spec{Args: args, Command: []string{script}, Notify: true, Env: []string{"TESTAPP_MODE=notify"}})
	ready, _ = l.notify.waitField(t, 0, "READY=1", 30*time.Second)
	pids = expectGeneration(t, l, 2, "1", "1")
	return l, script, ready, pids
}
