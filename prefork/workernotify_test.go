package prefork

import (
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

type rejects struct {
	mu   sync.Mutex
	got  []string
	n    []int
	msgs []notifyMsg
}

func serveTestNotify(t *testing.T, workerPID int) (*workerNotify, *rejects, *net.UnixConn, chan struct{}) {
	t.Helper()
	n, err := listenWorkerNotify(t.TempDir(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	n.rejectEvery = time.Hour // one warning for the whole test, however slow the machine
	r := &rejects{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.serve(&workerID{pid: workerPID},
			func(m notifyMsg) { r.mu.Lock(); r.msgs = append(r.msgs, m); r.mu.Unlock() },
			func(why string, k int) { r.mu.Lock(); r.got = append(r.got, why); r.n = append(r.n, k); r.mu.Unlock() })
	}()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); n.close(); <-done })
	return n, r, c, done
}

// A datagram larger than systemd's buffer is dropped whole, never cut and
// acted on; one of exactly 4096 bytes is accepted, as systemd accepts it.
func TestOversizedNotifyDatagramIsDropped(t *testing.T) {
	_, r, c, _ := serveTestNotify(t, os.Getpid())
	big := "READY=1\nSTATUS=" + strings.Repeat("x", 5000)
	if _, err := c.Write([]byte(big)); err != nil {
		t.Fatal(err)
	}
	fit := "STATUS=" + strings.Repeat("y", notifyMax-len("STATUS="))
	if _, err := c.Write([]byte(fit)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.msgs) == 1 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ready := r.msgs[0].fields["READY"]; ready || len(r.msgs[0].fields["STATUS"]) != notifyMax-len("STATUS=") {
		t.Fatalf("delivered %d fields, READY present %v: the oversized datagram was acted on", len(r.msgs[0].fields), ready)
	}
	if len(r.got) != 1 || !strings.Contains(r.got[0], "more than 4096 bytes") {
		t.Fatalf("rejections %q", r.got)
	}
}

// 10,000 datagrams from outside the worker's process group give one
// warning, not 10,000.
func TestRejectedSenderWarningsAreRateLimited(t *testing.T) {
	_, r, c, _ := serveTestNotify(t, 1) // pid 1's group: never the test's
	for range 10000 {
		if _, err := c.Write([]byte("READY=1")); err != nil {
			t.Fatal(err)
		}
	}
	// The sentinel: a datagram the reader must reach after the flood.
	waitFor(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) >= 1 })
	time.Sleep(100 * time.Millisecond) // a chance for a wrong reader to warn again; a right one never does
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != 1 || len(r.msgs) != 0 {
		t.Fatalf("%d warnings and %d delivered messages for 10,000 foreign datagrams", len(r.got), len(r.msgs))
	}
	if !strings.Contains(r.got[0], "not in its process group") {
		t.Fatalf("warning %q", r.got[0])
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
