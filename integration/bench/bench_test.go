package main

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 31000: "31,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func rusageCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTime agrees with getrusage, however busy the machine is.
func TestProcStats(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ruBefore := rusageCPU(t)
	for deadline := time.Now().Add(20 * time.Second); rusageCPU(t)-ruBefore < 300*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Skip("could not get 300ms of CPU in 20s")
		}
	}
	after, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	got, want := after-before, rusageCPU(t)-ruBefore
	if got < want-50*time.Millisecond || got > want+50*time.Millisecond {
		t.Errorf("/proc/PID/stat counted %v of CPU, getrusage %v", got, want)
	}
	if kib, err := rssKiB(os.Getpid()); err != nil || kib < 1000 {
		t.Errorf("rss %d KiB, %v", kib, err)
	}
	if _, err := cpuTime(-1); err == nil {
		t.Error("cpuTime of no process: no error")
	}
}

func TestBusy(t *testing.T) {
	if busy("0.00 0.01 0.05") || !busy("99.0 1 1") || busy("?") {
		t.Error("busy misreads /proc/loadavg")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-k", "0"},
		{"-scenarios", "supervisord,nope"},
		{"-run-flags", "--ready=$(reboot)"},
		{"extra"},
		{"-duration", "-1s"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, errOut.String())
		}
		if out.Len() != 0 {
			t.Errorf("%q: printed a report: %q", args, out.String())
		}
	}
}

func TestMissingBinaryFails(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-sdlaunch", "/nonexistent/sdlaunch", "-q"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "/nonexistent/sdlaunch") {
		t.Errorf("exit %d, stderr %q; want 1 naming the binary", code, errOut.String())
	}
}
