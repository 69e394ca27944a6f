package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
)

// event is one line of a reload timeline, at an offset from the operation's
// start.
type event struct {
	at   time.Duration
	what string
}

// journalEntry is the part of `journalctl -o json` a timeline reads.
type journalEntry struct {
	Realtime string          `json:"__REALTIME_TIMESTAMP"`
	Message  json.RawMessage `json:"MESSAGE"`
	Ident    string          `json:"SYSLOG_IDENTIFIER"`
	PID      string          `json:"_PID"`
	Unit     string          `json:"UNIT"`
	SysUnit  string          `json:"_SYSTEMD_UNIT"`
	WPID     string          `json:"SDLAUNCH_WORKER_PID"`
	Gen      string          `json:"SDLAUNCH_GENERATION"`
	Slot     string          `json:"SDLAUNCH_WORKER"`
}

func (e *journalEntry) text() string {
	var s string
	if json.Unmarshal(e.Message, &s) == nil {
		return s
	}
	var b []byte // journald sends non-UTF-8 messages as byte arrays
	if json.Unmarshal(e.Message, &b) == nil {
		return string(b)
	}
	return string(e.Message)
}

// gunicornLine strips gunicorn's "[date] [pid] [LEVEL] " prefix, keeping the pid.
var gunicornLine = regexp.MustCompile(`^\[[^\]]*\] \[(\d+)\] \[[A-Z]+\] (.*)$`)

// journalEvents turns the journal of unit into events relative to t0.
func journalEvents(raw []byte, unit string, t0 time.Time) []event {
	var out []event
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e journalEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		us, err := strconv.ParseInt(e.Realtime, 10, 64)
		if err != nil {
			continue
		}
		at := time.UnixMicro(us).Sub(t0)
		msg := e.text()
		switch {
		case e.PID == "1" && strings.HasPrefix(e.Unit, unit+"."):
			out = append(out, event{at, "systemd: " + msg})
		case e.SysUnit != unit+".service":
			continue
		case e.WPID != "":
			who := fmt.Sprintf("worker %s gen %s (pid %s)", e.Slot, e.Gen, e.WPID)
			if m := gunicornLine.FindStringSubmatch(msg); m != nil {
				who += " gunicorn[" + m[1] + "]"
				msg = m[2]
			}
			out = append(out, event{at, who + ": " + msg})
		case e.Ident == "sdlaunch":
			out = append(out, event{at, "launcher: " + msg})
		default:
			out = append(out, event{at, e.Ident + ": " + msg})
		}
	}
	return out
}

// requestEvents describes what the load saw around an operation: the first
// and last answer of every worker process, the longest time without an
// answer, and the slowest requests.
func requestEvents(samples []load.Sample, start time.Time, t0 time.Time, from, to time.Duration, slowest int) []event {
	base := start.Sub(t0) // sample offsets are from the load's start
	type span struct{ first, last time.Duration }
	workers := map[string]*span{}
	var in []load.Sample
	for _, s := range samples {
		end := s.Start + s.Latency
		if end < from-base || s.Start > to-base {
			continue
		}
		in = append(in, s)
		if s.Class != "" || s.Server == "" {
			continue
		}
		w := workers[s.Server]
		if w == nil {
			w = &span{first: end, last: end}
			workers[s.Server] = w
		}
		w.first, w.last = min(w.first, end), max(w.last, end)
	}
	var out []event
	for pid, w := range workers {
		if w.first > from-base+100*time.Millisecond {
			out = append(out, event{base + w.first, fmt.Sprintf("requests: first answer by pid %s", pid)})
		}
		if w.last < to-base-100*time.Millisecond {
			out = append(out, event{base + w.last, fmt.Sprintf("requests: last answer by pid %s", pid)})
		}
	}
	// The longest time without a successful answer.
	var ends []time.Duration
	for _, s := range in {
		if s.Class == "" {
			ends = append(ends, s.Start+s.Latency)
		}
	}
	slices.Sort(ends)
	var gapFrom, gap time.Duration
	for i := 1; i < len(ends); i++ {
		if d := ends[i] - ends[i-1]; d > gap {
			gap, gapFrom = d, ends[i-1]
		}
	}
	if gap > 0 {
		out = append(out, event{base + gapFrom, fmt.Sprintf("requests: no answer for %s, from here", dur(gap))})
		out = append(out, event{base + gapFrom + gap, "requests: answers resume"})
	}
	slices.SortFunc(in, func(a, b load.Sample) int { return int(b.Latency - a.Latency) })
	for i, s := range in[:min(slowest, len(in))] {
		who := "pid " + s.Server
		if s.Class != "" {
			who = "FAILED: " + s.Class
		}
		out = append(out, event{base + s.Start, fmt.Sprintf("requests: slow #%d sent (%s)", i+1, dur(s.Latency))})
		out = append(out, event{base + s.Start + s.Latency, fmt.Sprintf("requests: slow #%d answered after %s, %s", i+1, dur(s.Latency), who)})
	}
	return out
}

// reloadTimeline is the merged timeline of the operation of m that the
// worst request overlapped, relative to the operation's start: the
// journal's events and the requests'. When the worst request overlapped
// none (it came later, in what the table counts as the steady state), it
// is the timeline of the last operation that started before it, stretched
// to the worst request's answer, and a first line says so.
func reloadTimeline(m *measurement, journal []byte, unit string) (opIndex int, events []event) {
	if len(m.ops) == 0 {
		return -1, nil
	}
	var worst load.Sample
	for _, s := range m.samples {
		if s.Latency > worst.Latency {
			worst = s
		}
	}
	overlapped := false
	for i, o := range m.ops {
		if worst.Start < o.End+settle && worst.Start+worst.Latency > o.Start {
			opIndex, overlapped = i, true
			break
		}
		if o.Start < worst.Start {
			opIndex = i
		}
	}
	o := m.ops[opIndex]
	t0 := m.load.Start.Add(o.Start)
	from, to := -200*time.Millisecond, o.End-o.Start+settle
	if !overlapped {
		to = max(to, worst.Start+worst.Latency-o.Start+200*time.Millisecond)
		events = append(events, event{from, fmt.Sprintf("bench: the worst request (%s) overlapped no operation: it was sent %s after this one returned", dur(worst.Latency), dur(worst.Start-o.End))})
	}
	events = append(events, event{0, "bench: systemctl " + m.op + " " + unit + ".service starts"})
	events = append(events, event{o.End - o.Start, "bench: systemctl " + m.op + " returns"})
	for _, e := range journalEvents(journal, unit, t0) {
		if e.at >= from && e.at <= to {
			events = append(events, e)
		}
	}
	events = append(events, requestEvents(m.samples, m.load.Start, t0, from, to, 3)...)
	slices.SortStableFunc(events, func(a, b event) int { return int(a.at - b.at) })
	return opIndex, events
}

func formatTimeline(events []event) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%+9.1f ms  %s\n", float64(e.at)/float64(time.Millisecond), e.what)
	}
	return b.String()
}
