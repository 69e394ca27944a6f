package prefork

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"
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

// maxBatch bounds how many bytes of one worker's lines go to the terminal in
// one write(2).
const maxBatch = 64 * 1024

// pipeSize is asked for each worker's output pipe (64 KiB by default), so
// that a worker outruns a slow moment of journald or of a terminal without
// blocking on its write. Sixty-four workers hold 4096 pages, well under the
// per-user soft limit (fs.pipe-user-pages-soft, 16384) past which the
// kernel would shrink new pipes.
const pipeSize = 256 * 1024

// journalSocket is journald's native protocol socket.
const journalSocket = "/run/systemd/journal/socket"

// logSink writes the launcher's own messages and its workers' lines, each
// line as one whole record: a journal entry with native fields, or part of
// one write to out with a "sdlaunch: " or "[wN] " prefix. The mutex keeps
// lines from different workers from interleaving on out.
type logSink struct {
	mu      sync.Mutex
	journal bool
	out     io.Writer
	ident   string // SYSLOG_IDENTIFIER of worker lines

	// Worker lines go to journald over a socket connected once: one
	// datagram per line, with no per-line path lookup or allocation.
	// jconn is nil when it cannot be connected; lines then take
	// go-systemd's path.
	jpath string
	jonce sync.Once
	jconn *net.UnixConn
}

func newLogSink(useJournal bool, out io.Writer, ident string) *logSink {
	return &logSink{journal: useJournal, out: out, ident: ident, jpath: journalSocket}
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

func (l *logSink) journalConn() *net.UnixConn {
	l.jonce.Do(func() {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: l.jpath, Net: "unixgram"})
		if err == nil {
			l.jconn = c
		}
	})
	return l.jconn
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

	// Only the forwarder's goroutine touches these.
	fields []byte // the worker's journal fields, the same on every line
	dgram  []byte // the journal entry being built
	buf    []byte // terminal lines not yet written

	mu   sync.Mutex
	tail [tailLines][]byte // a ring: next is the oldest
	next int
	n    int
}

func startForwarder(id *workerID, r *os.File, sink *logSink) *forwarder {
	f := &forwarder{id: id, r: r, sink: sink, done: make(chan struct{})}
	for _, kv := range [][2]string{
		{"SYSLOG_IDENTIFIER", sink.ident},
		{"SYSLOG_PID", strconv.Itoa(id.pid)},
		{"SDLAUNCH_WORKER", strconv.Itoa(id.slot)},
		{"SDLAUNCH_GENERATION", strconv.Itoa(id.gen)},
		{"SDLAUNCH_WORKER_PID", strconv.Itoa(id.pid)},
	} {
		f.fields = appendField(f.fields, kv[0], []byte(kv[1]))
	}
	// A bigger pipe is only an improvement: without it, it is 64 KiB.
	// SyscallConn, not Fd: Fd would put the read end in blocking mode.
	if rc, err := r.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) })
	}
	go f.run()
	return f
}

func (f *forwarder) run() {
	defer close(f.done)
	defer f.r.Close()
	br := bufio.NewReaderSize(&pacedReader{r: f.r, sleep: threadSleep}, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			f.emit(bytes.TrimSuffix(line, []byte("\n")))
		}
		// Terminal lines are batched while whole lines are already read;
		// they go out before the forwarder can block on the next read.
		if err != nil || len(f.buf) >= maxBatch || !wholeLineBuffered(br) {
			f.flush()
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// wholeLineBuffered says whether br holds a whole line that ReadSlice can
// return without reading.
func wholeLineBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

func (f *forwarder) emit(line []byte) {
	// The tail first: a boot failure's report must not wait for a slow
	// journald to take the line that explains it.
	f.mu.Lock()
	f.tail[f.next] = append(f.tail[f.next][:0], line...)
	f.next = (f.next + 1) % tailLines
	f.n = min(f.n+1, tailLines)
	f.mu.Unlock()
	prio, text := splitPriority(line)
	if !f.sink.journal || !f.sendJournal(prio, text) {
		f.buf = append(f.buf, f.id.prefix...)
		f.buf = append(f.buf, line...)
		f.buf = append(f.buf, '\n')
	}
}

// sendJournal sends one line as one journal entry; false if it could not
// (the line then goes to the terminal, as before).
func (f *forwarder) sendJournal(prio journal.Priority, text []byte) bool {
	if c := f.sink.journalConn(); c != nil {
		d := append(f.dgram[:0], "PRIORITY="...)
		d = strconv.AppendInt(d, int64(prio), 10)
		d = append(d, '\n')
		d = appendField(d, "MESSAGE", text)
		d = append(d, f.fields...)
		_, err := c.Write(d)
		f.dgram = d[:0]
		if err == nil {
			return true
		}
		// A datagram too big for the socket (a 48 KiB line with a small
		// send buffer) goes through go-systemd, which passes a memfd.
		if !errors.Is(err, unix.EMSGSIZE) && !errors.Is(err, unix.ENOBUFS) {
			return false
		}
	}
	err := journal.Send(string(text), prio, map[string]string{
		"SYSLOG_IDENTIFIER":   f.sink.ident,
		"SYSLOG_PID":          strconv.Itoa(f.id.pid),
		"SDLAUNCH_WORKER":     strconv.Itoa(f.id.slot),
		"SDLAUNCH_GENERATION": strconv.Itoa(f.id.gen),
		"SDLAUNCH_WORKER_PID": strconv.Itoa(f.id.pid),
	})
	return err == nil
}

// appendField appends a journal native-protocol field: NAME=value, or the
// binary form when value holds a newline.
func appendField(b []byte, name string, value []byte) []byte {
	b = append(b, name...)
	if bytes.IndexByte(value, '\n') < 0 {
		b = append(b, '=')
		b = append(b, value...)
		return append(b, '\n')
	}
	b = append(b, '\n')
	b = binary.LittleEndian.AppendUint64(b, uint64(len(value)))
	b = append(b, value...)
	return append(b, '\n')
}

// flush writes the batched terminal lines, whole, in one write.
func (f *forwarder) flush() {
	if len(f.buf) == 0 {
		return
	}
	f.sink.mu.Lock()
	_, _ = f.sink.out.Write(f.buf)
	f.sink.mu.Unlock()
	f.buf = f.buf[:0]
}

// lastLines returns the kept tail joined with " | ".
func (f *forwarder) lastLines() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b bytes.Buffer
	for i := range f.n {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.Write(f.tail[(f.next-f.n+i+tailLines)%tailLines])
	}
	return b.String()
}
