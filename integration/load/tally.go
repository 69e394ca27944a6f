package load

import (
	"math/bits"
	"time"
)

// A histogram of latencies in microseconds with a bounded size whatever the
// run's length: exact below 256 µs, then 128 buckets per power of two, so a
// percentile is off by less than 1%.
const (
	histExact = 256 // values below are their own bucket
	histSub   = 128 // buckets per power of two above
	histLen   = histExact + 56*histSub
)

func histIndex(us uint64) int {
	if us < histExact {
		return int(us)
	}
	shift := bits.Len64(us) - 8 // us>>shift is in [128, 256)
	return histExact + (shift-1)*histSub + int(us>>shift) - histSub
}

// histUpper is the largest value that falls in bucket i.
func histUpper(i int) uint64 {
	if i < histExact {
		return uint64(i)
	}
	shift := (i-histExact)/histSub + 1
	r := uint64((i-histExact)%histSub + histSub)
	return (r+1)<<shift - 1
}

// StallResolution is the step in which Result.LongestStall is measured.
const StallResolution = 100 * time.Millisecond

// tally is one client's counts; only its client touches it until merge.
type tally struct {
	ok, failed int
	errors     map[string]int
	max        time.Duration
	hist       []int
	start      time.Time
	okAt       []int         // successes per StallResolution step since start
	stopped    time.Duration // when the client stopped sending, since start
	record     bool
	samples    []Sample
}

func newTally(start time.Time, record bool) *tally {
	return &tally{errors: map[string]int{}, hist: make([]int, histLen), start: start, record: record}
}

// add counts a request that started (or was due) at began and ended at at.
func (t *tally) add(o outcome, began, at time.Time) {
	if t.record {
		t.samples = append(t.samples, Sample{Start: began.Sub(t.start), Latency: o.latency, Class: o.class, Server: o.server})
	}
	if o.class != "" {
		t.failed++
		t.errors[o.class]++
		return
	}
	t.ok++
	t.max = max(t.max, o.latency)
	t.hist[histIndex(uint64(o.latency/time.Microsecond))]++
	step := int(at.Sub(t.start) / StallResolution)
	for len(t.okAt) <= step {
		t.okAt = append(t.okAt, 0)
	}
	t.okAt[step]++
}

func merge(ts []*tally, elapsed time.Duration) Result {
	r := Result{Errors: map[string]int{}, Elapsed: elapsed}
	hist := make([]int, histLen)
	stopped := elapsed
	for _, t := range ts {
		stopped = min(stopped, t.stopped)
	}
	okAt := make([]int, int(stopped/StallResolution))
	for _, t := range ts {
		for i, n := range t.okAt {
			if i < len(okAt) {
				okAt[i] += n
			}
		}
		r.Samples = append(r.Samples, t.samples...)
		r.OK += t.ok
		r.Failed += t.failed
		r.MaxLatency = max(r.MaxLatency, t.max)
		for c, n := range t.errors {
			r.Errors[c] += n
		}
		for i, n := range t.hist {
			hist[i] += n
		}
	}
	r.Total = r.OK + r.Failed
	r.P50 = percentile(hist, r.OK, 0.50, r.MaxLatency)
	r.P99 = percentile(hist, r.OK, 0.99, r.MaxLatency)
	r.LongestStall = time.Duration(longestZeroRun(okAt)) * StallResolution
	return r
}

func longestZeroRun(counts []int) int {
	longest, run := 0, 0
	for _, n := range counts {
		if n != 0 {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return longest
}

// percentile is the upper bound of the bucket holding the q-quantile of n
// values, capped at the exact maximum.
func percentile(hist []int, n int, q float64, maxLat time.Duration) time.Duration {
	if n == 0 {
		return 0
	}
	rank := int(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	seen := 0
	for i, c := range hist {
		seen += c
		if seen >= rank {
			return min(time.Duration(histUpper(i))*time.Microsecond, maxLat)
		}
	}
	return maxLat
}
