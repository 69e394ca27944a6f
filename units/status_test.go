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

func TestStatusSaysWhyAppStaysDown(t *testing.T) {
	failed := ServiceStatus{UnitStatus: UnitStatus{Unit: "app.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"},
		Result: "exit-code", ExecMainCode: 1, ExecMainStatus: 69}
	stopped := []UnitStatus{{Unit: "app.socket", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"}}
	listening := []UnitStatus{{Unit: "app.socket", LoadState: "loaded", ActiveState: "active", SubState: "listening"}}
	crashed := failed
	crashed.ExecMainStatus = 1
	killed := failed
	killed.Result, killed.ExecMainCode, killed.ExecMainStatus = "signal", 2, 9
	cases := []struct {
		svc     ServiceStatus
		sockets []UnitStatus
		want    []string
		not     string
	}{
		{failed, stopped, []string{"result: exit-code (exit status 69)", "down: its workers could not boot (exit status 69); app.socket stopped, so clients are refused", "`sdlaunch restart app`", "`systemctl start app.socket`"}, ""},
		{failed, listening, []string{"down: its workers could not boot (exit status 69), but app.socket still listening: the next connection starts it again"}, "refused"},
		{crashed, stopped, []string{"result: exit-code (exit status 1)"}, "down:"},
		{killed, stopped, []string{"result: signal (killed by SIGKILL)"}, "down:"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		st := &Status{Name: "app", Service: c.svc, Sockets: c.sockets}
		if err := st.Format(&out); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("status lacks %q:\n%s", w, out.String())
			}
		}
		if c.not != "" && strings.Contains(out.String(), c.not) {
			t.Errorf("status has %q:\n%s", c.not, out.String())
		}
	}
}
