package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Units of the two setups that run under systemd 252 in the container.
const (
	gunicornUnit = "gunicorn-bench" // hand-written: what a Python user can do today
	sdlaunchUnit = "sdlaunch-bench" // sdlaunch as the service's main process
	// sdlaunch with gunicorn's READY=1 sent by its worker rather than by
	// its arbiter (testdata/ready_from_worker.py)
	workerReadyUnit = "sdlaunch-wready-bench"
	compareUnit     = "sdlaunch-compare-bench" // -compare's binary
)

// workerReadyArgv is the older gunicorn recipe, --preload with --ready
// notify, with READY=1 sent by the worker (testdata/ready_from_worker.py)
// rather than by the arbiter.
var workerReadyArgv = []string{"/usr/bin/gunicorn", "-c", "ready_from_worker.py", "--preload", "-w", "1", "app:app"}

// bootSystemd boots the container that the systemd setups share, with
// both pairs of units installed (not started).
func bootSystemd(ctx context.Context, cfg *config) (*container, map[string]int, error) {
	dir := filepath.Join(cfg.dir, "systemd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("systemd: %w", err)
	}
	ports := map[string]int{}
	for _, u := range []string{gunicornUnit, sdlaunchUnit, workerReadyUnit, compareUnit} {
		p, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		ports[u] = p
		if _, err := writeFile(dir, u+".socket", fmt.Sprintf("[Unit]\nDescription=%s socket\n\n[Socket]\nListenStream=127.0.0.1:%d\nBacklog=4096\n", u, p)); err != nil {
			return nil, nil, err
		}
	}
	// gunicorn reads LISTEN_FDS and sends READY=1 itself; its HUP is its
	// own graceful reload (a new set of workers, then the old ones stop).
	if _, err := writeFile(dir, gunicornUnit+".service", fmt.Sprintf(`[Unit]
Description=gunicorn bench service
Requires=%[1]s.socket
After=%[1]s.socket

[Service]
Type=notify
NotifyAccess=main
KillMode=mixed
WorkingDirectory=%[2]s
ExecStart=/usr/bin/gunicorn -w %[3]d app:app
ExecReload=/bin/kill -HUP $MAINPID
`, gunicornUnit, cfg.appDir, cfg.workers)); err != nil {
		return nil, nil, err
	}
	compare := cfg.compare
	if compare == "" {
		compare = cfg.sdlaunch
	}
	for _, u := range []struct {
		unit, bin string
		flags     []string
		argv      []string
	}{
		{sdlaunchUnit, cfg.sdlaunch, cfg.runFlags, cfg.worker},
		{workerReadyUnit, cfg.sdlaunch, []string{"--ready", "notify"}, workerReadyArgv},
		{compareUnit, compare, cfg.runFlags, cfg.worker},
	} {
		// As install writes it: the socket's Backlog= (4096) on the
		// command line too, so that the launcher sets it back after
		// gunicorn's listen(2048). A launcher from before --backlog
		// (a -compare) runs without it.
		if hasRunFlag(u.bin, "--backlog") && !slices.ContainsFunc(u.flags, func(f string) bool { return strings.HasPrefix(f, "--backlog") }) {
			u.flags = append(slices.Clone(u.flags), "--backlog=4096")
		}
		if _, err := writeFile(dir, u.unit+".service", fmt.Sprintf(`[Unit]
Description=sdlaunch bench service
Requires=%[3]s.socket
After=%[3]s.socket
# As sdlaunch generate writes them: a deploy may restart many times a minute.
StartLimitIntervalSec=60
StartLimitBurst=30

[Service]
Type=notify
NotifyAccess=main
KillMode=mixed
WorkingDirectory=%[2]s
ExecStart=%[1]s run -w %[5]d %[4]s-- %[6]s
ExecReload=%[1]s reload-wait $MAINPID
`, u.bin, cfg.appDir, u.unit, flagText(u.flags), cfg.workers, strings.Join(u.argv, " "))); err != nil {
			return nil, nil, err
		}
	}
	name := fmt.Sprintf("sdlbench-%d", os.Getpid())
	cfg.logf("systemd: booting container %s", name)
	c, err := bootContainer(ctx, name, cfg.dir, dir)
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.exec(ctx, "sh", "-c", fmt.Sprintf("cp %s/*.socket %s/*.service /etc/systemd/system/ && systemctl daemon-reload", dir, dir)); err != nil {
		c.powerOff()
		return nil, nil, err
	}
	stopped, err := quietContainer(ctx, c)
	if err != nil {
		c.powerOff()
		return nil, nil, err
	}
	cfg.logf("systemd: stopped what the image enables besides systemd's own: %s", strings.Join(stopped, " "))
	return c, ports, nil
}

