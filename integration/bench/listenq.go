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
// only once the queue its load goes to is empty and the previous load's
// client sockets to that port are gone, so that what the previous one left
// is not counted against it: a request that timed out leaves an orphaned
// socket (FIN_WAIT1) that retransmits into the listener for up to a minute
// (tcp_orphan_retries), and each retransmission that SYN cookies validate
// makes a new connection in the next scenario. Seen before this wait: a
// closed loop of 8 clients, right after a collapsed open loop, had 1,537
// overflows and a 15 s stall in which every gunicorn sync worker held an
// accepted connection and answered nothing.

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

// tcpTable returns the entries of /proc/net/tcp and tcp6, without their
// header lines, and the port of rawURL.
func tcpTable(rawURL string) (string, uint16, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", 0, fmt.Errorf("tcp table: %w", err)
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("tcp table: port of %q: %w", rawURL, err)
	}
	var text strings.Builder
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", 0, fmt.Errorf("tcp table: %w", err)
		}
		_, tail, _ := strings.Cut(string(b), "\n") // each file's header line
		text.WriteString(tail)
	}
	return text.String(), uint16(port), nil
}

// clientSockets counts the sockets whose remote end is port (clients of
// it) and that may still send to it: every state but TIME_WAIT (06) and
// CLOSE (07).
func clientSockets(table string, port uint16) int {
	want := fmt.Sprintf(":%04X", port)
	n := 0
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasSuffix(f[2], want) || f[3] == "06" || f[3] == "07" {
			continue
		}
		n++
	}
	return n
}

// listenQueued counts, in tcpTable's entries, the connections waiting in
// the accept queue of the TCP listening sockets on port (rx_queue of a
// LISTEN entry; the sum over several, as with SO_REUSEPORT).
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

// quietWait bounds the wait for a quiet listener: orphaned sockets give
// up after about a minute (8 retransmissions from a 200 ms timeout,
// doubling).
const quietWait = 3 * time.Minute

// awaitQuiet waits until nothing waits in the accept queue of rawURL's
// listener and no client socket to it is left (see the top of this file),
// and says what was left at the bound.
func awaitQuiet(ctx context.Context, rawURL string) error {
	deadline := time.Now().Add(quietWait)
	return pollEvery(ctx, 20*time.Millisecond, func() (bool, error) {
		table, port, err := tcpTable(rawURL)
		if err != nil {
			return true, err
		}
		q, err := listenQueued(table, port)
		if err != nil {
			return true, err
		}
		c := clientSockets(table, port)
		switch {
		case q == 0 && c == 0:
			return true, nil
		case time.Now().After(deadline):
			return true, fmt.Errorf("after %s, %d connections still queued on %s and %d client sockets to it", quietWait, q, rawURL, c)
		}
		return false, nil
	})
}
