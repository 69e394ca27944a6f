package launcher

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// More than 100 MiB of worker output, in bursts far larger than PIPE_BUF
// from 8 workers at once, reaches the launcher's stderr line for line:
// nothing lost, nothing duplicated, no line torn, merged or given another
// worker's prefix, and every worker's lines in exactly the order it wrote
// them (a burst is contiguous, its lines in sequence). The lines are checked
// as they arrive, not kept.
func TestWorkerLogLinesSoak(t *testing.T) {
	const (
		workers   = 8
		clients   = 16        // concurrent /print requests
		target    = 100 << 20 // bytes of burst lines, at least
		burst     = 256 << 10 // bytes per burst, about
		perWorker = 4         // bursts each worker must have printed, at least
	)
	// Payload lengths from short log lines to long ones (all under the
	// launcher's 48 KiB line limit, where it splits a line on purpose).
	lengths := []int{40, 400, 3000, 9000, 30000}
	chk := newSoakChecker()
	l, pids := startServing(t, spec{
		Args:          []string{"-w", strconv.Itoa(workers), "--ready-after", "200ms"},
		ClientTimeout: 5 * time.Minute,
		Tap:           chk.line,
	}, workers)

	began := time.Now()
	jobs := make(chan soakBurst)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		printer  = map[string]int{} // req -> pid that answered
		bursts   = map[int]int{}    // pid -> bursts it answered
		shorts   int
		failures []string
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				code, body, err := l.get(fmt.Sprintf("/print?n=%d&len=%d&req=%s&stream=%s", b.n, b.length, b.req, b.stream))
				mu.Lock()
				if err != nil || code != 200 {
					failures = append(failures, fmt.Sprintf("%s: %d %v", b.req, code, err))
				} else {
					printer[b.req] = pidOf(body)
					bursts[pidOf(body)]++
					shorts += shortWrites(body)
				}
				mu.Unlock()
			}
		}()
	}
	// Bursts until the target is reached and every worker has printed a
	// few (which worker accepts is the kernel's choice), at most 3 times
	// the target.
	enough := func(size int) bool {
		mu.Lock()
		defer mu.Unlock()
		if size < target {
			return false
		}
		for p := range pids {
			if bursts[p] < perWorker {
				return size >= 3*target
			}
		}
		return true
	}
	var plan []soakBurst
	for size := 0; !enough(size); {
		length := lengths[len(plan)%len(lengths)]
		b := soakBurst{req: fmt.Sprintf("b%d", len(plan)), n: burst / (length + 60), length: length, stream: "stderr"}
		if len(plan)%3 == 0 {
			b.stream = "stdout" // the same pipe: the launcher sees one stream per worker
		}
		chk.expect(b)
		jobs <- b
		plan = append(plan, b)
		size += b.size()
	}
	close(jobs)
	wg.Wait()
	chk.expectNoMore()
	if len(failures) > 0 {
		t.Fatalf("%d print requests failed, e.g. %v", len(failures), failures[:min(5, len(failures))])
	}
	// Every burst's lines have left the workers' pipes once the requests
	// returned; wait for the launcher to forward them, for as long as lines
	// keep coming (a minute without one bounds a hang).
wait:
	for last, idle := -1, 0; idle < 60; idle++ {
		select {
		case <-chk.complete:
			break wait
		case <-time.After(time.Second):
		}
		if n := chk.lineCount(); n != last {
			last, idle = n, 0
		}
	}
	elapsed := time.Since(began)
	res := chk.result()
	t.Logf("%d bursts, %d lines, %.1f MiB through the launcher in %s (%.0f MiB/s); %d write(2) calls cut short and continued",
		len(plan), res.lines, float64(res.bytes)/(1<<20), elapsed.Round(time.Millisecond), float64(res.bytes)/(1<<20)/elapsed.Seconds(), shorts)

	for _, e := range res.errors {
		t.Error(e)
	}
	if res.bad > len(res.errors) {
		t.Errorf("... %d bad lines in all", res.bad)
	}
	whole := map[int]int{}
	for _, b := range plan {
		got, ok := res.pidOf[b.req]
		switch {
		case !ok:
			t.Errorf("burst %s (%d lines of %d bytes): incomplete or missing", b.req, b.n+tracebackLines, b.length)
		case got != printer[b.req]:
			t.Errorf("burst %s: lines of pid %d, printed by pid %d", b.req, got, printer[b.req])
		default:
			whole[got]++
		}
	}
	t.Logf("whole bursts per worker: %v", whole)
	for p := range pids {
		if whole[p] < perWorker {
			t.Errorf("worker pid %d: %d whole bursts, want at least %d from each of the %d workers: %v", p, whole[p], perWorker, workers, whole)
		}
	}
	if res.bytes < target {
		t.Errorf("only %d bytes of burst lines arrived, want at least %d", res.bytes, target)
	}
}

// tracebackLines is how many TB lines the testapp ends each burst with.
const tracebackLines = 8

// soakBurst is one /print request: n LINE lines of a payload of length
// x's, then the traceback block.
type soakBurst struct {
	req    string
	n      int
	length int
	stream string
}

// size is the bytes of its lines as the launcher writes them, about.
func (b soakBurst) size() int { return b.n * (b.length + 40) }

// tracebackText is the text after "k=K " of the testapp's traceback line k.
func tracebackText(k int) string {
	switch k {
	case 0:
		return "Traceback (most recent call last):"
	case tracebackLines - 1:
		return "RuntimeError: boom"
	}
	return fmt.Sprintf("  File \"/srv/app/views.py\", line %d, in handler_%d", 10*k, k)
}

