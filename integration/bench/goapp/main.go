// Command goapp is the bench's Go worker: an ordinary socket-activated HTTP
// service (go-systemd, unmodified) used where the launcher's own cost is
// measured, so that a Python interpreter's boot does not hide it.
//
//	GET /     "ok", with X-Worker-Pid naming the process that answered
//	GET /cpu  the same after about 2 ms of CPU work (accept balance)
//
// With -log-requests it prints one access-log line per request to stderr,
// as Werkzeug does. With -lines N it first writes N lines of -line-len bytes
// to stdout as fast as the pipe takes them, then "goapp: lines done", then
// serves (log-forwarding throughput). It sends READY=1 once it serves and,
// on SIGTERM or SIGINT, stops accepting, answers what it accepted and exits 0.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

func main() {
	logRequests := flag.Bool("log-requests", false, "one stderr line per request")
	lines := flag.Int("lines", 0, "write this many lines to stdout first")
	lineLen := flag.Int("line-len", 100, "length of each -lines line, newline included")
	linesAfter := flag.Duration("lines-after", 0, "wait this long before writing the -lines")
	flag.Parse()
	log.SetFlags(0)
	time.Sleep(*linesAfter)
	if err := run(*logRequests, *lines, *lineLen); err != nil {
		log.Fatalf("goapp: %v", err)
	}
}

func run(logRequests bool, lines, lineLen int) error {
	if lines > 0 {
		if err := writeLines(lines, lineLen); err != nil {
			return err
		}
	}
	listeners, err := activation.Listeners()
	if err != nil {
		return fmt.Errorf("socket activation: %w", err)
	}
	if len(listeners) == 0 {
		return errors.New("no sockets passed (LISTEN_FDS)")
	}
	pid := strconv.Itoa(os.Getpid())
	var logMu sync.Mutex
	stderr := bufio.NewWriter(os.Stderr)
	handle := func(spin time.Duration) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if spin > 0 {
				for t := time.Now(); time.Since(t) < spin; {
				}
			}
			w.Header().Set("X-Worker-Pid", pid)
			_, _ = w.Write([]byte("ok\n"))
			if logRequests {
				logMu.Lock()
				fmt.Fprintf(stderr, "127.0.0.1 - - [%s] \"%s %s HTTP/1.1\" 200 -\n", time.Now().Format("02/Jan/2006 15:04:05"), r.Method, r.URL.Path)
				_ = stderr.Flush() // one write(2) per line, as Python's logging does
				logMu.Unlock()
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", handle(0))
	mux.HandleFunc("/cpu", handle(2*time.Millisecond))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, len(listeners))
	for _, l := range listeners {
		go func(l net.Listener) { serveErr <- srv.Serve(l) }(l)
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Close our listeners first (the other workers go on accepting), then
	// answer what was accepted: see contrib/examples/go.
	srv.SetKeepAlivesEnabled(false)
	for _, l := range listeners {
		_ = l.Close()
	}
	for range listeners {
		<-serveErr
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// writeLines writes n lines of length lineLen (newline included) to
// stdout, one write(2) each, as a logging library flushing every line does.
func writeLines(n, lineLen int) error {
	body := strings.Repeat("x", max(lineLen-17, 1))
	for i := range n {
		if _, err := fmt.Fprintf(os.Stdout, "line %010d %s\n", i, body); err != nil {
			return fmt.Errorf("stdout: %w", err)
		}
	}
	_, err := fmt.Fprintln(os.Stdout, "goapp: lines done")
	return err
}
