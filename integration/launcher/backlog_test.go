package launcher

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// gunicorn calls listen(2) on the socket it inherits with its own backlog
// (2048) at every boot, for every process sharing the socket: the launcher
// sets its --backlog back once it sees the worker, at the first start and
// after a reload, and says so.
func TestGunicornBacklogIsSetBack(t *testing.T) {
	requireTool(t, "/usr/bin/gunicorn", "gunicorn")
	port := freePort(t)
	l := start(t, spec{
		Args:          []string{"-w", "2"},
		Command:       []string{"/usr/bin/gunicorn", "-w", "1", "app:app"},
		Dir:           filepath.Join(bin.root, "contrib", "examples", "gunicorn"),
		Port:          port,
		Listen:        []string{fmt.Sprintf("127.0.0.1:%d", port)},
		Env:           []string{"PYTHONDONTWRITEBYTECODE=1"},
		ClientTimeout: time.Minute,
	})
	l.waitStderr(0, `^sdlaunch: ready: 2/2 ready`, 2*time.Minute)
	want := wantBacklog(t)
	if got := listenBacklog(t, port); got != want {
		t.Fatalf("backlog %d once the workers are ready, want --backlog's %d", got, want)
	}
	said := "a worker's listen(2) had set the backlog to 2048; set back to --backlog 4096"
	if l.countStderr(said) != 1 {
		t.Errorf("the launcher said %d times %q, want once (then at debug priority)", l.countStderr(said), said)
	}
	if code, out := reloadWait(t, l.pid); code != 0 {
		t.Fatalf("reload-wait: exit %d (%s)", code, out)
	}
	if got := listenBacklog(t, port); got != want {
		t.Errorf("backlog %d after a reload, want %d", got, want)
	}
}
