package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// listenRaw is a blocking TCP socket listening on 127.0.0.1:port (0: any
// free port) with a backlog of 4096: what a systemd .socket unit passes.
func listenRaw(port int) (*os.File, int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("bind 127.0.0.1:%d: %w", port, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("getsockname: %w", err)
	}
	return os.NewFile(uintptr(fd), "listener"), sa.(*unix.SockaddrInet4).Port, nil
}

// activate runs argv with the socket as fd 3 and LISTEN_FDS=1,
// LISTEN_PID=its own pid: the shell sets it, then execs.
var activate = []string{"/bin/sh", "-c", `export LISTEN_FDS=1 LISTEN_PID=$$; exec "$@"`, "sh"}

// bareSet is the physical baseline: workers on one socket, no supervisor.
type bareSet struct {
	sock  *os.File
	port  int
	procs []*proc
}

func (b *bareSet) url() string { return fmt.Sprintf("http://127.0.0.1:%d/", b.port) }

// startBare starts n copies of argv on a new socket.
func startBare(cfg *config, name string, n int, argv ...string) (*bareSet, error) {
	sock, port, err := listenRaw(0)
	if err != nil {
		return nil, err
	}
	b := &bareSet{sock: sock, port: port}
	dir := filepath.Join(cfg.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i := range n {
		p, err := startProcFiles(name, cfg.appDir, filepath.Join(dir, fmt.Sprintf("worker%d.log", i)), os.Environ(), false,
			[]*os.File{sock}, append(slices.Clone(activate), argv...)...)
		if err != nil {
			b.stop(cfg)
			return nil, err
		}
		b.procs = append(b.procs, p)
	}
	return b, nil
}

func (b *bareSet) stop(cfg *config) {
	for _, p := range b.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range b.procs {
		if err := p.stop(syscall.SIGTERM, 30*time.Second); err != nil {
			cfg.logf("%v", err)
		}
	}
	b.sock.Close()
}

// bootTime is the app's own boot: from starting one gunicorn worker, alone,
// on a socket that already listens, to the answer to a request sent at
// that moment (it waits in the backlog until the worker accepts).
func bootTime(ctx context.Context, cfg *config, runs int) ([]time.Duration, error) {
	var out []time.Duration
	for i := range runs {
		bt, err := bootOnce(cfg, filepath.Join(cfg.dir, fmt.Sprintf("boot%d.log", i)), nil)
		if err != nil {
			return nil, err
		}
		took, err := bt.wait()
		bt.stop(cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, took)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// aBoot is one worker of the app booting on a socket of its own, with a
// request waiting in that socket's backlog.
type aBoot struct {
	sock  *os.File
	conn  net.Conn
	p     *proc
	start time.Time
}

// bootOnce starts cfg.worker, prefixed by prefix (nice -n N, say), on a new
// socket, and sends it a request that waits until the worker accepts.
func bootOnce(cfg *config, logPath string, prefix []string) (*aBoot, error) {
	sock, port, err := listenRaw(0)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		sock.Close()
		return nil, fmt.Errorf("boot: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		conn.Close()
		sock.Close()
		return nil, fmt.Errorf("boot: %w", err)
	}
	start := time.Now()
	argv := append(append(slices.Clone(prefix), activate...), cfg.worker...)
	p, err := startProcFiles("boot", cfg.appDir, logPath, os.Environ(), false, []*os.File{sock}, argv...)
	if err != nil {
		conn.Close()
		sock.Close()
		return nil, err
	}
	return &aBoot{sock: sock, conn: conn, p: p, start: start}, nil
}

// wait reads the answer: the time from exec to it.
func (bt *aBoot) wait() (time.Duration, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bt.conn), nil)
	took := time.Since(bt.start)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	if err != nil {
		return 0, fmt.Errorf("boot: first request: %w", err)
	}
	return took, nil
}

func (bt *aBoot) stop(cfg *config) {
	bt.conn.Close()
	if err := bt.p.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		cfg.logf("%v", err)
	}
	bt.sock.Close()
}

// bootBeside is the machine's floor for a reload: the CPU of booting and
// stopping one generation of the recipe, with no handover. It boots
// cfg.workers copies of cfg.worker beside the serving ones, each on a
// socket of its own and at the nice level at which the launcher boots a
// reload's successors, waits until each has answered, and stops them.
func bootBeside(cfg *config, nice int) func(context.Context) error {
	n := 0
	return func(ctx context.Context) error {
		var prefix []string
		if nice > 0 {
			prefix = []string{"/usr/bin/nice", "-n", strconv.Itoa(nice)}
		}
		var boots []*aBoot
		defer func() {
			for _, bt := range boots {
				bt.stop(cfg)
			}
		}()
		for i := range cfg.workers {
			n++
			bt, err := bootOnce(cfg, filepath.Join(cfg.dir, fmt.Sprintf("beside%d-%d.log", n, i)), prefix)
			if err != nil {
				return err
			}
			boots = append(boots, bt)
		}
		for _, bt := range boots {
			if _, err := bt.wait(); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
}

// reloadNice is the --reload-nice of the bench's launchers: the launcher's
// default unless -run-flags sets it.
func reloadNice(runFlags []string) int {
	nice := 10 // cmd/sdlaunch's defaultReloadNice
	for i, f := range runFlags {
		v, ok := strings.CutPrefix(f, "--reload-nice=")
		if !ok && f == "--reload-nice" && i+1 < len(runFlags) {
			v, ok = runFlags[i+1], true
		}
		if n, err := strconv.Atoi(v); ok && err == nil {
			nice = n
		}
	}
	return nice
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
