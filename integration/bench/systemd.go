package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// systemdScenarios measures sdlaunch as the main process of a socket-
// activated Type=notify service in a real systemd: K `systemctl restart`s
// under load, then K `systemctl reload`s (ExecReload=sdlaunch reload-wait).
// The units are written here by hand, not by `sdlaunch install`.
func systemdScenarios(ctx context.Context, cfg *config) []measurement {
	restart := measurement{name: "systemd restart"}
	reload := measurement{name: "systemd reload"}
	fail := func(err error) []measurement {
		restart.err, reload.err = err, err
		return []measurement{restart, reload}
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	dir := filepath.Join(cfg.dir, "systemd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(fmt.Errorf("systemd: %w", err))
	}
	const unit = "sdlaunch-bench"
	if _, err := writeFile(dir, unit+".socket", fmt.Sprintf(`[Unit]
Description=sdlaunch bench socket

[Socket]
ListenStream=127.0.0.1:%d
`, port)); err != nil {
		return fail(err)
	}
	if _, err := writeFile(dir, unit+".service", fmt.Sprintf(`[Unit]
Description=sdlaunch bench service
Requires=%[3]s.socket
After=%[3]s.socket

[Service]
Type=notify
NotifyAccess=main
KillMode=mixed
WorkingDirectory=%[2]s
ExecStart=%[1]s run -w 2 %[4]s-- /usr/bin/gunicorn --preload -w 1 app:app
ExecReload=%[1]s reload-wait $MAINPID
`, cfg.sdlaunch, cfg.appDir, unit, flagText(cfg.runFlags))); err != nil {
		return fail(err)
	}

	name := fmt.Sprintf("sdlbench-%d", os.Getpid())
	cfg.logf("systemd: booting container %s", name)
	c, err := bootContainer(ctx, name, cfg.dir, dir)
	if err != nil {
		return fail(err)
	}
	defer func() {
		// The journal is the first thing to read when a number looks wrong.
		jctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, _ := c.exec(jctx, "journalctl", "--no-pager", "-o", "short-precise", "-u", unit+".service", "-u", unit+".socket")
		cancel()
		_ = os.WriteFile(filepath.Join(dir, "journal.log"), []byte(out), 0o644)
		cfg.logf("systemd: powering off %s", name)
		c.powerOff()
	}()
	if _, err := c.exec(ctx, "sh", "-c", fmt.Sprintf("cp %[1]s/%[2]s.socket %[1]s/%[2]s.service /etc/systemd/system/ && systemctl daemon-reload && systemctl start %[2]s.socket %[2]s.service", dir, unit)); err != nil {
		return fail(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	systemctl := func(verb string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.exec(ctx, "systemctl", verb, unit+".service")
			return err
		}
	}
	restart = underLoad(ctx, cfg, restart.name, url, systemctl("restart"))
	if restart.err != nil {
		reload.err = fmt.Errorf("not run: %s did not complete", restart.name)
		return []measurement{restart, reload}
	}
	reload = underLoad(ctx, cfg, reload.name, url, systemctl("reload"))
	return []measurement{restart, reload}
}

// flagText renders extra flags for a unit's command line, each followed by
// a space.
func flagText(flags []string) string {
	var b strings.Builder
	for _, f := range flags {
		b.WriteString(f + " ")
	}
	return b.String()
}
