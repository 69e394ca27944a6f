package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// notifyListener plays systemd's part for a launcher run without systemd:
// it receives the sd_notify datagrams sent to NOTIFY_SOCKET.
type notifyListener struct {
	path string
	conn *net.UnixConn
	msgs chan string
}

func listenNotify(path string) (*notifyListener, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	n := &notifyListener{path: path, conn: conn, msgs: make(chan string, 256)}
	go func() {
		defer close(n.msgs)
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case n.msgs <- string(buf[:k]):
			default: // nobody is waiting for this many: drop
			}
		}
	}()
	return n, nil
}

func (n *notifyListener) close() {
	n.conn.Close()
	os.Remove(n.path)
}

// drain forgets the messages received so far.
func (n *notifyListener) drain() {
	for {
		select {
		case <-n.msgs:
		default:
			return
		}
	}
}

// waitFor waits for a datagram with the line want and returns it.
func (n *notifyListener) waitFor(ctx context.Context, want string) (string, error) {
	for {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no %s from the launcher: %w", want, ctx.Err())
		case m, ok := <-n.msgs:
			if !ok {
				return "", fmt.Errorf("notify socket closed before %s", want)
			}
			for line := range strings.Lines(m) {
				if strings.TrimSpace(line) == want {
					return m, nil
				}
			}
		}
	}
}

// launcher is `sdlaunch run` started by the bench, without systemd.
type launcher struct {
	p      *proc
	notify *notifyListener
	url    string
	ready  time.Duration // from start to READY=1
}

func startLauncher(ctx context.Context, cfg *config, name string, workers int) (*launcher, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ntf, err := listenNotify(filepath.Join(dir, "notify.sock"))
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "NOTIFY_SOCKET="+ntf.path)
	start := time.Now()
	argv := append([]string{cfg.sdlaunch, "run", "-w", fmt.Sprint(workers), "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, cfg.runFlags...)
	argv = append(argv, "--", "/usr/bin/gunicorn", "--preload", "-w", "1", "app:app")
	p, err := startProc("sdlaunch", cfg.appDir, filepath.Join(dir, "sdlaunch.log"), env, false, argv...)
	if err != nil {
		ntf.close()
		return nil, err
	}
	l := &launcher{p: p, notify: ntf, url: fmt.Sprintf("http://127.0.0.1:%d/", port)}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := ntf.waitFor(rctx, "READY=1"); err != nil {
		l.stop(cfg)
		return nil, fmt.Errorf("%s: %w (log: %s)", name, err, filepath.Join(dir, "sdlaunch.log"))
	}
	l.ready = time.Since(start)
	return l, nil
}

func (l *launcher) stop(cfg *config) {
	// SIGTERM is a graceful stop: up to --graceful-timeout (30s) for the workers.
	if err := l.p.stop(syscall.SIGTERM, 40*time.Second); err != nil {
		cfg.logf("%v", err)
	}
	l.notify.close()
}

// reload sends SIGHUP and waits for the launcher's verdict: RELOADING=1,
// then READY=1 (whose STATUS= says whether the new generation took over).
func (l *launcher) reload(ctx context.Context) error {
	l.notify.drain()
	if err := l.p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP: %w", err)
	}
	if _, err := l.notify.waitFor(ctx, "RELOADING=1"); err != nil {
		return err
	}
	m, err := l.notify.waitFor(ctx, "READY=1")
	if err != nil {
		return err
	}
	if strings.Contains(m, "failed") {
		return fmt.Errorf("reload rolled back: %q", m)
	}
	return nil
}

// standaloneReload: `sdlaunch run` without systemd, reloaded with SIGHUP.
func standaloneReload(ctx context.Context, cfg *config) measurement {
	const name = "standalone reload"
	cfg.logf("%s: starting sdlaunch run -w 2", name)
	l, err := startLauncher(ctx, cfg, "standalone", 2)
	if err != nil {
		return measurement{name: name, err: err}
	}
	defer l.stop(cfg)
	return underLoad(ctx, cfg, name, l.url, l.reload)
}

// footprint is the launcher's own cost with 4 workers.
type footprint struct {
	rssKiB   int
	ready    time.Duration // start to READY=1, 4 gunicorn workers
	idle     time.Duration // measurement period
	idleCPU  time.Duration // launcher CPU (user+system) during it
	err      error
	launcher int
}

func measureFootprint(ctx context.Context, cfg *config) footprint {
	cfg.logf("footprint: starting sdlaunch run -w 4, then %s idle", cfg.idle)
	l, err := startLauncher(ctx, cfg, "footprint", 4)
	if err != nil {
		return footprint{err: err}
	}
	defer l.stop(cfg)
	f := footprint{ready: l.ready, idle: cfg.idle, launcher: l.p.pid()}
	if err := waitServing(ctx, l.url, 30*time.Second); err != nil {
		f.err = err
		return f
	}
	before, err := cpuTime(f.launcher)
	if err != nil {
		f.err = err
		return f
	}
	if err := sleepUntil(ctx, time.Now().Add(cfg.idle)); err != nil {
		f.err = err
		return f
	}
	after, err := cpuTime(f.launcher)
	if err != nil {
		f.err = err
		return f
	}
	f.idleCPU = after - before
	if f.rssKiB, err = rssKiB(f.launcher); err != nil {
		f.err = err
	}
	if l.p.exited() {
		f.err = fmt.Errorf("footprint: the launcher exited during the measurement: %v", l.p.err)
	}
	return f
}
