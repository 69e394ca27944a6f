// Package load is an HTTP load client for the integration tests and the
// benchmark. In the closed loop (the default) N clients each send one
// request, wait for the answer, and send the next, for a duration or until a
// context ends; in the open loop (Options.Rate) requests start at a constant
// rate whatever the server does, so that a stall shows as latency rather
// than as fewer requests. It never
// retries, so every refused, reset or timed-out request is counted, and by
// default it opens a new connection per request, which is what a restart
// or reload must survive (a kept-alive connection hides a closed listener).
//
// Traffic goes to loopback addresses only.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultTimeout is the per-request timeout when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a Run.
type Options struct {
	// URL is requested with GET; its host must be a loopback address or
	// "localhost".
	URL string
	// Clients is the number of closed-loop clients (default 1).
	Clients int
	// Duration stops sending new requests after this long (0: only ctx
	// stops the run).
	Duration time.Duration
	// KeepAlive reuses connections. The default (false) opens a new
	// connection for every request, the only mode in which nothing is
	// re-sent: on a reused connection that the server closed before
	// reading the request, net/http transparently re-sends a GET.
	KeepAlive bool
	// Timeout bounds each request, connect to last byte (default
	// DefaultTimeout).
	Timeout time.Duration
	// Rate, when positive, makes the run open-loop: a request is due every
	// 1/Rate seconds and is sent then, on its own, whether or not earlier
	// ones were answered (Clients is ignored). Its latency counts from when
	// it was due, so a client that falls behind cannot hide a stall.
	Rate float64
	// MaxInFlight bounds an open-loop run's requests in flight (default
	// DefaultMaxInFlight); a request due while the bound is reached is not
	// sent and counts as failed with the class "client overload".
	MaxInFlight int
	// Samples records every request in Result.Samples.
	Samples bool
	// ServerHeader names a response header whose value each sample keeps
	// (which worker answered, say).
	ServerHeader string
}

// DefaultMaxInFlight is Options.MaxInFlight when zero.
const DefaultMaxInFlight = 20000

// Sample is one request: when it started (for the open loop, when it was
// due) relative to Result.Start, how long it took to its last byte or
// error, its error class ("" for success) and the ServerHeader's value.
type Sample struct {
	Start   time.Duration
	Latency time.Duration
	Class   string
	Server  string
}

// Result is what a Run saw. Latencies are those of successful (2xx)
// requests; failures are counted by class in Errors instead.
type Result struct {
	Total, OK, Failed int
	// Errors counts failed requests by class: "refused", "reset",
	// "timeout", "eof", "status NNN", or the short text of another error.
	Errors     map[string]int
	MaxLatency time.Duration
	P50, P99   time.Duration
	// LongestStall is the longest time (in steps of StallResolution) in
	// which no request succeeded, while the run was sending: how long the
	// service was unavailable, whether its clients were refused or kept
	// waiting.
	LongestStall time.Duration
	// Elapsed is the wall time from the first request to the last answer.
	Elapsed time.Duration
	// Err is set when the run could not start (bad options); then no
	// request was sent.
	Err error
	// Start is when the run began; Samples (with Options.Samples) holds
	// every request, in no particular order.
	Start   time.Time
	Samples []Sample
}

