// Command go-example is the README's demo app: an ordinary socket-activated Go
// HTTP service using go-systemd, with nothing sdlaunch-specific in it.
//
//	go build -o /tmp/hello ./contrib/examples/go
//	sdlaunch run -w 4 --listen 127.0.0.1:8000 -- /tmp/hello
//	curl 127.0.0.1:8000/   # hello from worker 2 (pid 4242, generation 1)
//
// It serves on every socket in LISTEN_FDS, reports READY=1 once it accepts,
// pings the watchdog when WATCHDOG_USEC asks for it, and on SIGTERM or SIGINT
// stops accepting and answers every connection it accepted before exiting 0,
// so that a rolling reload loses no request.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// shutdownTimeout bounds the drain; keep it below sdlaunch's --graceful-timeout.
const shutdownTimeout = 25 * time.Second

func main() {
	log.SetFlags(0)
	log.SetPrefix("hello: ")
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	listeners, err := activation.Listeners()
	if err != nil {
		return fmt.Errorf("socket activation: %w", err)
	}
	var live []net.Listener
	for _, l := range listeners {
		if l != nil {
			live = append(live, l)
		}
	}
	if len(live) == 0 {
		return errors.New("no sockets passed (LISTEN_FDS): run me under sdlaunch or systemd")
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", hello)
	mux.HandleFunc("/slow", slow)
	var open atomic.Int64 // accepted connections not yet closed
	srv := &http.Server{
		Handler:           mux,
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
	log.Printf("pid %d serving on %d socket(s)", os.Getpid(), len(live))
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Printf("sd_notify READY: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if interval, err := daemon.SdWatchdogEnabled(false); err != nil {
		log.Printf("watchdog: %v", err)
	} else if interval > 0 {
		go watchdog(ctx, interval)
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Printf("pid %d stopping: finishing in-flight requests", os.Getpid())
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)

	// Stop accepting and answer every connection already accepted. Calling
	// srv.Shutdown right away is not enough when other processes share the
	// socket: net/http closes, unanswered, a connection accepted just before
	// Shutdown whose request it reads afterwards, and that client sees an
	// error during every reload. So: no keep-alives, close our listeners
	// (the other workers go on accepting), let Serve return so that every
	// accepted connection is counted, wait for them, then Shutdown.
	srv.SetKeepAlivesEnabled(false)
	for _, l := range live {
		_ = l.Close()
	}
	for range live {
		<-serveErr
	}
	deadline := time.Now().Add(shutdownTimeout)
	for open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Printf("pid %d stopped", os.Getpid())
	return nil
}

func hello(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	fmt.Fprintf(w, "hello from worker %s (pid %d, generation %s)\n",
		envOr("SDLAUNCH_WORKER", "?"), os.Getpid(), envOr("SDLAUNCH_GENERATION", "?"))
}

func slow(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil {
		ms = 1000
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		fmt.Fprintf(w, "slept %d ms in pid %d\n", ms, os.Getpid())
	case <-r.Context().Done():
	}
}

// watchdog pings at a third of the interval. A real service would ping only
// after checking its own health (its event loop, its database connection).
func watchdog(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog); err != nil {
				log.Printf("watchdog ping: %v", err)
			}
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
