// Command testapp is the worker the black-box launcher tests run under
// `sdlaunch run`. It is an ordinary socket-activated Go service (go-systemd's
// activation and daemon packages, unmodified), with knobs that make it
// misbehave on purpose.
//
// Behaviour is chosen by the environment (so that it survives the exec shim and
// systemd-socket-activate) or by the equivalent flags:
//
//	TESTAPP_MODE         comma-separated list of:
//	                       serve (default)   serve HTTP on every LISTEN_FDS socket
//	                       exit-at-boot      print an error line and exit 3 at once
//	                       notify            send READY=1 (after TESTAPP_READY_DELAY)
//	                       hang              stop pinging the watchdog and block the
//	                                         handlers after TESTAPP_HANG_AFTER
//	                       ignore-term       ignore SIGTERM (SIGKILL escalation tests)
//	                       grandchild        spawn a child of our own that ignores
//	                                         SIGTERM/SIGINT and never exits
//	                       linger=PATH       once drained, stay (holding nothing)
//	                                         until PATH exists, as a slow exit does
//	                       hold-listener=PATH  on the stop signal, keep a duplicate of
//	                                         each listening socket (accepting nothing)
//	                                         until PATH exists, as a server that
//	                                         closes its listener only at exit does
//	TESTAPP_READY_DELAY  delay before READY=1 in notify mode (default 0)
//	TESTAPP_HANG_AFTER   delay before hanging in hang mode (default 0)
//
// It refuses to start (exit 10, one loud line) when LISTEN_PID or WATCHDOG_PID
// names another process: that proves the launcher's exec shim did its job.
//
// Endpoints: /pid, /slow?ms=N&id=X (with until_file=PATH: sleep only once
// PATH exists; with until=stop: sleep only once the stop
// signal came), /env, /fds, /print?n=N&len=L&stream=stderr (with until_file=PATH: print only once
// PATH exists), /notify?state=S,
// /hang, /exit?code=N.
//
// On SIGTERM or SIGINT it logs the signal, stops accepting, drains in-flight
// requests (http.Server.Shutdown) and exits 0.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/sdlaunch/sdlaunch/integration/testapp/report"
)

type config struct {
	modes      map[string]string
	readyDelay time.Duration
	hangAfter  time.Duration
}

func (c *config) has(mode string) bool {
	_, ok := c.modes[mode]
	return ok
}

type app struct {
	cfg        config
	con        *console
	startupFDs []report.FD
	startEnv   map[string]string
	worker     string

	hangOnce sync.Once
	hung     chan struct{} // closed when the app "hangs"
	stopping chan struct{} // closed when the stop signal arrived
}

func main() {
	// First of all, before anything can open a descriptor: what did we inherit?
	startupFDs := listFDs()
	startEnv := interestingEnv()
	os.Exit(run(startupFDs, startEnv))
}

func run(startupFDs []report.FD, startEnv map[string]string) int {
	con := &console{}
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		con.logf("testapp: bad configuration: %v", err)
		return 2
	}
	if cfg.has("grandchild") && os.Getenv("TESTAPP_IS_GRANDCHILD") == "1" {
		return grandchild(con)
	}
	a := &app{
		cfg:        cfg,
		con:        con,
		startupFDs: startupFDs,
		startEnv:   startEnv,
		worker:     os.Getenv("SDLAUNCH_WORKER"),
		hung:       make(chan struct{}),
		stopping:   make(chan struct{}),
	}
	return a.main()
}

func parseConfig(args []string) (config, error) {
	fs := flag.NewFlagSet("testapp", flag.ContinueOnError)
	mode := fs.String("mode", envOr("TESTAPP_MODE", "serve"), "comma-separated modes")
	readyDelay := fs.String("ready-delay", envOr("TESTAPP_READY_DELAY", "0s"), "delay before READY=1 (notify mode)")
	hangAfter := fs.String("hang-after", envOr("TESTAPP_HANG_AFTER", "0s"), "delay before hanging (hang mode)")
	if err := fs.Parse(args); err != nil {
		return config{}, fmt.Errorf("parse flags: %w", err)
	}
	cfg := config{modes: map[string]string{}}
	for _, m := range strings.Split(*mode, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		name, val, _ := strings.Cut(m, "=")
		switch name {
		case "serve", "exit-at-boot", "notify", "hang", "ignore-term", "grandchild", "linger", "hold-listener":
		default:
			return config{}, fmt.Errorf("unknown mode %q", name)
		}
		cfg.modes[name] = val
	}
	var err error
	if cfg.readyDelay, err = time.ParseDuration(*readyDelay); err != nil {
		return config{}, fmt.Errorf("ready delay: %w", err)
	}
	if cfg.hangAfter, err = time.ParseDuration(*hangAfter); err != nil {
		return config{}, fmt.Errorf("hang after: %w", err)
	}
	return cfg, nil
}