// Run sends requests until opts.Duration has passed or ctx is done. When
// either happens no new request is started, and requests in flight run to
// completion (or to their timeout) and are counted: a run never drops a
// request it sent.
func Run(ctx context.Context, opts Options) Result {
	if err := opts.normalize(); err != nil {
		return Result{Errors: map[string]int{}, Err: err}
	}
	transport := &http.Transport{
		Proxy:               nil, // never send loopback traffic through a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: opts.Timeout}).DialContext,
		DisableKeepAlives:   !opts.KeepAlive,
		MaxIdleConnsPerHost: opts.Clients,
		DisableCompression:  true,
	}
	if opts.KeepAlive && opts.Rate == 0 {
		// N closed-loop clients keep N connections. Without the cap, a
		// client whose last connection is still on its way back to the idle
		// pool (the transport returns it from another goroutine) dials a
		// new one: seen once, 3 connections for 2 clients.
		transport.MaxConnsPerHost = opts.Clients
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		// A redirect would be a second request: report the 3xx instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	runCtx := ctx
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	// Requests outlive the run's end (bounded by their own timeout) so that
	// a request in flight when the run stops is still counted.
	reqCtx := context.WithoutCancel(ctx)

	start := time.Now()
	var r Result
	if opts.Rate > 0 {
		r = openLoop(ctx, runCtx, reqCtx, client, opts, start)
	} else {
		r = closedLoop(runCtx, reqCtx, client, opts, start)
	}
	r.Start = start
	return r
}

func closedLoop(runCtx, reqCtx context.Context, client *http.Client, opts Options, start time.Time) Result {
	tallies := make([]*tally, opts.Clients)
	var wg sync.WaitGroup
	for i := range tallies {
		t := newTally(start, opts.Samples)
		tallies[i] = t
		wg.Go(func() {
			for runCtx.Err() == nil {
				t0 := time.Now()
				o := once(reqCtx, client, opts, t0)
				t.add(o, t0, time.Now())
			}
			t.stopped = time.Since(start)
		})
	}
	wg.Wait()
	return merge(tallies, time.Since(start))
}

func (o *Options) normalize() error {
	if o.Clients == 0 {
		o.Clients = 1
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.Clients < 0 || o.Duration < 0 || o.Timeout < 0 || o.Rate < 0 || o.MaxInFlight < 0 {
		return fmt.Errorf("load: negative option in %+v", *o)
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return fmt.Errorf("load: URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("load: URL %q: scheme must be http or https", o.URL)
	}
	if !isLoopback(u.Hostname()) {
		return fmt.Errorf("load: URL %q: host must be a loopback address", o.URL)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// outcome is one request's fate: class is "" for success.
type outcome struct {
	class   string
	latency time.Duration
	server  string
}

// once sends one request; its latency counts from start (now, or when an
// open-loop request was due).
func once(ctx context.Context, client *http.Client, opts Options, start time.Time) outcome {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, opts.URL, nil)
	if err != nil {
		return outcome{class: Classify(err), latency: time.Since(start)}
	}
	resp, err := client.Do(req)
	if err != nil {
		return outcome{class: Classify(err), latency: time.Since(start)}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	var server string
	if opts.ServerHeader != "" {
		server = resp.Header.Get(opts.ServerHeader)
	}
	switch {
	case err != nil:
		return outcome{class: Classify(err), latency: lat, server: server}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return outcome{class: fmt.Sprintf("status %d", resp.StatusCode), latency: lat, server: server}
	}
	return outcome{latency: lat, server: server}
}

// Classify names the class of a failed request's error: "refused",
// "reset", "timeout", "eof", or a short text for anything else.
func Classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error() // e.g. "broken pipe"
	}
	// Drop the "Get \"http://...\": " prefix so that one kind of error is
	// one class, whatever the URL.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// String is a one-line summary, for example
// "12000 requests: 11990 ok, 10 failed (refused 7, reset 3); p50 2ms p99 9ms max 41ms; longest stall 300ms; 20s, 600/s".
func (r Result) String() string {
	if r.Err != nil {
		return "load did not run: " + r.Err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests: %d ok, %d failed", r.Total, r.OK, r.Failed)
	if classes := r.Classes(); len(classes) > 0 {
		b.WriteString(" (")
		for i, c := range classes {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %d", c, r.Errors[c])
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; p50 %s p99 %s max %s; longest stall %s", roundDur(r.P50), roundDur(r.P99), roundDur(r.MaxLatency), r.LongestStall)
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.Total) / r.Elapsed.Seconds()
	}
	fmt.Fprintf(&b, "; %s, %.0f/s", r.Elapsed.Round(100*time.Millisecond), rate)
	return b.String()
}

// Classes lists the error classes of r, most frequent first, then by name.
func (r Result) Classes() []string {
	classes := make([]string, 0, len(r.Errors))
	for c := range r.Errors {
		classes = append(classes, c)
	}
	sort.Slice(classes, func(i, j int) bool {
		if r.Errors[classes[i]] != r.Errors[classes[j]] {
			return r.Errors[classes[i]] > r.Errors[classes[j]]
		}
		return classes[i] < classes[j]
	})
	return classes
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