// quietContainer stops and masks (until the container powers off) every
// service and timer the image enables besides systemd's own and D-Bus. The
// container boots the host's /usr with an empty /etc, so systemd enables
// everything by preset: the Debian packages the tests install start with
// it, and without their configuration some fail and restart over and over
// (supervisord, a Python program, every 50 s). In a steady state with no
// operation, every systemd scenario, the hand-written gunicorn unit's
// included, saw its worst request near 150-180 ms against 26 ms for the
// baseline on the host in the same run.
func quietContainer(ctx context.Context, c *container) ([]string, error) {
	out, err := c.exec(ctx, "systemctl", "list-unit-files", "--no-legend", "--no-pager", "--state=enabled", "--type=service,timer")
	if err != nil {
		return nil, err
	}
	var units []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.Contains(f[0], "@") || strings.HasPrefix(f[0], "systemd-") || strings.HasPrefix(f[0], "dbus") {
			continue
		}
		units = append(units, f[0])
	}
	if len(units) == 0 {
		return nil, nil
	}
	if _, err := c.exec(ctx, append([]string{"systemctl", "mask", "--runtime", "--now"}, units...)...); err != nil {
		return nil, err
	}
	if _, err := c.exec(ctx, "systemctl", "reset-failed"); err != nil {
		return nil, err
	}
	return units, nil
}

// saveJournal writes the container's journal for the bench units, the
// first thing to read when a number looks wrong.
func saveJournal(cfg *config, c *container) {
	jctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := c.exec(jctx, "journalctl", "--no-pager", "-o", "short-precise")
	_ = os.WriteFile(filepath.Join(cfg.dir, "systemd", "journal.log"), []byte(out), 0o644)
}

// unitSetup starts unit's socket and service in c; its operations are
// `systemctl restart` and `systemctl reload`.
func unitSetup(ctx context.Context, cfg *config, c *container, name, unit string, port int, gunicornOwnReload bool) (*setup, error) {
	if _, err := c.exec(ctx, "systemctl", "start", unit+".socket", unit+".service"); err != nil {
		return nil, err
	}
	s := &setup{name: name, url: fmt.Sprintf("http://127.0.0.1:%d/", port)}
	s.stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := c.exec(sctx, "systemctl", "stop", unit+".service", unit+".socket"); err != nil {
			cfg.logf("%s: %v", name, err)
		}
	}
	systemctl := func(verb string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.exec(ctx, "systemctl", verb, unit+".service")
			return err
		}
	}
	reload := systemctl("reload")
	if gunicornOwnReload {
		// systemctl reload returns once kill -HUP has run: wait, as for
		// supervisord, until gunicorn has replaced its workers.
		reload = func(ctx context.Context) error {
			master, err := mainPID(ctx, c, unit)
			if err != nil {
				return err
			}
			old := children(master)
			if err := systemctl("reload")(ctx); err != nil {
				return err
			}
			return waitRolled(ctx, master, old, cfg.workers)
		}
	}
	s.ops = []namedOp{{"restart", systemctl("restart")}, {"reload", reload}}
	s.journal = func(ctx context.Context, from, to time.Time) ([]byte, error) {
		out, err := c.exec(ctx, "journalctl", "--no-pager", "-o", "json",
			"--since", "@"+strconv.FormatFloat(float64(from.UnixMicro())/1e6, 'f', 6, 64),
			"--until", "@"+strconv.FormatFloat(float64(to.UnixMicro())/1e6, 'f', 6, 64))
		return []byte(out), err
	}
	if err := waitServing(ctx, s.url, 60*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// mainPID is the host's pid of unit's main process.
func mainPID(ctx context.Context, c *container, unit string) (int, error) {
	out, err := c.exec(ctx, "systemctl", "show", "-p", "MainPID", "--value", unit+".service")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s has no main process (%q)", unit, strings.TrimSpace(out))
	}
	return hostPID(c.pid1, pid)
}

// flagText renders extra flags for a unit's command line, each followed by
// a space.
// hasRunFlag reports whether `bin run --help` lists flag.
func hasRunFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "run", "--help").CombinedOutput()
	return strings.Contains(string(out), flag+" ")
}

func flagText(flags []string) string {
	var b strings.Builder
	for _, f := range flags {
		b.WriteString(f + " ")
	}
	return b.String()
}
