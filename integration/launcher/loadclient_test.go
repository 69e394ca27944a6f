package launcher

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// load is a client that never retries: one new connection per request,
// from a few goroutines, counting every failure.
type load struct {
	ok, failed atomic.Int64
	// refused counts connections refused at connect: the service was not
	// there any more (after a standalone stop), nothing of the request was
	// sent; they are not in failed.
	refused atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []string
}

func startLoad(c *http.Client, url string, clients int) *load {
	ld := &load{stop: make(chan struct{})}
	for range clients {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			for {
				select {
				case <-ld.stop:
					return
				default:
				}
				code, body, err := get(c, url)
				if err == nil && code == http.StatusOK {
					ld.ok.Add(1)
					continue
				}
				if errors.Is(err, syscall.ECONNREFUSED) {
					ld.refused.Add(1)
					time.Sleep(10 * time.Millisecond) // nobody there: do not spin
					continue
				}
				ld.failed.Add(1)
				ld.mu.Lock()
				if len(ld.errs) < 10 {
					ld.errs = append(ld.errs, fmt.Sprintf("%s: status %d %q err %v", time.Now().Format("15:04:05.000"), code, body, err))
				}
				ld.mu.Unlock()
			}
		}()
	}
	return ld
}

// finish stops the load and fails the test if any request failed or was
// refused.
func (ld *load) finish(t *testing.T, minOK int64) {
	t.Helper()
	ld.end(t, minOK)
	if n := ld.refused.Load(); n > 0 {
		t.Errorf("%d connections refused (of %d requests)", n, n+ld.ok.Load()+ld.failed.Load())
	}
}

// finishAfterStop is finish for a load that outlived a standalone
// launcher: connections refused once it was gone are what a stopped
// service owes its clients; only requests cut (reset, EOF, timeout) fail.
func (ld *load) finishAfterStop(t *testing.T, minOK int64) {
	t.Helper()
	ld.end(t, minOK)
}

func (ld *load) end(t *testing.T, minOK int64) {
	t.Helper()
	close(ld.stop)
	ld.wg.Wait()
	t.Logf("load: %d ok, %d failed, %d refused", ld.ok.Load(), ld.failed.Load(), ld.refused.Load())
	if n := ld.failed.Load(); n > 0 {
		t.Errorf("%d requests failed (of %d), e.g.:\n  %s", n, n+ld.ok.Load(), strings.Join(ld.errs, "\n  "))
	}
	if ld.ok.Load() < minOK {
		t.Errorf("only %d requests succeeded, want at least %d: the load did not run", ld.ok.Load(), minOK)
	}
}

// waitOK waits until at least n requests succeeded.
func (ld *load) waitOK(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("%d requests answered", n), func() bool { return ld.ok.Load() >= n })
}
