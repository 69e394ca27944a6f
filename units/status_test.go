package units

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A fake cgroup tree and /proc: the listing logic is pure file parsing.
func TestCgroupWorkers(t *testing.T) {
	root, proc := t.TempDir(), t.TempDir()
	cg := filepath.Join(root, "unified", "system.slice", "app.service")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(cg, "cgroup.procs"), "100\n102\n")
	write(filepath.Join(cg, "sub", "cgroup.procs"), "101\n")
	write(filepath.Join(proc, "100", "cmdline"), "/usr/bin/sdlaunch\x00run\x00--\x00/usr/bin/python3\x00app.py\x00")
	write(filepath.Join(proc, "101", "cmdline"), "/usr/bin/python3\x00app.py\x00")
	write(filepath.Join(proc, "101", "environ"), "PATH=/bin\x00SDLAUNCH_WORKER=0\x00SDLAUNCH_GENERATION=3\x00")
	write(filepath.Join(proc, "102", "cmdline"), "/usr/bin/python3\x00app.py\x00")
	write(filepath.Join(proc, "102", "environ"), "SDLAUNCH_WORKER=1\x00SDLAUNCH_GENERATION=3\x00")

	svc := &ServiceStatus{MainPID: 100, ControlGroup: "/system.slice/app.service"}
	procs, err := CgroupWorkers{Root: filepath.Join(root, "unified"), Proc: proc}.Workers(context.Background(), svc)
	if err != nil {
		t.Fatal(err)
	}
	want := []Process{
		{PID: 100, Worker: -1, Generation: -1, Role: "launcher", Command: "/usr/bin/sdlaunch run -- /usr/bin/python3 app.py"},
		{PID: 101, Worker: 0, Generation: 3, Role: "worker", Command: "/usr/bin/python3 app.py"},
		{PID: 102, Worker: 1, Generation: 3, Role: "worker", Command: "/usr/bin/python3 app.py"},
	}
	if len(procs) != len(want) {
		t.Fatalf("got %+v", procs)
	}
	for i := range want {
		if procs[i] != want[i] {
			t.Errorf("process %d = %+v, want %+v", i, procs[i], want[i])
		}
	}
	if _, err := (CgroupWorkers{Root: root, Proc: proc}).Workers(context.Background(), svc); err == nil {
		t.Error("missing cgroup not reported")
	}

	st := &Status{Name: "app", Service: ServiceStatus{UnitStatus: UnitStatus{Unit: "app.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}, MainPID: 100, StatusText: "2/2 ready"},
		Sockets: []UnitStatus{{Unit: "app.socket", LoadState: "loaded", ActiveState: "active", SubState: "listening"}}, Processes: procs}
	var out bytes.Buffer
	if err := st.Format(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"app.service: active (running)", "main pid: 100", "status: 2/2 ready", "app.socket: active (listening)", "worker    1"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("status output lacks %q:\n%s", s, out.String())
		}
	}
}