func (a *app) main() int {
	pid := os.Getpid()
	if a.cfg.has("exit-at-boot") {
		a.con.logf("testapp: w=%s pid=%d starting", a.worker, pid)
		a.con.logf("testapp: FATAL: cannot load configuration (exit-at-boot): giving up with status 3")
		return 3
	}
	// Signal handling first: once the "serving" line is out, a stop signal
	// is handled (or ignored) as configured.
	sigs := make(chan os.Signal, 4)
	if a.cfg.has("ignore-term") {
		signal.Ignore(syscall.SIGTERM)
		signal.Notify(sigs, syscall.SIGINT) // Notify(SIGTERM) would undo the Ignore
	} else {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	}

	// The shim proof: LISTEN_PID (and WATCHDOG_PID, when set) must be our own pid.
	if lp := os.Getenv("LISTEN_PID"); lp != strconv.Itoa(pid) {
		a.con.logf("testapp: FATAL: LISTEN_PID=%q but my pid is %d: the sockets were not handed to me", lp, pid)
		return 10
	}
	if wp, ok := os.LookupEnv("WATCHDOG_PID"); ok && wp != strconv.Itoa(pid) {
		a.con.logf("testapp: FATAL: WATCHDOG_PID=%q but my pid is %d", wp, pid)
		return 10
	}
	wdInterval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		a.con.logf("testapp: FATAL: watchdog settings: %v", err)
		return 10
	}
	listeners, err := activation.Listeners()
	if err != nil {
		a.con.logf("testapp: FATAL: activation: %v", err)
		return 10
	}
	var live []net.Listener
	for i, l := range listeners {
		if l == nil {
			a.con.logf("testapp: FATAL: LISTEN_FDS socket %d is not a stream listener", i+3)
			return 10
		}
		live = append(live, l)
	}
	if len(live) == 0 {
		a.con.logf("testapp: FATAL: no sockets (LISTEN_FDS=%q)", a.startEnv["LISTEN_FDS"])
		return 10
	}

	if a.cfg.has("grandchild") {
		if err := a.spawnGrandchild(); err != nil {
			a.con.logf("testapp: FATAL: spawn grandchild: %v", err)
			return 10
		}
	}

	var open atomic.Int64 // connections accepted and not yet closed
	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		},
	}
	serveErr := make(chan error, len(live))
	for _, l := range live {
		go func(l net.Listener) { serveErr <- srv.Serve(l) }(l)
	}
	a.con.logf("testapp: w=%s pid=%d serving on %d socket(s), modes %s", a.worker, pid, len(live), a.modeString())

	if a.cfg.has("notify") {
		go a.notifyReady()
	}
	if wdInterval > 0 {
		go a.watchdog(wdInterval)
	}
	if a.cfg.has("hang") {
		go func() {
			time.Sleep(a.cfg.hangAfter)
			a.hang()
		}()
	}
	select {
	case err := <-serveErr:
		a.con.logf("testapp: FATAL: serve: %v", err)
		return 11
	case sig := <-sigs:
		a.con.logf("testapp: w=%s pid=%d got signal %s, draining", a.worker, pid, sigName(sig))
		close(a.stopping)
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	var held []int
	if a.cfg.has("hold-listener") {
		for _, l := range live {
			if fd, err := dupListener(l); err == nil {
				held = append(held, fd)
			} else {
				a.con.logf("testapp: hold-listener: %v", err)
			}
		}
	}
	if err := drain(srv, live, serveErr, &open, 2*time.Minute); err != nil {
		a.con.logf("testapp: shutdown: %v", err)
		return 12
	}
	if f := a.cfg.modes["hold-listener"]; f != "" {
		a.con.logf("testapp: w=%s pid=%d drained, holding %d listening socket(s) until %s exists", a.worker, pid, len(held), f)
		awaitFile(f)
		for _, fd := range held {
			_ = syscall.Close(fd)
		}
	}
	if f := a.cfg.modes["linger"]; f != "" {
		a.con.logf("testapp: w=%s pid=%d drained, lingering until %s exists", a.worker, pid, f)
		awaitFile(f)
	}
	a.con.logf("testapp: w=%s pid=%d drained, exiting 0", a.worker, pid)
	return 0
}

