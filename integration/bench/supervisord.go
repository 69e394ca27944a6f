package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startSupervisord is the seeds' setup: gunicorn -w N under supervisord
// with stopasgroup and killasgroup (seed 000's fix). Its operations are
// `supervisorctl restart` and gunicorn's own graceful reload, `kill -HUP`
// of its master (which re-imports the app: no --preload).
func startSupervisord(ctx context.Context, cfg *config) (*setup, error) {
	const name = "supervisord+gunicorn"
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.dir, "supervisord")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	conf, err := writeFile(dir, "supervisord.conf", fmt.Sprintf(`[unix_http_server]
file=%[1]s/supervisor.sock

[supervisord]
nodaemon=true
logfile=%[1]s/supervisord.log
pidfile=%[1]s/supervisord.pid
childlogdir=%[1]s

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%[1]s/supervisor.sock

[program:app]
command=/usr/bin/gunicorn -w %[4]d -b 127.0.0.1:%[2]d app:app
directory=%[3]s
autostart=true
autorestart=true
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=%[1]s/app.log
`, dir, port, cfg.appDir, cfg.workers))
	if err != nil {
		return nil, err
	}
	cfg.logf("%s: starting supervisord (gunicorn -w %d on 127.0.0.1:%d)", name, cfg.workers, port)
	sv, err := startProc("supervisord", dir, filepath.Join(dir, "supervisord.out"), os.Environ(), false,
		"/usr/bin/supervisord", "-c", conf)
	if err != nil {
		return nil, err
	}
	ctl := func(ctx context.Context, args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "/usr/bin/supervisorctl", append([]string{"-c", conf}, args...)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("supervisorctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}
	masterPID := func(ctx context.Context) (int, error) {
		out, err := ctl(ctx, "pid", "app")
		if err != nil {
			return 0, err
		}
		pid, err := strconv.Atoi(out)
		if err != nil || pid <= 1 {
			return 0, fmt.Errorf("supervisorctl pid app: %q", out)
		}
		return pid, nil
	}
	s := &setup{name: name, url: fmt.Sprintf("http://127.0.0.1:%d/", port)}
	s.stop = func() {
		// supervisord stops gunicorn (as a group) when it stops; gunicorn
		// has its own process group, so find it first in case it does not.
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pid, _ := masterPID(stopCtx)
		if err := sv.stop(syscall.SIGTERM, 30*time.Second); err != nil {
			cfg.logf("%s: %v", name, err)
		}
		if pid > 1 && syscall.Kill(pid, 0) == nil {
			cfg.logf("%s: gunicorn %d outlived supervisord; killing its group", name, pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	s.ops = []namedOp{
		{"restart", func(ctx context.Context) error {
			out, err := ctl(ctx, "restart", "app")
			if err == nil && !strings.Contains(out, "app: started") {
				err = fmt.Errorf("supervisorctl restart app: %q", out)
			}
			return err
		}},
		{"HUP", func(ctx context.Context) error {
			pid, err := masterPID(ctx)
			if err != nil {
				return err
			}
			old := children(pid)
			if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
				return fmt.Errorf("kill -HUP %d: %w", pid, err)
			}
			return waitRolled(ctx, pid, old, cfg.workers)
		}},
	}
	if err := waitServing(ctx, s.url, 60*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}
