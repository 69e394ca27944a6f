package load

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func okHandler(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }

func TestAllOK(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		okHandler(w, r)
	}))
	defer srv.Close()

	r := Run(context.Background(), Options{URL: srv.URL, Clients: 4, Duration: 300 * time.Millisecond})
	t.Log(r)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Total < 10 || r.OK != r.Total || r.Failed != 0 || len(r.Errors) != 0 {
		t.Fatalf("want only successes, got %+v", r)
	}
	if int64(r.Total) != served.Load() {
		t.Errorf("client counted %d requests, server served %d", r.Total, served.Load())
	}
	if !(0 < r.P50 && r.P50 <= r.P99 && r.P99 <= r.MaxLatency) {
		t.Errorf("latencies out of order: p50 %v p99 %v max %v", r.P50, r.P99, r.MaxLatency)
	}
	if r.Elapsed < 300*time.Millisecond || r.Elapsed > 2*time.Second {
		t.Errorf("elapsed %v for a 300ms run", r.Elapsed)
	}
}

// Every failure the server causes is counted, exactly, under its status.
func TestCountsEveryFailure(t *testing.T) {
	var n, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			bad.Add(1)
			http.Error(w, "nope", http.StatusServiceUnavailable)
			return
		}
		okHandler(w, r)
	}))
	defer srv.Close()

	r := Run(context.Background(), Options{URL: srv.URL, Clients: 3, Duration: 300 * time.Millisecond})
	t.Log(r)
	if int64(r.Failed) != bad.Load() || r.Errors["status 503"] != r.Failed || len(r.Errors) != 1 {
		t.Fatalf("server failed %d requests, client reports %+v", bad.Load(), r)
	}
	if int64(r.Total) != n.Load() || r.OK+r.Failed != r.Total || r.Failed == 0 {
		t.Fatalf("server saw %d requests, client reports %+v", n.Load(), r)
	}
}

// rawServer accepts connections on loopback and hands each to handle.
func rawServer(t *testing.T, handle func(*net.TCPConn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c.(*net.TCPConn))
		}
	}()
	return "http://" + l.Addr().String() + "/"
}

func readRequest(c *net.TCPConn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = http.ReadRequest(bufio.NewReader(c))
}

func TestResetIsCounted(t *testing.T) {
	url := rawServer(t, func(c *net.TCPConn) {
		readRequest(c)
		_ = c.SetLinger(0) // close sends RST
		c.Close()
	})
	r := Run(context.Background(), Options{URL: url, Clients: 2, Duration: 200 * time.Millisecond})
	t.Log(r)
	if r.Total == 0 || r.OK != 0 || r.Failed != r.Total || r.Errors["reset"] == 0 {
		t.Fatalf("want every request failed with resets, got %+v", r)
	}
}

func TestEOFIsCounted(t *testing.T) {
	url := rawServer(t, func(c *net.TCPConn) {
		readRequest(c)
		c.Close() // orderly FIN, no response
	})
	r := Run(context.Background(), Options{URL: url, Clients: 2, Duration: 200 * time.Millisecond})
	t.Log(r)
	if r.Total == 0 || r.Failed != r.Total || r.Errors["eof"] != r.Total {
		t.Fatalf("want every request failed with eof, got %+v", r)
	}
}

func TestRefusedIsCounted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/"
	l.Close()
	r := Run(context.Background(), Options{URL: url, Clients: 2, Duration: 100 * time.Millisecond})
	t.Log(r)
	if r.Total == 0 || r.Failed != r.Total || r.Errors["refused"] != r.Total {
		t.Fatalf("want every request refused, got %+v", r)
	}
}

func TestTimeoutIsCounted(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	r := Run(context.Background(), Options{URL: srv.URL, Clients: 2, Duration: 250 * time.Millisecond, Timeout: 100 * time.Millisecond})
	t.Log(r)
	if r.Total < 2 || r.Failed != r.Total || r.Errors["timeout"] != r.Total {
		t.Fatalf("want every request timed out, got %+v", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("run took %v; per-request timeout not applied", d)
	}
}

// A request in flight when the run ends is waited for and counted.
func TestInFlightRequestsAreCounted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var arrived, served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == 3 { // every client has one request in flight: stop the run
			cancel()
		}
		time.Sleep(300 * time.Millisecond)
		served.Add(1)
		okHandler(w, r)
	}))
	defer srv.Close()
	r := Run(ctx, Options{URL: srv.URL, Clients: 3})
	t.Log(r)
	if r.Total != 3 || r.OK != 3 || served.Load() != 3 {
		t.Fatalf("want the 3 in-flight requests counted as ok, got %+v (server served %d)", r, served.Load())
	}
	if r.MaxLatency < 300*time.Millisecond {
		t.Errorf("max latency %v below the server's 300ms", r.MaxLatency)
	}
}

