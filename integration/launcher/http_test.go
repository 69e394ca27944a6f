package launcher

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/ports"
	"github.com/sdlaunch/sdlaunch/integration/testapp/report"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// from 2000-6999, outside the kernel's ephemeral range (see package
// ports): the launcher binds it later. The units tests take their ports
// from other ranges.
func freePort(t *testing.T) int {
	t.Helper()
	p, err := ports.Free(2000, 6999)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// portFree reports whether 127.0.0.1:port can be bound (nobody listens).
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// listenArg is the --listen value of 127.0.0.1:port.
func listenArg(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// client makes one connection per request: requests spread over the
// workers and a client never retries on a pooled connection.
func client(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
		},
	}
}

// unixClient is client for an HTTP server on a unix socket.
func unixClient(path string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}

// get does one GET and returns the status and body.
func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, string(b), fmt.Errorf("GET %s: read body: %w", url, err)
	}
	return resp.StatusCode, string(b), nil
}

// mustGet does one GET that must answer 200.
func mustGet(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	code, body, err := get(c, url)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, code, body)
	}
	return body
}

// getJSON GETs url into v.
func getJSON(c *http.Client, url string, v any) error {
	code, body, err := get(c, url)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// waitServing polls url until it answers 200.
func waitServing(t *testing.T, c *http.Client, url string, timeout time.Duration) {
	t.Helper()
	var last error
	ok := pollUntil(timeout, func() bool {
		code, body, err := get(c, url)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d: %s", code, body)
		}
		last = err
		return err == nil
	})
	if !ok {
		t.Fatalf("%s did not answer 200 within %s: %v", url, timeout, last)
	}
}

var pidRe = regexp.MustCompile(`pid[ =](\d+)|^(\d+)\s*$`)

// pidOf extracts the pid from a body like "4242\n", "hello from pid 4242"
// or "... pid=4242".
func pidOf(body string) int {
	m := pidRe.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	s := m[1]
	if s == "" {
		s = m[2]
	}
	n, _ := strconv.Atoi(s)
	return n
}

// distinctPids requests url from 4 concurrent clients until n distinct pids
// have answered (parsed with pidOf), failing the test after timeout.
func distinctPids(t *testing.T, c *http.Client, url string, n int, timeout time.Duration) map[int]bool {
	t.Helper()
	return untilDistinct(t, url, n, timeout, func() (int, bool, error) {
		code, body, err := get(c, url)
		switch {
		case err != nil:
			return 0, false, err
		case code != http.StatusOK:
			return 0, false, fmt.Errorf("GET %s: status %d", url, code)
		}
		return pidOf(body), true, nil
	})
}

// untilDistinct calls ask from 4 concurrent clients until n distinct pids
// (> 0) have answered, and returns what each one answered; it fails the
// test after timeout, naming what was asked (what).
func untilDistinct[V any](t *testing.T, what string, n int, timeout time.Duration, ask func() (pid int, v V, err error)) map[int]V {
	t.Helper()
	var (
		mu      sync.Mutex
		seen    = map[int]V{}
		lastErr error
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				pid, v, err := ask()
				mu.Lock()
				if err != nil {
					lastErr = err
				} else if pid > 0 {
					seen[pid] = v
				}
				enough := len(seen) >= n
				mu.Unlock()
				if enough {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < n {
		t.Fatalf("only %d distinct pids answered %s within %s (want %d): %v; last error: %v", len(seen), what, timeout, n, keys(seen), lastErr)
	}
	return seen
}

// collectEnv GETs base+"/env" until every pid in pids has answered.
func collectEnv(t *testing.T, c *http.Client, base string, pids map[int]bool, timeout time.Duration) map[int]report.Env {
	t.Helper()
	got := map[int]report.Env{}
	waitUntil(t, timeout, fmt.Sprintf("all of %v answered /env", keys(pids)), func() bool {
		var r report.Env
		if err := getJSON(c, base+"/env", &r); err == nil && pids[r.PID] {
			got[r.PID] = r
		}
		return len(got) == len(pids)
	})
	return got
}

func keys[V any](m map[int]V) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
