package launcher

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Worker output reaches a non-journal stderr as whole lines with a [wN]
// prefix naming the worker's slot: bursts of long lines and traceback blocks
// (each burst one write far larger than PIPE_BUF) from 4 workers at once are
// neither lost nor interleaved mid-line.
func TestWorkerLogLinesWholeAndPrefixed(t *testing.T) {
	l, _ := startServing(t, spec{Args: []string{"-w", "4", "--ready-after", "200ms"}, ClientTimeout: 30 * time.Second}, 4)

	const (
		requests   = 32
		stdoutReqs = 4 // of which this many print to stdout
		lines      = 40
		length     = 3000
		tbLines    = 8
	)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		printers = map[int]bool{}
		shorts   int // write(2) calls the kernel cut short, continued by the app
		failures []string
	)
	startGate := make(chan struct{})
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := "stderr"
			if i < stdoutReqs {
				stream = "stdout"
			}
			<-startGate
			code, body, err := l.get(fmt.Sprintf("/print?n=%d&len=%d&req=r%d&stream=%s", lines, length, i, stream))
			mu.Lock()
			defer mu.Unlock()
			if err != nil || code != 200 {
				failures = append(failures, fmt.Sprintf("r%d: %d %v", i, code, err))
				return
			}
			printers[pidOf(body)] = true
			shorts += shortWrites(body)
		}()
	}
	close(startGate)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("print requests failed: %v", failures)
	}
	t.Logf("%d requests printed by %d workers %v; %d write(2) calls cut short and continued", requests, len(printers), keys(printers), shorts)
	if len(printers) < 2 {
		t.Errorf("all bursts came from one worker (%v): nothing concurrent was tested", keys(printers))
	}

	// Wait until every line arrived (on stderr or stdout).
	want := requests * (lines + tbLines)
	count := func() int {
		n := 0
		for _, f := range []*feed[string]{l.stderr, l.stdout} {
			for _, ln := range f.snapshot() {
				if strings.Contains(ln, " req=r") {
					n++
				}
			}
		}
		return n
	}
	if !pollUntil(20*time.Second, func() bool { return count() >= want }) {
		t.Errorf("only %d of %d printed lines arrived", count(), want)
	}

	lineRe := regexp.MustCompile(`^\[w(\d+)\] LINE w=(\d+) pid=(\d+) req=(r\d+) seq=(\d+) (x*) END$`)
	tbRe := regexp.MustCompile(`^\[w(\d+)\] TB w=(\d+) pid=(\d+) req=(r\d+) k=(\d+) (.+)$`)
	type key struct {
		req string
		tb  bool
		seq int
	}
	seen := map[key]int{}
	lastSeq := map[string]int{} // per req+kind: lines of one burst stay in order
	bad := 0
	for _, f := range []*feed[string]{l.stderr, l.stdout} {
		for _, ln := range f.snapshot() {
			if !strings.Contains(ln, " req=r") {
				continue
			}
			m := lineRe.FindStringSubmatch(ln)
			tb := false
			if m == nil {
				m = tbRe.FindStringSubmatch(ln)
				tb = true
			}
			if m == nil || strings.Count(ln, " req=r") != 1 || (!tb && len(m[6]) != length) {
				if bad < 5 {
					show := ln
					if len(show) > 200 {
						show = show[:100] + fmt.Sprintf(" ...(%d bytes)... ", len(ln)) + show[len(show)-60:]
					}
					t.Errorf("torn, merged or unprefixed line: %q", show)
				}
				bad++
				continue
			}
			if m[1] != m[2] {
				t.Errorf("line of worker slot %s carries prefix [w%s]", m[2], m[1])
			}
			seq, _ := strconv.Atoi(m[5])
			k := key{m[4], tb, seq}
			seen[k]++
			ord := m[4] + strconv.FormatBool(tb)
			if prev, ok := lastSeq[ord]; ok && seq <= prev {
				t.Errorf("req %s: line %d after line %d: reordered", m[4], seq, prev)
			}
			lastSeq[ord] = seq
		}
	}
	if bad > 0 {
		t.Errorf("%d bad lines in all", bad)
	}
	missing, dup := 0, 0
	for i := range requests {
		req := fmt.Sprintf("r%d", i)
		for s := range lines {
			switch seen[key{req, false, s}] {
			case 0:
				missing++
			case 1:
			default:
				dup++
			}
		}
		for k := range tbLines {
			switch seen[key{req, true, k}] {
			case 0:
				missing++
			case 1:
			default:
				dup++
			}
		}
	}
	if missing > 0 || dup > 0 {
		t.Errorf("%d lines missing, %d duplicated (of %d)", missing, dup, want)
	}
}

var shortRe = regexp.MustCompile(`short=(\d+)`)

// shortWrites is the "short=N" of a /print answer: how many of the burst's
// write(2) calls the kernel cut short.
func shortWrites(body string) int {
	m := shortRe.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
