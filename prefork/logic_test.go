package prefork

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

func TestSplitPriority(t *testing.T) {
	cases := []struct {
		in   string
		prio journal.Priority
		text string
	}{
		{"<3>boom", journal.PriErr, "boom"},
		{"<7>", journal.PriDebug, ""},
		{"<8>not a priority", journal.PriInfo, "<8>not a priority"},
		{"plain", journal.PriInfo, "plain"},
		{"<3", journal.PriInfo, "<3"},
	}
	for _, c := range cases {
		p, text := splitPriority([]byte(c.in))
		if p != c.prio || string(text) != c.text {
			t.Errorf("splitPriority(%q) = %d, %q; want %d, %q", c.in, p, text, c.prio, c.text)
		}
	}
}

func TestParseNotify(t *testing.T) {
	m := parseNotify(&workerID{}, []byte("READY=1\nSTATUS=up: a=b\n\nbogus\nEXTEND_TIMEOUT_USEC=5000000"))
	if m.fields["READY"] != "1" || m.fields["STATUS"] != "up: a=b" || m.fields["EXTEND_TIMEOUT_USEC"] != "5000000" {
		t.Fatalf("fields = %v", m.fields)
	}
	if _, ok := m.fields["bogus"]; ok || len(m.fields) != 3 {
		t.Fatalf("fields = %v, want exactly READY, STATUS and EXTEND_TIMEOUT_USEC", m.fields)
	}
	if v, ok := parseUsec("-1"); ok {
		t.Errorf("parseUsec(-1) = %d, ok", v)
	}
}

func validConfig() Config {
	return Config{Command: []string{"true"}, Workers: 2, BootRetries: 3, ReadyAfter: time.Second,
		StartTimeout: time.Minute, StopSignal: syscall.SIGTERM, GracefulTimeout: time.Second,
		BackoffMax: time.Second}
}

func TestConfigValidate(t *testing.T) {
	if err := (&Config{}).Validate(); err == nil {
		t.Fatal("empty config validated")
	}
	ok := validConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := map[string]func(*Config){
		"no COMMAND":        func(c *Config) { c.Command = nil },
		"--workers 0":       func(c *Config) { c.Workers = 0 },
		"--min-ready 3":     func(c *Config) { c.MinReady = 3 },
		"--boot-retries 0":  func(c *Config) { c.BootRetries = 0 },
		"--start-timeout":   func(c *Config) { c.StartTimeout = 0 },
		"--backoff-max":     func(c *Config) { c.BackoffMax = time.Millisecond },
		"--worker-watchdog": func(c *Config) { c.WorkerWatchdog = time.Millisecond },
	}
	for want, mutate := range bad {
		c := validConfig()
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Validate() = %v, want an error naming %q", want, err, want)
		}
	}
}

// The forwarder must emit whole lines, split over-long ones, flush a last
// line without a newline, and keep the tail for boot-failure reports.
func TestForwarderLines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sink := newLogSink(false, &out, "app")
	id := &workerID{slot: 3, prefix: "[w3] "}
	f := startForwarder(id, r, sink)
	long := strings.Repeat("x", maxLine+10)
	w.WriteString("Traceback (most recent call last):\n  File \"app.py\", line 1\n" + long + "\nno newline at end")
	w.Close()
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		t.Fatal("forwarder did not finish after EOF")
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{"[w3] Traceback (most recent call last):", "[w3]   File \"app.py\", line 1",
		"[w3] " + strings.Repeat("x", maxLine), "[w3] xxxxxxxxxx", "[w3] no newline at end"}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d: %q", len(lines), len(want), lines)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %.60q, want %.60q", i, lines[i], want[i])
		}
	}
	if tail := f.lastLines(); !strings.HasSuffix(tail, "xxxxxxxxxx | no newline at end") {
		t.Errorf("lastLines() = %.80q", tail)
	}
}

func TestSigMask(t *testing.T) {
	status := "Name:\tnode\nSigBlk:\t0000000000000002\nSigCgt:\t0000000000000000\n"
	m, ok := sigMask(status, "SigBlk:")
	if !ok || m != 0x2 {
		t.Fatalf("sigMask = %#x, %v", m, ok)
	}
	if m&(1<<(uint(syscall.SIGTERM)-1)) != 0 || m&(1<<(uint(syscall.SIGINT)-1)) == 0 {
		t.Errorf("mask %#x: SIGINT should be blocked, SIGTERM not", m)
	}
	if _, ok := sigMask("Name:\tx\n", "SigBlk:"); ok {
		t.Error("a status without SigBlk parsed")
	}
	if !blockedOnMainThread(1<<30, syscall.SIGTERM) {
		t.Error("an unreadable status must count as blocked (the signal then goes to the process)")
	}
}