// awaitFile returns once path exists (at most 2 minutes).
func awaitFile(path string) {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
}

// dupListener duplicates l's descriptor (close-on-exec) without touching
// its flags: (*os.File).Fd() would make the shared socket blocking.
func dupListener(l net.Listener) (int, error) {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", l)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(raw uintptr) {
		fd, dupErr = syscall.Dup(int(raw))
		if dupErr == nil {
			syscall.CloseOnExec(fd)
		}
	}); err != nil {
		return -1, err
	}
	return fd, dupErr
}

// drain stops accepting and waits for every accepted connection to be
// answered and closed.
//
// http.Server.Shutdown alone is not enough on a socket shared by several
// processes: a connection this process accepted just before Shutdown, whose
// request is read after it began, is closed without an answer (net/http
// checks shuttingDown() right after reading a request), and the client sees
// EOF although another worker would have served it. So: no keep-alives,
// close the listeners (the other workers keep accepting on the shared
// socket), wait for Serve to return so that every accepted connection is
// counted, serve those to the end, and only then Shutdown.
func drain(srv *http.Server, listeners []net.Listener, serveErr <-chan error, open *atomic.Int64, timeout time.Duration) error {
	srv.SetKeepAlivesEnabled(false)
	for _, l := range listeners {
		_ = l.Close()
	}
	for range listeners {
		<-serveErr
	}
	deadline := time.Now().Add(timeout)
	for open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func (a *app) modeString() string {
	var ms []string
	for k, v := range a.cfg.modes {
		if v != "" {
			k += "=" + v
		}
		ms = append(ms, k)
	}
	sort.Strings(ms)
	if len(ms) == 0 {
		return "serve"
	}
	return strings.Join(ms, ",")
}

func (a *app) notifyReady() {
	time.Sleep(a.cfg.readyDelay)
	sent, err := daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS=testapp w="+a.worker+" ready")
	a.con.logf("testapp: w=%s pid=%d READY=1 sent=%v err=%v", a.worker, os.Getpid(), sent, err)
}

func (a *app) watchdog(interval time.Duration) {
	t := time.NewTicker(interval / 3)
	defer t.Stop()
	for {
		select {
		case <-a.hung:
			return
		case <-t.C:
			if _, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog); err != nil {
				a.con.logf("testapp: watchdog ping: %v", err)
			}
		}
	}
}

func (a *app) hang() {
	a.hangOnce.Do(func() {
		a.con.logf("testapp: w=%s pid=%d hanging now (no more watchdog pings, handlers block)", a.worker, os.Getpid())
		close(a.hung)
	})
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	blockIfHung := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-a.hung:
				<-r.Context().Done() // a deadlocked app never answers
				return
			default:
			}
			h(w, r)
		}
	}
	mux.HandleFunc("/pid", blockIfHung(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%d\n", os.Getpid())
	}))
	mux.HandleFunc("/slow", blockIfHung(func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		id := r.URL.Query().Get("id")
		a.con.logf("testapp: w=%s pid=%d slow begin id=%s ms=%d", a.worker, os.Getpid(), id, ms)
		if r.URL.Query().Get("until") == "stop" {
			<-a.stopping // in flight when the stop signal comes, by construction
		}
		if f := r.URL.Query().Get("until_file"); f != "" {
			// In flight until the test says so (by creating f), whatever
			// the launcher and the app do meanwhile.
			for {
				if _, err := os.Stat(f); err == nil {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "slow done id=%s pid=%d\n", id, os.Getpid())
	}))
	mux.HandleFunc("/env", func(w http.ResponseWriter, _ *http.Request) {
		a.writeJSON(w, report.Env{
			PID: os.Getpid(), PPID: os.Getppid(), PGID: syscall.Getpgrp(),
			Env: a.startEnv,
		})
	})
	mux.HandleFunc("/fds", func(w http.ResponseWriter, _ *http.Request) {
		a.writeJSON(w, report.FDs{PID: os.Getpid(), Startup: a.startupFDs, Now: listFDs()})
	})
	mux.HandleFunc("/print", a.handlePrint)
	mux.HandleFunc("/notify", func(w http.ResponseWriter, r *http.Request) {
		sent, err := daemon.SdNotify(false, r.URL.Query().Get("state"))
		fmt.Fprintf(w, "sent=%v err=%v\n", sent, err)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, _ *http.Request) {
		a.hang()
		fmt.Fprintf(w, "hung %d\n", os.Getpid())
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Fprintf(w, "exiting %d with %d\n", os.Getpid(), code)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		go func() {
			time.Sleep(50 * time.Millisecond)
			a.con.logf("testapp: w=%s pid=%d exiting %d on request", a.worker, os.Getpid(), code)
			os.Exit(code)
		}()
	})
	return mux
}