func TestNewConnectionPerRequest(t *testing.T) {
	for _, keepAlive := range []bool{false, true} {
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		r := Run(context.Background(), Options{URL: srv.URL, Clients: 2, Duration: 200 * time.Millisecond, KeepAlive: keepAlive})
		srv.Close()
		t.Logf("keepalive=%v: %v, %d connections", keepAlive, r, conns.Load())
		if r.Failed != 0 || r.Total < 10 {
			t.Fatalf("keepalive=%v: %+v", keepAlive, r)
		}
		if !keepAlive && conns.Load() != int64(r.Total) {
			t.Errorf("want one connection per request: %d requests, %d connections", r.Total, conns.Load())
		}
		if keepAlive && conns.Load() > 2 {
			t.Errorf("keep-alive with 2 clients opened %d connections", conns.Load())
		}
	}
}

func TestRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{URL: "http://192.0.2.1/"},
		{URL: "http://example.com/"},
		{URL: "ftp://127.0.0.1/"},
		{URL: "http://127.0.0.1/", Clients: -1},
		{URL: "::"},
	} {
		r := Run(context.Background(), o)
		if r.Err == nil || r.Total != 0 {
			t.Errorf("%+v: want an error and no request, got %+v", o, r)
		}
		if !strings.HasPrefix(r.String(), "load did not run") {
			t.Errorf("String() = %q", r.String())
		}
	}
	for _, u := range []string{"http://localhost:1/", "http://[::1]:1/", "http://127.0.0.2:1/"} {
		r := Run(context.Background(), Options{URL: u, Duration: 20 * time.Millisecond})
		if r.Err != nil {
			t.Errorf("%s: %v", u, r.Err)
		}
	}
}

func TestString(t *testing.T) {
	r := Result{Total: 10, OK: 6, Failed: 4, Errors: map[string]int{"reset": 1, "refused": 3},
		P50: 2 * time.Millisecond, P99: 9 * time.Millisecond, MaxLatency: 1234567 * time.Microsecond, Elapsed: 2 * time.Second}
	r.LongestStall = 300 * time.Millisecond
	want := "10 requests: 6 ok, 4 failed (refused 3, reset 1); p50 2ms p99 9ms max 1.235s; longest stall 300ms; 2s, 5/s"
	if got := r.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestHistogram(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<22; v += 1 + v/300 {
		i := histIndex(v)
		if i < prev || i >= histLen {
			t.Fatalf("index %d for %d (previous %d)", i, v, prev)
		}
		prev = i
		up := histUpper(i)
		if up < v || float64(up-v) > 0.01*float64(v)+1 {
			t.Fatalf("value %d in bucket %d with upper bound %d", v, i, up)
		}
	}
	if i := histIndex(1<<64 - 1); i >= histLen {
		t.Fatalf("largest value lands outside the histogram: %d", i)
	}
}

func TestPercentiles(t *testing.T) {
	start := time.Now()
	tl := newTally(start, false)
	for i := 1; i <= 1000; i++ {
		tl.add(outcome{latency: time.Duration(i) * time.Millisecond}, start, start)
	}
	r := merge([]*tally{tl}, time.Second)
	near := func(got, want time.Duration) bool { return got >= want && got <= want+want/100 }
	if !near(r.P50, 500*time.Millisecond) || !near(r.P99, 990*time.Millisecond) || r.MaxLatency != time.Second {
		t.Fatalf("p50 %v p99 %v max %v", r.P50, r.P99, r.MaxLatency)
	}
}

// A server that stops answering for a while shows as a stall, whether its
// clients are refused or kept waiting.
func TestLongestStall(t *testing.T) {
	var pausedUntil atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Until(time.Unix(0, pausedUntil.Load())); d > 0 {
			time.Sleep(d)
		}
		okHandler(w, r)
	}))
	defer srv.Close()
	time.AfterFunc(300*time.Millisecond, func() { pausedUntil.Store(time.Now().Add(700 * time.Millisecond).UnixNano()) })
	r := Run(context.Background(), Options{URL: srv.URL, Clients: 4, Duration: 1500 * time.Millisecond})
	t.Log(r)
	if r.Failed != 0 || r.LongestStall < 500*time.Millisecond || r.LongestStall > 1500*time.Millisecond {
		t.Fatalf("want a stall of about 700ms and no failure, got %+v", r)
	}
	if r.MaxLatency < 600*time.Millisecond {
		t.Errorf("max latency %v, want about 700ms", r.MaxLatency)
	}

	quiet := Run(context.Background(), Options{URL: srv.URL, Clients: 4, Duration: 500 * time.Millisecond})
	if quiet.LongestStall >= 300*time.Millisecond { // a busy machine may pause us for a step
		t.Errorf("a healthy server stalled for %v: %v", quiet.LongestStall, quiet)
	}
}

