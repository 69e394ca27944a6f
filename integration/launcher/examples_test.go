package launcher

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each example app of contrib/examples serves requests from 2 workers under
// `sdlaunch run -w 2 --listen 127.0.0.1:PORT -- ...` and stops cleanly.
func TestExampleApps(t *testing.T) {
	examples := filepath.Join(bin.root, "contrib", "examples")
	cases := []struct {
		name    string
		dir     string
		tools   [][2]string // path, Debian package
		listen  string      // listen address format; %d is the port
		args    []string
		command []string
		want    string // in every answer of GET /
	}{
		{
			name:  "flask-seed",
			dir:   "flask-seed",
			tools: [][2]string{{"/usr/bin/python3", "python3-flask"}},
			args:  []string{"--stop-signal", "INT"}, command: []string{"/usr/bin/python3", "app.py"},
			want: "hello from pid",
		},
		{
			// The README's row, as written: no option at all.
			name:    "flask-seed-readme",
			dir:     "flask-seed",
			tools:   [][2]string{{"/usr/bin/python3", "python3-flask"}},
			listen:  "0.0.0.0:%d",
			command: []string{"/usr/bin/python3", "app.py"},
			want:    "hello from pid",
		},
		{
			// The one-liner: `--listen :8000`, a dual-stack socket.
			name:   "flask-seed-any-address",
			dir:    "flask-seed",
			tools:  [][2]string{{"/usr/bin/python3", "python3-flask"}},
			listen: ":%d",
			args:   []string{"--stop-signal", "INT"}, command: []string{"/usr/bin/python3", "app.py"},
			want: "hello from pid",
		},
		{
			name:    "gunicorn",
			dir:     "gunicorn",
			tools:   [][2]string{{"/usr/bin/gunicorn", "gunicorn"}},
			command: []string{"/usr/bin/gunicorn", "-w", "1", "app:app"},
			want:    "hello from pid",
		},
		{
			// The recipe before readiness was observed (gunicorn imports the
			// app before READY=1) still works.
			name:    "gunicorn-preload-notify",
			dir:     "gunicorn",
			tools:   [][2]string{{"/usr/bin/gunicorn", "gunicorn"}},
			args:    []string{"--ready", "notify"},
			command: []string{"/usr/bin/gunicorn", "--preload", "-w", "1", "app:app"},
			want:    "hello from pid",
		},
		{
			name:    "python-plain",
			dir:     "python-plain",
			tools:   [][2]string{{"/usr/bin/python3", "python3"}},
			command: []string{"/usr/bin/python3", "server.py"},
			want:    "hello from pid",
		},
		{
			name:    "node",
			dir:     "node",
			tools:   [][2]string{{"/usr/bin/node", "nodejs"}},
			command: []string{"/usr/bin/node", "server.js"},
			want:    "hello from pid",
		},
		{
			name:    "go",
			dir:     "go",
			command: []string{bin.hello},
			want:    "generation 1)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, tool := range tc.tools {
				requireTool(t, tool[0], tool[1])
			}
			if tc.name == "flask-seed" || tc.name == "flask-seed-any-address" {
				requirePythonModule(t, "flask", "python3-flask")
			}
			port := freePort(t)
			var listen []string // the default, 127.0.0.1:port
			if tc.listen != "" {
				listen = []string{fmt.Sprintf(tc.listen, port)}
			}
			args := append([]string{"-w", "2", "--ready-after", "300ms", "--graceful-timeout", "10s"}, tc.args...)
			l := start(t, spec{Args: args, Command: tc.command, Dir: filepath.Join(examples, tc.dir), Port: port, Listen: listen,
				Env: []string{"PYTHONDONTWRITEBYTECODE=1"}}) // keep __pycache__ out of the tree
			l.waitServing("/", 30*time.Second)
			pids := l.distinctPids("/", 2, 20*time.Second)
			body := l.mustGet("/")
			if !strings.Contains(body, tc.want) {
				t.Errorf("GET / = %q, want it to contain %q", body, tc.want)
			}
			if body := l.mustGet("/slow?ms=50"); !strings.Contains(body, "slept 50 ms") {
				t.Errorf("GET /slow?ms=50 = %q", body)
			}
			t.Logf("pids %v answered", keys(pids))

			l.signal(syscall.SIGTERM)
			if code := l.waitExit(20 * time.Second); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}
			l.assertGone()
		})
	}
}