// handlePrint writes n long lines and a traceback-like block to stderr (or
// stdout) as one burst: one write(2) of the whole burst, far larger than
// PIPE_BUF, continued only where the kernel cut it short (console.write), so
// that the launcher's log forwarding is tested with bursts that arrive in
// pieces the size of the pipe.
//
// Line format (the tests parse it):
//
//	LINE w=<slot> pid=<pid> req=<req> seq=<i> <payload of len x's> END
//	TB w=<slot> pid=<pid> req=<req> k=<i> ...
//
// The answer says how many write(2) calls were cut short ("short=N").
func (a *app) handlePrint(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("n"))
	length, err := strconv.Atoi(q.Get("len"))
	if err != nil {
		length = 2000
	}
	req := q.Get("req")
	pid := os.Getpid()
	if f := q.Get("until_file"); f != "" {
		// Accepted and held until the test creates f, so that the test
		// can place bursts on chosen workers and release them together.
		a.con.logf("testapp: w=%s pid=%d print held=%s", a.worker, pid, req)
		for {
			if _, err := os.Stat(f); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	payload := strings.Repeat("x", length)
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "LINE w=%s pid=%d req=%s seq=%d %s END\n", a.worker, pid, req, i, payload)
	}
	fmt.Fprintf(&b, "TB w=%s pid=%d req=%s k=0 Traceback (most recent call last):\n", a.worker, pid, req)
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "TB w=%s pid=%d req=%s k=%d   File \"/srv/app/views.py\", line %d, in handler_%d\n", a.worker, pid, req, i, 10*i, i)
	}
	fmt.Fprintf(&b, "TB w=%s pid=%d req=%s k=7 RuntimeError: boom\n", a.worker, pid, req)
	fd := stderrFD
	if q.Get("stream") == "stdout" {
		fd = stdoutFD
	}
	short, err := a.con.write(fd, []byte(b.String()))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "printed %d lines + 8 traceback lines pid=%d short=%d\n", n, pid, short)
}

func (a *app) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		a.con.logf("testapp: encode: %v", err)
	}
}

// interestingEnv returns the variables the tests check, as received.
func interestingEnv() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		for _, p := range []string{"SDLAUNCH_", "LISTEN_", "WATCHDOG_", "WERKZEUG_", "TESTAPP_"} {
			if strings.HasPrefix(k, p) {
				env[k] = v
			}
		}
		if k == "NOTIFY_SOCKET" || k == "JOURNAL_STREAM" {
			env[k] = v
		}
	}
	return env
}

func (a *app) spawnGrandchild() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "TESTAPP_IS_GRANDCHILD=1", "TESTAPP_MODE=grandchild")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	a.con.logf("testapp: pid=%d spawned grandchild pid=%d", os.Getpid(), cmd.Process.Pid)
	go func() { _ = cmd.Wait() }()
	return nil
}

// grandchild ignores the polite signals and waits forever: only a SIGKILL of
// its process group gets rid of it.
func grandchild(con *console) int {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	con.logf("testapp: grandchild pid=%d waiting forever", os.Getpid())
	select {}
}

func sigName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return s.String()
}

func envOr(k, def string) string {
	if v, ok := os.LookupEnv(k); ok && v != "" {
		return v
	}
	return def
}
