// Command goapp is a socket-activated HTTP app for the integration tests: it
// serves on fd 3 (LISTEN_FDS), answers with its worker slot, generation and
// pid, and logs one line per request to stdout.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS")); n < 1 || os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		fmt.Fprintln(os.Stderr, "goapp: no socket from LISTEN_FDS")
		os.Exit(2)
	}
	l, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "goapp:", err)
		os.Exit(1)
	}
	worker, gen := os.Getenv("SDLAUNCH_WORKER"), os.Getenv("SDLAUNCH_GENERATION")
	fmt.Printf("goapp worker %s generation %s pid %d ready\n", worker, gen, os.Getpid())
	err = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("goapp request %s handled by worker %s\n", r.URL.Path, worker)
		fmt.Fprintf(w, "worker=%s generation=%s pid=%d\n", worker, gen, os.Getpid())
	}))
	fmt.Fprintln(os.Stderr, "goapp:", err)
	os.Exit(1)
}
