package launcher

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Worker output reaches a non-journal stderr as whole lines with a [wN]
// prefix naming the worker's slot: bursts of long lines and traceback blocks
// (each burst one write far larger than PIPE_BUF) from 4 workers at once are
// neither lost nor interleaved mid-line.
func TestWorkerLogLinesWholeAndPrefixed(t *testing.T) {
	l, _ := startServing(t, spec{Args: []string{"-w", "4"}}, 4)
	// Answering is not yet being seen ready: a worker frozen below before
	// the launcher saw it waiting would fail to boot at --start-timeout.
	l.waitStderr(0, `sdlaunch: ready: 4/4 ready`, time.Minute)

	const (
		requests   = 32
		stdoutReqs = 4 // of which this many print to stdout
		lines      = 40
		length     = 3000
		tbLines    = 8
		workers    = 4
	)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		printers = map[int]int{}
		shorts   int // write(2) calls the kernel cut short, continued by the app
		failures []string
	)
	// Place the bursts: requests/workers on each worker, the others frozen
	// meanwhile so that only it accepts, each held by the app until the
	// file exists; then release all of them at once, so that four workers
	// write their bursts concurrently, every run.
	pids := l.waitWorkers(workers, 30*time.Second)
	// New connections only: one kept alive from startServing would take a
	// request to the worker it was accepted by, frozen or not.
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	release := filepath.Join(t.TempDir(), "release")
	from := l.stderr.len()
	for j, p := range pids {
		for _, o := range pids {
			if o != p {
				freeze(t, o)
			}
		}
		for k := range requests / workers {
			i := j*(requests/workers) + k
			wg.Add(1)
			go func() {
				defer wg.Done()
				stream := "stderr"
				if i%(requests/stdoutReqs) == 0 {
					stream = "stdout"
				}
				code, body, err := get(client, l.url(fmt.Sprintf("/print?n=%d&len=%d&req=r%d&stream=%s&until_file=%s", lines, length, i, stream, release)))
				mu.Lock()
				defer mu.Unlock()
				if err != nil || code != 200 {
					failures = append(failures, fmt.Sprintf("r%d: %d %v", i, code, err))
					return
				}
				printers[pidOf(body)]++
				shorts += shortWrites(body)
			}()
		}
		for range requests / workers {
			i, ln := l.waitStderr(from, `testapp: w=\d+ pid=\d+ print held=r\d+`, time.Minute)
			from = i + 1
			if !strings.Contains(ln, fmt.Sprintf(" pid=%d ", p)) {
				t.Fatalf("worker %d is frozen, yet it accepted: %q", p, ln)
			}
		}
		for _, o := range pids {
			if o != p {
				if err := syscall.Kill(o, syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("print requests failed: %v", failures)
	}
	t.Logf("%d requests printed by %d workers %v; %d write(2) calls cut short and continued", requests, len(printers), printers, shorts)
	for _, p := range pids {
		if printers[p] != requests/workers {
			t.Errorf("worker %d printed %d bursts, want %d: %v", p, printers[p], requests/workers, printers)
		}
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
	if !pollUntil(2*time.Minute, func() bool { return count() >= want }) {
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
