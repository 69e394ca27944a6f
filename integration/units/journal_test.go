package units

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Worker lines in the journal and in the report of a failed reload, under
// a real systemd 252 and journald (issue 11, part 3).

// waitJournal polls the journal (journalctl -o json ARGS) until done says
// the entries are all there; the deadline only bounds a hang.
func (lb *lifeBox) waitJournal(t *testing.T, what string, done func([]map[string]string) bool, args ...string) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		es := lb.journal(t, args...)
		if done(es) {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("journal: %s not seen within 20s; journalctl %s:\n%s", what, strings.Join(args, " "), lb.mustRun(append([]string{"journalctl", "--no-pager"}, args...)...))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A worker's line reaches journald from the launcher, so journald records
// the launcher's pid as _PID (the kernel's SCM_CREDENTIALS of the sender)
// and journalctl's default output shows that, not the worker's. The
// launcher sends the worker's pid as SYSLOG_PID and SDLAUNCH_WORKER_PID,
// and `sdlaunch logs` shows it with the slot. The kernel lets only a
// CAP_SYS_ADMIN sender claim another pid: shown here with a raw datagram.
func TestJournalWorkerPIDs(t *testing.T) {
	lb := newLifeBox(t)
	port := freePort(t, 19000, 19999)
	const name = "jpids"
	svc := name + ".service"
	lb.mustInstall(t, name, port, []string{"-w", "2", "--ready", "notify"}, lb.app)
	mainPID := lb.show(t, svc, "MainPID")["MainPID"]

	readyRe := regexp.MustCompile(`^lifeapp worker (\d) generation 1 pid (\d+) ready$`)
	ready := map[string]map[string]string{} // worker slot -> entry
	lb.waitJournal(t, "both workers' ready lines", func(es []map[string]string) bool {
		for _, e := range es {
			if m := readyRe.FindStringSubmatch(e["MESSAGE"]); m != nil {
				ready[m[1]] = e
			}
		}
		return len(ready) == 2
	}, "_SYSTEMD_UNIT="+svc)
	workerPID := map[string]string{}
	for slot, e := range ready {
		pid := readyRe.FindStringSubmatch(e["MESSAGE"])[2]
		workerPID[slot] = pid
		// journald's trusted fields describe the sender: the launcher.
		if e["_PID"] != mainPID || e["_COMM"] != "sdlaunch" {
			t.Errorf("worker %s's line: _PID=%s _COMM=%s, want the launcher's (%s, sdlaunch)", slot, e["_PID"], e["_COMM"], mainPID)
		}
		if e["SYSLOG_PID"] != pid || e["SDLAUNCH_WORKER_PID"] != pid || e["SDLAUNCH_WORKER"] != slot || e["SYSLOG_IDENTIFIER"] != "app.sh" {
			t.Errorf("worker %s's line: SYSLOG_PID=%s SDLAUNCH_WORKER_PID=%s SDLAUNCH_WORKER=%s SYSLOG_IDENTIFIER=%s, want pid %s",
				slot, e["SYSLOG_PID"], e["SDLAUNCH_WORKER_PID"], e["SDLAUNCH_WORKER"], e["SYSLOG_IDENTIFIER"], pid)
		}
	}

	// journalctl's short output prefers _PID to SYSLOG_PID (systemd 252
	// logs-show.c output_short): the launcher's pid.
	short := lb.mustRun("journalctl", "--no-pager", "-o", "short", "_SYSTEMD_UNIT="+svc, "SDLAUNCH_WORKER=0")
	if !strings.Contains(short, " app.sh["+mainPID+"]: lifeapp worker 0 generation 1 pid "+workerPID["0"]+" ready\n") {
		t.Errorf("journalctl -o short shows worker 0's line with another pid than the launcher's %s:\n%s", mainPID, short)
	}

	// sdlaunch logs: the worker's pid and slot.
	logs := lb.mustRun(lb.sdl, "logs", name)
	t.Logf("sdlaunch logs %s:\n%s", name, logs)
	for slot, pid := range workerPID {
		want := " app.sh[" + pid + "]: [w" + slot + "] lifeapp worker " + slot + " generation 1 pid " + pid + " ready\n"
		if !strings.Contains(logs, want) {
			t.Errorf("sdlaunch logs lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^\w{3} \d\d \d\d:\d\d:\d\d \S+ sdlaunch\[` + mainPID + `\]: `).MatchString(logs) {
		t.Errorf("sdlaunch logs shows no launcher line as sdlaunch[%s]", mainPID)
	}
	one := lb.mustRun(lb.sdl, "logs", "--worker", "1", name)
	if !strings.Contains(one, "[w1] lifeapp worker 1 generation 1 pid "+workerPID["1"]+" ready") || strings.Contains(one, "[w0]") || strings.Contains(one, "sdlaunch[") {
		t.Errorf("sdlaunch logs --worker 1 %s:\n%s", name, one)
	}
	if out := lb.mustRun(lb.sdl, "logs", "--since", "2000-01-01", "-p", "emerg", name); out != "-- No entries --\n" {
		t.Errorf("sdlaunch logs with nothing to show: %q", out)
	}

	// The kernel's check (net/core/scm.c, scm_check_creds): a sender may
	// put another pid in SCM_CREDENTIALS only with CAP_SYS_ADMIN. As an
	// unprivileged user, as the launcher runs (DynamicUser=yes): EPERM.
	send := `import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
creds = struct.pack("iII", int(sys.argv[1]), os.getuid(), os.getgid())
try:
    s.sendmsg([b"MESSAGE=" + sys.argv[2].encode() + b"\n"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)], 0, "/run/systemd/journal/socket")
    print("sent")
except PermissionError:
    print("EPERM")
`
	marker := "jpids-claimed-" + randHex(4)
	if out := strings.TrimSpace(lb.mustRun("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "python3", "-c", send, workerPID["0"], marker)); out != "EPERM" {
		t.Errorf("an unprivileged sender claiming worker 0's pid: %q, want EPERM", out)
	}
	// root (CAP_SYS_ADMIN) may, and journald then describes the worker.
	if out := strings.TrimSpace(lb.mustRun("python3", "-c", send, workerPID["0"], marker)); out != "sent" {
		t.Fatalf("root claiming worker 0's pid: %q", out)
	}
	es := lb.waitJournal(t, "the datagram sent with worker 0's pid", func(es []map[string]string) bool { return len(es) > 0 }, "MESSAGE="+marker)
	if e := es[0]; e["_PID"] != workerPID["0"] || e["_SYSTEMD_UNIT"] != svc || e["_COMM"] != "python3" {
		t.Errorf("with CAP_SYS_ADMIN the sender's claimed pid %s is taken: _PID=%s _SYSTEMD_UNIT=%s _COMM=%s", workerPID["0"], e["_PID"], e["_SYSTEMD_UNIT"], e["_COMM"])
	}
}

// chattyBrokenApp cannot boot, and says so after 30 lines of noise.
const chattyBrokenApp = `#!/bin/sh
i=1
while [ $i -le 30 ]; do echo "app.sh: loading plugin $i"; i=$((i + 1)); done
echo 'app.sh: ImportError: cannot import name settings (broken deploy)'
exit 1
`

// A failed `sdlaunch reload` of an app that logs every request: the report
// shows the launcher's, reload-wait's and systemd's lines first, then under
// a marker at most 5 lines of the generation that failed (not the access
// log of the one that keeps serving), and ends with the verdict.
func TestReloadFailureReport(t *testing.T) {
	lb := newLifeBox(t)
	port := freePort(t, 20000, 20999)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	const name = "jreport"
	svc := name + ".service"
	lb.deploy(t, lb.goodApp("--access-log"))
	lb.mustInstall(t, name, port, []string{"-w", "2", "--ready", "notify"}, lb.app)
	waitUp(t, url)
	stopLoad := startLoad(t, url)
	// The access log is flowing before the deploy.
	lb.waitJournal(t, "100 access log lines", func(es []map[string]string) bool { return len(es) >= 100 }, "_SYSTEMD_UNIT="+svc, "MESSAGE=lifeapp worker 0: GET / 200", "+", "_SYSTEMD_UNIT="+svc, "MESSAGE=lifeapp worker 1: GET / 200")

	lb.deploy(t, chattyBrokenApp)
	out, errOut, code, took := lb.reload(name)
	t.Logf("sdlaunch reload of a broken deploy: exit %d in %s\nstdout:\n%sstderr:\n%s", code, took.Round(time.Millisecond), out, errOut)
	res := stopLoad()
	if code != 1 {
		t.Fatalf("sdlaunch reload of a broken deploy: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
	head := "last journal lines of " + svc + ":"
	if lines[0] != head {
		t.Fatalf("stderr does not start with %q", head)
	}
	verdict := lines[len(lines)-1]
	if !strings.HasPrefix(verdict, "sdlaunch: reload "+svc+" failed: ") || !strings.Contains(verdict, "reload to generation 2 failed") {
		t.Errorf("the last line is not the verdict: %q", verdict)
	}
	body := lines[1 : len(lines)-1]
	marker := -1
	for i, l := range body {
		if strings.HasPrefix(l, "-- generation 2's last ") {
			marker = i
		}
	}
	if marker < 0 {
		t.Fatalf("no part with generation 2's worker lines in the report")
	}
	first, workers := body[:marker], body[marker+1:]
	if m := regexp.MustCompile(`^-- generation 2's last (\d+) worker lines \(sdlaunch logs ` + name + ` shows them all\) --$`).FindStringSubmatch(body[marker]); m == nil || m[1] != strconv.Itoa(len(workers)) {
		t.Errorf("worker part marker %q for %d lines", body[marker], len(workers))
	}
	if len(workers) == 0 || len(workers) > 5 {
		t.Errorf("%d worker lines in the report, want 1 to 5", len(workers))
	}
	entryRe := regexp.MustCompile(`^\w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \S+\[\d+\]: `)
	// The failed generation's output, not the serving one's access log.
	workerLineRe := regexp.MustCompile(`^\w{3} \d\d \d\d:\d\d:\d\d\.\d{6} app\.sh\[\d+\]: \[w\d\] app\.sh: `)
	for _, l := range workers {
		if !workerLineRe.MatchString(l) {
			t.Errorf("worker line %q: want a timestamp, app.sh[worker pid], [wN] and the broken app's output", l)
		}
	}
	if len(first) > 21 { // 20 lines and "-- earlier lines left out --"
		t.Errorf("%d lines before the workers' part, want at most 20", len(first))
	}
	for _, l := range first {
		if strings.Contains(l, "GET / 200") || regexp.MustCompile(`\]: \[w\d\] `).MatchString(l) {
			t.Errorf("a worker's line among the launcher's: %q", l)
		}
		if l != "-- earlier lines left out --" && !entryRe.MatchString(l) {
			t.Errorf("line %q is not a journal entry", l)
		}
	}
	text := strings.Join(first, "\n")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(` sdlaunch\[\d+\]: worker \d \(pid \d+, generation 2\) exited with status 1 before it was ready`),
		regexp.MustCompile(`(?m) sdlaunch\[\d+\]: reload to generation 2 failed: .*; rolled back, generation 1 keeps serving$`),
		regexp.MustCompile(` ` + name + `\[\d+\]: sdlaunch: reload to generation 2 failed`), // reload-wait's stderr
		regexp.MustCompile(` systemd\[1\]: Reload failed for ` + regexp.QuoteMeta(svc)),
	} {
		if !want.MatchString(text) {
			t.Errorf("the launcher's part lacks %s", want)
		}
	}
	if got := strings.TrimSpace(lb.mustRun("systemctl", "is-active", svc)); got != "active" {
		t.Errorf("after the refused reload: is-active = %q", got)
	}
	checkLoad(t, res, 200)
}