// soakChecker follows each worker's lines as they come: each burst must
// start at its first line and go on line by line to its last.
type soakChecker struct {
	complete chan struct{} // closed once every expected burst has ended

	plan map[string]soakBurst // the bursts expected
	last bool                 // no more will be expected

	mu       sync.Mutex
	current  map[string]*soakProgress // worker pid -> burst in progress
	started  map[string]bool          // req -> its first line came
	pidOf    map[string]int           // req -> pid, once whole
	finished int
	lines    int
	bytes    int
	bad      int
	errors   []string
}

type soakProgress struct {
	b     soakBurst
	next  int  // lines 0..n-1 are LINE seq=i, then TB k=i-n
	whole bool // no line of it was missing or out of place
}

type soakResult struct {
	lines, bytes, bad int
	errors            []string
	pidOf             map[string]int
}

func newSoakChecker() *soakChecker {
	return &soakChecker{
		plan:     map[string]soakBurst{},
		complete: make(chan struct{}),
		current:  map[string]*soakProgress{},
		started:  map[string]bool{},
		pidOf:    map[string]int{},
	}
}

// expect announces a burst before it is requested.
func (c *soakChecker) expect(b soakBurst) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.plan[b.req] = b
}

// expectNoMore says the last burst was announced.
func (c *soakChecker) expectNoMore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = true
	c.checkComplete()
}

func (c *soakChecker) checkComplete() {
	if c.last && c.finished == len(c.plan) {
		select {
		case <-c.complete:
		default:
			close(c.complete)
		}
	}
}

// line is the launcher fixture's Tap: it checks burst lines and drops them,
// and keeps everything else.
func (c *soakChecker) line(ln string) bool {
	prefix, rest, _ := strings.Cut(ln, " ")
	isWorker := strings.HasPrefix(prefix, "[w") && strings.HasSuffix(prefix, "]")
	if isWorker && strings.HasPrefix(rest, "testapp: ") {
		return true
	}
	if !isWorker && !strings.Contains(ln, " req=b") {
		return true // the launcher's own lines
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(prefix, rest); err != "" {
		c.bad++
		if len(c.errors) < 10 {
			if len(ln) > 200 {
				ln = ln[:120] + fmt.Sprintf(" ...(%d bytes)... ", len(ln)) + ln[len(ln)-40:]
			}
			c.errors = append(c.errors, fmt.Sprintf("%s: %q", err, ln))
		}
		return false
	}
	c.lines++
	c.bytes += len(ln) + 1
	return false
}

// check returns what is wrong with one worker line, or "".
func (c *soakChecker) check(prefix, rest string) string {
	kind, rest, _ := strings.Cut(rest, " ")
	if kind != "LINE" && kind != "TB" {
		return "torn or unprefixed line"
	}
	f := strings.SplitN(rest, " ", 5) // w= pid= req= seq=|k= text
	if len(f) != 5 || !strings.HasPrefix(f[0], "w=") || !strings.HasPrefix(f[1], "pid=") || !strings.HasPrefix(f[2], "req=") {
		return "malformed line"
	}
	slot, pid, req := f[0][2:], f[1][4:], f[2][4:]
	if prefix != "[w"+slot+"]" {
		return fmt.Sprintf("line of worker slot %s carries prefix %s", slot, prefix)
	}
	b, ok := c.plan[req]
	if !ok {
		return "unknown burst"
	}
	var idx int
	var err error
	if kind == "LINE" {
		v, ok := strings.CutPrefix(f[3], "seq=")
		if idx, err = strconv.Atoi(v); !ok || err != nil {
			return "malformed seq"
		}
		p := f[4]
		if len(p) != b.length+len(" END") || !strings.HasSuffix(p, " END") || strings.Count(p[:b.length], "x") != b.length {
			return fmt.Sprintf("payload of %d bytes, want %d x's and END: torn or merged", len(p), b.length)
		}
	} else {
		v, ok := strings.CutPrefix(f[3], "k=")
		if idx, err = strconv.Atoi(v); !ok || err != nil || idx >= tracebackLines {
			return "malformed k"
		}
		if f[4] != tracebackText(idx) {
			return "traceback text torn or merged"
		}
		idx += b.n
	}
	var problem string
	cur := c.current[pid]
	switch {
	case cur == nil && (idx != 0 || c.started[req]):
		return fmt.Sprintf("line %d of burst %s where worker pid %s starts a burst: lost, duplicated or reordered", idx, req, pid)
	case cur != nil && (cur.b.req != req || cur.next != idx):
		problem = fmt.Sprintf("line %d of burst %s where worker pid %s is at line %d of burst %s: lost, duplicated, reordered or interleaved", idx, req, pid, cur.next, cur.b.req)
		if cur.b.req == req && idx > cur.next {
			cur.next = idx // lines lost: follow on from here
		} else if idx == 0 && !c.started[req] {
			cur = nil // the previous burst was cut: follow the new one
		} else {
			return problem
		}
	}
	if cur == nil {
		c.started[req] = true
		cur = &soakProgress{b: b, whole: true}
		c.current[pid] = cur
	}
	if problem != "" {
		cur.whole = false
	}
	cur.next++
	if cur.next == b.n+tracebackLines {
		delete(c.current, pid)
		if problem == "" && cur.whole {
			n, _ := strconv.Atoi(pid)
			c.pidOf[req] = n
		}
		c.finished++
		c.checkComplete()
	}
	return problem
}

func (c *soakChecker) lineCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines + c.bad
}

func (c *soakChecker) result() soakResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	pidOf := map[string]int{}
	for k, v := range c.pidOf {
		pidOf[k] = v
	}
	return soakResult{lines: c.lines, bytes: c.bytes, bad: c.bad, errors: append([]string(nil), c.errors...), pidOf: pidOf}
}
