package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The accept queue between scenarios, and its overflows during one.
//
// In the open loop a stall becomes queued connections; once the listening
// socket's queue is full the kernel drops SYNs ("Possible SYN flooding ...
// Sending cookies"), and those requests time out. TcpExt's ListenOverflows
// counts them, per network namespace (the bench's containers share the
// host's), so each scenario reports how many it caused. A scenario starts
// only once the queue its load goes to is empty, so that what the previous
// one left queued is not counted against it.

// listenOverflows reads TcpExt ListenOverflows from /proc/net/netstat.
func listenOverflows() (int64, error) {
	f, err := os.Open("/proc/net/netstat")
	if err != nil {
		return 0, fmt.Errorf("listen overflows: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, n := range names {
			if n == "ListenOverflows" && i < len(fields) {
				return strconv.ParseInt(fields[i], 10, 64)
			}
		}
		break
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("listen overflows: %w", err)
	}
	return 0, fmt.Errorf("listen overflows: no TcpExt ListenOverflows in /proc/net/netstat")
}

// acceptQueue returns how many connections wait in the accept queue of the
// TCP listening socket on rawURL's port (/proc/net/tcp's rx_queue of a
// LISTEN entry; the sum over several, as with SO_REUSEPORT).
func acceptQueue(rawURL string) (int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, fmt.Errorf("accept queue: %w", err)
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("accept queue: port of %q: %w", rawURL, err)
	}
	var text strings.Builder
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("accept queue: %w", err)
		}
		_, tail, _ := strings.Cut(string(b), "\n") // each file's header line
		text.WriteString(tail)
	}
	return listenQueued(text.String(), uint16(port))
}

// listenQueued parses the entries of /proc/net/tcp and tcp6 (without their
// header lines) for acceptQueue.
func listenQueued(table string, port uint16) (int, error) {
	want := fmt.Sprintf(":%04X", port)
	n, found := 0, false
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[3] != "0A" || !strings.HasSuffix(f[1], want) {
			continue
		}
		_, rx, ok := strings.Cut(f[4], ":")
		if !ok {
			return 0, fmt.Errorf("accept queue: bad queue field %q", f[4])
		}
		q, err := strconv.ParseUint(rx, 16, 32)
		if err != nil {
			return 0, fmt.Errorf("accept queue: bad queue field %q: %w", f[4], err)
		}
		n, found = n+int(q), true
	}
	if !found {
		return 0, fmt.Errorf("accept queue: nothing listens on port %d", port)
	}
	return n, nil
}

// queueDrainWait bounds the wait for an empty accept queue.
const queueDrainWait = 30 * time.Second

// awaitEmptyQueue waits until nothing waits in the accept queue of
// rawURL's listener, and says how many still did at the bound.
func awaitEmptyQueue(ctx context.Context, rawURL string) error {
	deadline := time.Now().Add(queueDrainWait)
	for {
		n, err := acceptQueue(rawURL)
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d connections still queued on %s after %s", n, rawURL, queueDrainWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
