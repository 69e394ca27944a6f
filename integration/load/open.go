package load

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// openLoop sends a request every 1/opts.Rate seconds until runCtx (parent
// with the run's Duration) ends,
// each in its own goroutine, and counts them in one tally. A request due
// while opts.MaxInFlight are in flight is not sent: it is counted as a
// "client overload" failure, so that the bound never hides a stall.
func openLoop(parent, runCtx, reqCtx context.Context, client *http.Client, opts Options, start time.Time) Result {
	interval := time.Duration(float64(time.Second) / opts.Rate)
	if interval <= 0 {
		interval = time.Nanosecond
	}
	var (
		mu sync.Mutex
		t  = newTally(start, opts.Samples)
		wg sync.WaitGroup
	)
	slots := make(chan struct{}, opts.MaxInFlight)
	// The schedule is fixed: request i is due at start + i*interval. The
	// loop wakes at most every millisecond and sends whatever is due, so
	// that timer granularity delays requests (which their latency shows)
	// but never drops them.
	tick := max(interval, time.Millisecond)
	i := 0
	send := func(until time.Time) {
		for ; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if !due.Before(until) {
				return
			}
			select {
			case slots <- struct{}{}:
			default:
				mu.Lock()
				t.add(outcome{class: "client overload"}, due, time.Now())
				mu.Unlock()
				continue
			}
			wg.Go(func() {
				o := once(reqCtx, client, opts, due)
				end := time.Now()
				<-slots
				mu.Lock()
				t.add(o, due, end)
				mu.Unlock()
			})
		}
	}
	for runCtx.Err() == nil {
		now := time.Now()
		until := now.Add(time.Nanosecond)
		if end := start.Add(opts.Duration); opts.Duration > 0 && end.Before(until) {
			until = end // the context's timer may fire late
		}
		send(until)
		timer := time.NewTimer(max(time.Until(start.Add(time.Duration(i)*interval)), tick-time.Since(now)))
		select {
		case <-runCtx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	// Every request due before the run's Duration is sent, however late
	// the loop woke: a run that ends by its Duration sends exactly
	// Duration*Rate (rounded up) requests. One stopped by its context
	// sends no more.
	if opts.Duration > 0 && parent.Err() == nil {
		send(start.Add(opts.Duration))
	}
	t.stopped = time.Since(start)
	wg.Wait()
	return merge([]*tally{t}, time.Since(start))
}
