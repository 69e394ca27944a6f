package prefork

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// Syslog priorities used by the launcher.
const (
	prioErr     = journal.PriErr
	prioWarning = journal.PriWarning
	prioNotice  = journal.PriNotice
	prioInfo    = journal.PriInfo
	prioDebug   = journal.PriDebug
)

// maxLine is where an over-long line is split, like journald's LineMax.
const maxLine = 48 * 1024

// logSink writes the launcher's own messages and its workers' lines, each as
// one whole record: a journal entry with native fields, or one write to out
// with a "sdlaunch: " or "[wN] " prefix. The mutex keeps lines from different
// workers from interleaving.
type logSink struct {
	mu      sync.Mutex
	journal bool
	out     io.Writer
	ident   string // SYSLOG_IDENTIFIER of worker lines
}

func newLogSink(useJournal bool, out io.Writer, ident string) *logSink {
	return &logSink{journal: useJournal, out: out, ident: ident}
}

// Logf logs a launcher message.
func (l *logSink) Logf(prio journal.Priority, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if l.journal {
		err := journal.Send(msg, prio, map[string]string{"SYSLOG_IDENTIFIER": "sdlaunch"})
		if err == nil {
			return
		}
	}
	if prio >= prioDebug {
		return // debug goes to the journal only
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, "sdlaunch: %s\n", msg)
}

// workerLine logs one line of worker output.
func (l *logSink) workerLine(w *workerID, line []byte) {
	prio, text := splitPriority(line)
	if l.journal {
		err := journal.Send(string(text), prio, map[string]string{
			"SYSLOG_IDENTIFIER":   l.ident,
			"SYSLOG_PID":          strconv.Itoa(w.pid),
			"SDLAUNCH_WORKER":     strconv.Itoa(w.slot),
			"SDLAUNCH_GENERATION": strconv.Itoa(w.gen),
			"SDLAUNCH_WORKER_PID": strconv.Itoa(w.pid),
		})
		if err == nil {
			return
		}
	}
	buf := make([]byte, 0, len(line)+16)
	buf = append(buf, w.prefix...)
	buf = append(buf, line...)
	buf = append(buf, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.out.Write(buf)
}

// splitPriority honours a leading "<N>" syslog priority (sd-daemon.h style);
// lines without one are info, as journald does for stdout.
func splitPriority(line []byte) (journal.Priority, []byte) {
	if len(line) >= 3 && line[0] == '<' && line[2] == '>' && line[1] >= '0' && line[1] <= '7' {
		return journal.Priority(line[1] - '0'), line[3:]
	}
	return prioInfo, line
}

// workerID is the immutable identity of a worker, safe to share with
// forwarder and notify goroutines.
type workerID struct {
	slot, gen, pid int
	prefix         string
}

func (w *workerID) String() string {
	return fmt.Sprintf("worker %d (pid %d, generation %d)", w.slot, w.pid, w.gen)
}

// tailLines is how many of a worker's last lines are kept for the
// boot-failure message.
const tailLines = 5

// forwarder reads a worker's combined stdout/stderr pipe and logs whole
// lines. It keeps the last lines for error reports; done closes at EOF.
type forwarder struct {
	id   *workerID
	r    *os.File
	sink *logSink
	done chan struct{}

	mu   sync.Mutex
	tail [][]byte
}

func startForwarder(id *workerID, r *os.File, sink *logSink) *forwarder {
	f := &forwarder{id: id, r: r, sink: sink, done: make(chan struct{})}
	go f.run()
	return f
}

func (f *forwarder) run() {
	defer close(f.done)
	defer f.r.Close()
	br := bufio.NewReaderSize(f.r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			f.emit(bytes.TrimSuffix(line, []byte("\n")))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (f *forwarder) emit(line []byte) {
	f.sink.workerLine(f.id, line)
	f.mu.Lock()
	if len(f.tail) == tailLines {
		copy(f.tail, f.tail[1:])
		f.tail = f.tail[:tailLines-1]
	}
	f.tail = append(f.tail, bytes.Clone(line))
	f.mu.Unlock()
}

// lastLines returns the kept tail joined with " | ".
func (f *forwarder) lastLines() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(bytes.Join(f.tail, []byte(" | ")))
}
