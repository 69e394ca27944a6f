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
	port   int
	ready  time.Duration // from start to READY=1
}

// startLauncher runs `sdlaunch run -w workers --listen 127.0.0.1:port
// [flags] -- argv` (port 0: a free one) and waits for READY=1.
func startLauncher(ctx context.Context, cfg *config, name string, workers, port int, flags []string, argv ...string) (*launcher, error) {
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(cfg.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sockPath := filepath.Join(dir, "notify.sock")
	os.Remove(sockPath)
	ntf, err := listenNotify(sockPath)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "NOTIFY_SOCKET="+ntf.path)
	start := time.Now()
	args := append([]string{cfg.sdlaunch, "run", "-w", fmt.Sprint(workers), "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, flags...)
	args = append(append(args, "--"), argv...)
	p, err := startProc("sdlaunch", cfg.appDir, filepath.Join(dir, fmt.Sprintf("sdlaunch-%d.log", time.Now().UnixNano())), env, false, args...)
	if err != nil {
		ntf.close()
		return nil, err
	}
	l := &launcher{p: p, notify: ntf, url: fmt.Sprintf("http://127.0.0.1:%d/", port), port: port}
	rctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	if _, err := ntf.waitFor(rctx, "READY=1"); err != nil {
		l.stop(cfg)
		return nil, fmt.Errorf("%s: %w (logs in %s)", name, err, dir)
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

// startStandalone is `sdlaunch run` without systemd, on a laptop or under
// another supervisor: reloaded with SIGHUP, restarted by stopping it
// (SIGTERM, graceful) and running it again on the same port.
func startStandalone(ctx context.Context, cfg *config) (*setup, error) {
	const name = "sdlaunch standalone"
	cfg.logf("%s: starting sdlaunch run -w %d", name, cfg.workers)
	l, err := startLauncher(ctx, cfg, "standalone", cfg.workers, 0, cfg.runFlags, cfg.worker...)
	if err != nil {
		return nil, err
	}
	s := &setup{name: name, url: l.url}
	s.stop = func() { l.stop(cfg) }
	s.ops = []namedOp{
		{"restart", func(ctx context.Context) error {
			l.stop(cfg)
			nl, err := startLauncher(ctx, cfg, "standalone", cfg.workers, l.port, cfg.runFlags, cfg.worker...)
			if err != nil {
				return err
			}
			l = nl
			return nil
		}},
		{"reload", func(ctx context.Context) error { return l.reload(ctx) }},
	}
	return s, nil
}
