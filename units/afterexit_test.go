package units

import (
	"strings"
	"testing"
)

func TestStayDownReason(t *testing.T) {
	cases := []struct {
		result, code, status string
		down                 bool
	}{
		{"exit-code", "exited", "69", true},
		{"exit-code", "exited", "2", true},
		{"exit-code", "exited", "1", false},   // a crash: Restart=on-failure applies
		{"exit-code", "exited", "200", false}, // 200/CHDIR: systemd's own failure
		{"success", "exited", "0", false},     // a stop
		{"signal", "killed", "TERM", false},
		{"watchdog", "killed", "KILL", false},
		{"timeout", "killed", "KILL", false},
		{"exit-code", "dumped", "69", false},
		{"", "", "", false},
	}
	for _, c := range cases {
		if got := StayDownReason(c.result, c.code, c.status); (got != "") != c.down {
			t.Errorf("StayDownReason(%q, %q, %q) = %q, want down=%v", c.result, c.code, c.status, got, c.down)
		}
	}
}

func TestServiceStopsSocketsAfterStayDownExit(t *testing.T) {
	for _, user := range []bool{false, true} {
		a := validApp()
		a.UserManager = user
		a.Listen = []string{"127.0.0.1:8000", "admin=unix:/run/a.sock"}
		files, err := a.Render()
		if err != nil {
			t.Fatal(err)
		}
		svc := string(files[len(files)-1].Content)
		want := "ExecStopPost=+/usr/bin/sdlaunch after-exit myapp\n"
		if user {
			want = "ExecStopPost=+/usr/bin/sdlaunch after-exit --user myapp\n"
		}
		if !strings.Contains(svc, want) || !strings.Contains(svc, "RestartPreventExitStatus=2 69\n") {
			t.Errorf("user=%v: service lacks %q or RestartPreventExitStatus=2 69:\n%s", user, want, svc)
		}
	}
}
