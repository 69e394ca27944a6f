package prefork

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// parseEntry decodes one journal native-protocol datagram.
func parseEntry(t *testing.T, d []byte) map[string]string {
	t.Helper()
	e := map[string]string{}
	for len(d) > 0 {
		i := bytes.IndexAny(d, "=\n")
		if i < 0 {
			t.Fatalf("truncated entry %q", d)
		}
		name := string(d[:i])
		if d[i] == '=' {
			j := bytes.IndexByte(d[i:], '\n')
			e[name] = string(d[i+1 : i+j])
			d = d[i+j+1:]
			continue
		}
		n := binary.LittleEndian.Uint64(d[i+1:])
		e[name] = string(d[i+9 : i+9+int(n)])
		d = d[i+9+int(n)+1:]
	}
	return e
}

// Under systemd every line is one journal entry with the worker's fields and
// its <N> priority, in order.
func TestForwarderJournalEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.sock")
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sink := newLogSink(true, &out, "app")
	sink.jpath = path
	id := &workerID{slot: 2, gen: 7, pid: 4242, prefix: "[w2] "}
	f := startForwarder(id, r, sink)
	const n = 500
	go func() {
		for i := range n {
			if i%100 == 0 {
				fmt.Fprintf(w, "<3>error %d\n", i)
			} else {
				fmt.Fprintf(w, "line %d\n", i)
			}
		}
		w.Close()
	}()
	buf := make([]byte, 1<<16)
	for i := range n {
		_ = srv.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := srv.Read(buf)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		e := parseEntry(t, buf[:k])
		msg, prio := fmt.Sprintf("line %d", i), "6"
		if i%100 == 0 {
			msg, prio = fmt.Sprintf("error %d", i), "3"
		}
		want := map[string]string{"MESSAGE": msg, "PRIORITY": prio, "SYSLOG_IDENTIFIER": "app", "SYSLOG_PID": "4242",
			"SDLAUNCH_WORKER": "2", "SDLAUNCH_GENERATION": "7", "SDLAUNCH_WORKER_PID": "4242"}
		if len(e) != len(want) {
			t.Fatalf("entry %d: %q, want %q", i, e, want)
		}
		for k, v := range want {
			if e[k] != v {
				t.Fatalf("entry %d: %s=%q, want %q (entry %q)", i, k, e[k], v, e)
			}
		}
	}
	<-f.done
	if out.Len() != 0 {
		t.Errorf("lines went to the terminal too: %q", out.String())
	}
	if tail := f.lastLines(); tail != "line 495 | line 496 | line 497 | line 498 | line 499" {
		t.Errorf("lastLines() = %q", tail)
	}
}

// writes records every Write call.
type writes struct{ calls [][]byte }

func (w *writes) Write(b []byte) (int, error) {
	w.calls = append(w.calls, bytes.Clone(b))
	return len(b), nil
}

// Lines already in the pipe go to the terminal in one write, whole and
// prefixed; the pipe was enlarged.
func TestForwarderBatchesWholeLines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 400 {
		fmt.Fprintf(w, "line %d of the batch\n", i)
		fmt.Fprintf(&want, "[w0] line %d of the batch\n", i)
	}
	w.Close()
	var out writes
	f := startForwarder(&workerID{prefix: "[w0] "}, r, newLogSink(false, &out, "app"))
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		t.Fatal("forwarder did not finish after EOF")
	}
	if len(out.calls) != 1 {
		t.Errorf("%d writes for 400 lines that were all in the pipe, want 1", len(out.calls))
	}
	if got := string(bytes.Join(out.calls, nil)); got != want.String() {
		t.Errorf("terminal got %.200q..., want %.200q...", got, want.String())
	}
}

func TestPipeEnlarged(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := startForwarder(&workerID{prefix: "[w0] "}, r, newLogSink(false, &bytes.Buffer{}, "app"))
	rc, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	_ = rc.Control(func(fd uintptr) { size, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
	if err != nil || size < pipeSize {
		t.Errorf("pipe size %d (%v), want %d", size, err, pipeSize)
	}
	w.Close()
	<-f.done
}

func TestAppendField(t *testing.T) {
	if got := string(appendField(nil, "MESSAGE", []byte("a=b"))); got != "MESSAGE=a=b\n" {
		t.Errorf("plain field: %q", got)
	}
	got := appendField(nil, "MESSAGE", []byte("two\nlines"))
	want := append([]byte("MESSAGE\n"), 9, 0, 0, 0, 0, 0, 0, 0)
	want = append(want, "two\nlines\n"...)
	if !bytes.Equal(got, want) {
		t.Errorf("binary field: %q, want %q", got, want)
	}
}

// BenchmarkForwardTerminal measures forwarding to a terminal-like writer.
func BenchmarkForwardTerminal(b *testing.B) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	sink := newLogSink(false, discard{&out}, "app")
	f := startForwarder(&workerID{prefix: "[w0] "}, r, sink)
	line := []byte(strings.Repeat("x", 99) + "\n")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_, _ = w.Write(line)
	}
	w.Close()
	<-f.done
}

type discard struct{ *bytes.Buffer }

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// chunks is a reader that returns its chunks one per Read.
type chunks struct{ c [][]byte }

func (c *chunks) Read(b []byte) (int, error) {
	if len(c.c) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.c[0])
	if n < len(c.c[0]) {
		c.c[0] = c.c[0][n:]
	} else {
		c.c = c.c[1:]
	}
	return n, nil
}

// The forwarder pauses only after a read that emptied the pipe and brought
// little: never before the first read, never while a fast writer fills
// whole reads, never when the read was cut short by the buffer.
func TestPacedReaderPausesOnlyAfterSmallReads(t *testing.T) {
	line := []byte("GET / 200\n")
	big := bytes.Repeat([]byte("x"), paceBelow)
	for _, c := range []struct {
		name  string
		in    [][]byte
		buf   int
		pause []bool // before each read
	}{
		{"one line at a time", [][]byte{line, line, line}, 1024, []bool{false, true, true, true}},
		{"a fast writer", [][]byte{big, big, line}, 2 * paceBelow, []bool{false, false, false, true}},
		{"a read cut short by the buffer", [][]byte{bytes.Repeat(line, 20)}, 100, []bool{false, false, false}},
	} {
		var paused []bool
		slept := false
		p := &pacedReader{r: &chunks{c: c.in}, sleep: func(d time.Duration) {
			if d != paceDelay {
				t.Errorf("%s: slept %v, want %v", c.name, d, paceDelay)
			}
			slept = true
		}}
		b := make([]byte, c.buf)
		for range c.pause {
			slept = false
			_, err := p.Read(b)
			paused = append(paused, slept)
			if err != nil {
				break
			}
		}
		if !slices.Equal(paused, c.pause) {
			t.Errorf("%s: paused before reads %v, want %v", c.name, paused, c.pause)
		}
	}
}

// threadSleep sleeps for as long as it is asked, signals or not.
func TestThreadSleep(t *testing.T) {
	start := time.Now()
	threadSleep(20 * time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("threadSleep(20ms) returned after %v", d)
	}
}