// The open loop sends exactly Duration*Rate requests, whatever the server
// does, and records each with the header asked for.
func TestOpenLoopSendsOnSchedule(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("X-Worker", "w7")
		okHandler(w, r)
	}))
	defer srv.Close()
	r := Run(context.Background(), Options{URL: srv.URL, Rate: 500, Duration: 400 * time.Millisecond, Samples: true, ServerHeader: "X-Worker"})
	t.Log(r)
	if r.Total != 200 || r.OK != 200 || served.Load() != 200 {
		t.Fatalf("want 200 requests (400ms at 500/s), all served: %+v, server served %d", r, served.Load())
	}
	if len(r.Samples) != r.Total {
		t.Fatalf("%d samples for %d requests", len(r.Samples), r.Total)
	}
	seen := map[time.Duration]bool{}
	for _, s := range r.Samples {
		if s.Server != "w7" || s.Class != "" || s.Latency <= 0 {
			t.Fatalf("sample %+v", s)
		}
		if s.Start%(2*time.Millisecond) != 0 || s.Start >= 400*time.Millisecond || seen[s.Start] {
			t.Fatalf("sample due at %v: not on the 2ms schedule, or twice", s.Start)
		}
		seen[s.Start] = true
	}
}

// In the open loop a server that pauses shows as latency, not as fewer
// requests: the requests due during the pause wait for it.
func TestOpenLoopStallIsLatency(t *testing.T) {
	var pausedUntil atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Until(time.Unix(0, pausedUntil.Load())); d > 0 {
			time.Sleep(d)
		}
		okHandler(w, r)
	}))
	defer srv.Close()
	time.AfterFunc(200*time.Millisecond, func() { pausedUntil.Store(time.Now().Add(400 * time.Millisecond).UnixNano()) })
	r := Run(context.Background(), Options{URL: srv.URL, Rate: 200, Duration: time.Second})
	t.Log(r)
	if r.Total != 200 || r.Failed != 0 {
		t.Fatalf("want 200 requests, none failed: %+v", r)
	}
	if r.MaxLatency < 300*time.Millisecond {
		t.Errorf("max latency %v during a 400ms pause", r.MaxLatency)
	}
}

// A request due while MaxInFlight are waiting is not sent, and counted; the
// server never sees more than MaxInFlight at once.
func TestOpenLoopOverloadIsCounted(t *testing.T) {
	release := make(chan struct{})
	var inFlight, most, served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		inFlight.Add(-1) // before answering: a slot frees only after the answer
		served.Add(1)
		okHandler(w, r)
	}))
	defer srv.Close()
	done := make(chan Result)
	go func() {
		done <- Run(context.Background(), Options{URL: srv.URL, Rate: 1000, Duration: 100 * time.Millisecond, MaxInFlight: 3})
	}()
	// The schedule ends after 100ms; hold the first three well past it,
	// so that the 97 others find no slot (a bound on a hang, not a race).
	time.Sleep(2 * time.Second)
	close(release)
	r := <-done
	t.Log(r)
	if r.Total != 100 || int64(r.OK) != served.Load() || r.Errors["client overload"] != r.Failed || r.OK+r.Failed != r.Total {
		t.Fatalf("want 100 requests, each served or an overload: %+v (server served %d)", r, served.Load())
	}
	if r.OK != 3 || most.Load() != 3 {
		t.Fatalf("want 3 served, 3 at once at most: %d served, %d at once", r.OK, most.Load())
	}
}
