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

// supervisordRestart is the baseline: gunicorn -w 2 under supervisord with
// stopasgroup and killasgroup (seed 000's fix), restarted with supervisorctl.
func supervisordRestart(ctx context.Context, cfg *config) measurement {
	const name = "supervisord restart"
	fail := func(err error) measurement { return measurement{name: name, err: err} }
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	dir := filepath.Join(cfg.dir, "supervisord")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(fmt.Errorf("%s: %w", name, err))
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
command=/usr/bin/gunicorn -w 2 -b 127.0.0.1:%[2]d app:app
directory=%[3]s
autostart=true
autorestart=true
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=%[1]s/app.log
`, dir, port, cfg.appDir))
	if err != nil {
		return fail(err)
	}
	cfg.logf("%s: starting supervisord (gunicorn -w 2 on 127.0.0.1:%d)", name, port)
	sv, err := startProc("supervisord", dir, filepath.Join(dir, "supervisord.out"), os.Environ(), false,
		"/usr/bin/supervisord", "-c", conf)
	if err != nil {
		return fail(err)
	}
	ctl := func(ctx context.Context, args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "/usr/bin/supervisorctl", append([]string{"-c", conf}, args...)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("supervisorctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}
	defer func() {
		// supervisord stops gunicorn (as a group) when it stops; gunicorn
		// has its own process group, so find it first in case it does not.
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, _ := ctl(stopCtx, "pid", "app")
		if err := sv.stop(syscall.SIGTERM, 30*time.Second); err != nil {
			cfg.logf("%s: %v", name, err)
		}
		if pid, err := strconv.Atoi(out); err == nil && pid > 1 && syscall.Kill(pid, 0) == nil {
			cfg.logf("%s: gunicorn %d outlived supervisord; killing its group", name, pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()

	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	return underLoad(ctx, cfg, name, url, func(ctx context.Context) error {
		out, err := ctl(ctx, "restart", "app")
		if err == nil && !strings.Contains(out, "app: started") {
			err = fmt.Errorf("supervisorctl restart app: %q", out)
		}
		return err
	})
}
