package launcher

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"time"
)

// feed is an append-only list that can be waited on: the lines of a
// launcher's stderr, the datagrams on a test NOTIFY_SOCKET.
type feed[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{} // closed and replaced on every change
	closed  bool
}

func newFeed[T any]() *feed[T] {
	return &feed[T]{changed: make(chan struct{})}
}

func (f *feed[T]) add(v T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append(f.items, v)
	close(f.changed)
	f.changed = make(chan struct{})
}

// close marks the end of the feed (EOF): waiters stop waiting.
func (f *feed[T]) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

func (f *feed[T]) snapshot() []T {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]T(nil), f.items...)
}

// len is the number of items so far.
func (f *feed[T]) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.items)
}

// waitFor returns the index of the first item at index >= from that satisfies
// pred, waiting up to timeout for it; -1 if none came (or the feed ended).
func (f *feed[T]) waitFor(from int, timeout time.Duration, pred func(T) bool) (int, T) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		for i := from; i < len(f.items); i++ {
			if pred(f.items[i]) {
				v := f.items[i]
				f.mu.Unlock()
				return i, v
			}
		}
		if from < len(f.items) {
			from = len(f.items)
		}
		closed, ch := f.closed, f.changed
		f.mu.Unlock()
		var zero T
		if closed {
			return -1, zero
		}
		select {
		case <-ch:
		case <-deadline.C:
			return -1, zero
		}
	}
}

// readLines feeds r's lines (without the newline) into f until EOF. Each
// line goes through tap first, when there is one, and is kept only if tap
// says so.
func readLines(r io.ReadCloser, f *feed[string], tap func(string) bool, done chan<- struct{}) {
	defer close(done)
	defer f.close()
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimSuffix(line, "\n")
			if tap == nil || tap(line) {
				f.add(line)
			}
		}
		if err != nil {
			return
		}
	}
}
