package units

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestJournalArgs(t *testing.T) {
	cases := []struct {
		opts LogOptions
		want []string
	}{
		{LogOptions{Name: "app", Worker: -1}, []string{"--no-pager", "--unit=app.service"}},
		{LogOptions{Name: "app", Worker: 2, Lines: 10, Follow: true, Priority: "err..info"},
			[]string{"--no-pager", "--follow", "--lines=10", "--priority=err..info", "_SYSTEMD_UNIT=app.service", "SDLAUNCH_WORKER=2"}},
		{LogOptions{Name: "app", Worker: -1, User: true}, []string{"--no-pager", "--user", "--user-unit=app.service"}},
		{LogOptions{Name: "app", Worker: 0, User: true}, []string{"--no-pager", "--user", "_SYSTEMD_USER_UNIT=app.service", "SDLAUNCH_WORKER=0"}},
	}
	for _, c := range cases {
		got, err := JournalArgs(c.opts)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("JournalArgs(%+v) = %q, %v; want %q", c.opts, got, err, c.want)
		}
	}
	for _, bad := range []LogOptions{
		{Name: "a b", Worker: -1}, {Name: "app", Worker: -2}, {Name: "app", Worker: -1, Lines: -1},
		{Name: "app", Worker: -1, Priority: "loud"}, {Name: "app", Worker: -1, Since: "x\ny"},
	} {
		if _, err := JournalArgs(bad); err == nil || !IsValidation(err) {
			t.Errorf("JournalArgs(%+v): %v, want a ValidationError", bad, err)
		}
	}
}

func entries(t *testing.T, jsonLines string) []journalEntry {
	t.Helper()
	var out []journalEntry
	for _, l := range strings.Split(strings.TrimSpace(jsonLines), "\n") {
		e, err := parseEntry([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestEntryFormat(t *testing.T) {
	es := entries(t, `
{"__REALTIME_TIMESTAMP":"1700000001000000","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"app.py","_PID":"88","SYSLOG_PID":"132","SDLAUNCH_WORKER":"1","SDLAUNCH_WORKER_PID":"132","MESSAGE":"Traceback:\n  File \"x\"\n"}
{"__REALTIME_TIMESTAMP":"1700000002000000","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"sdlaunch","_PID":"88","MESSAGE":"reload to generation 2 failed"}
{"__REALTIME_TIMESTAMP":"1700000003000000","_COMM":"systemd","_PID":"1","MESSAGE":[98,97,100,7,9,120]}
{"MESSAGE":["first","second"]}
`)
	for i, want := range []string{
		// a worker's line: its own pid and slot, not the launcher's 88
		"Nov 14 22:13:21 web1 app.py[132]: [w1] Traceback:\n" + strings.Repeat(" ", len("Nov 14 22:13:21 web1 app.py[132]: ")) + `  File "x"`,
		"Nov 14 22:13:22 web1 sdlaunch[88]: reload to generation 2 failed",
		"Nov 14 22:13:23 systemd[1]: bad\\x07\tx",
		"unknown: first",
	} {
		if got := es[i].format(layoutShort, true, time.UTC); got != want {
			t.Errorf("entry %d:\n got %q\nwant %q", i, got, want)
		}
	}
	if got := es[1].format(layoutPrecise, false, time.UTC); got != "Nov 14 22:13:22.000000 sdlaunch[88]: reload to generation 2 failed" {
		t.Errorf("precise: %q", got)
	}
	var out strings.Builder
	n, err := copyEntries(strings.NewReader(`{"MESSAGE":"a"}`+"\n\n"+`{"MESSAGE":"b"}`), &out)
	if n != 2 || err != nil || out.String() != "unknown: a\nunknown: b\n" {
		t.Errorf("copyEntries: %d, %v, %q", n, err, out.String())
	}
	if _, err := copyEntries(strings.NewReader("not json\n"), &out); err == nil {
		t.Error("copyEntries took a line that is not JSON")
	}
}

func TestTailMatches(t *testing.T) {
	got := strings.Join(tailMatches("app.service", false, 0), " ")
	want := "_SYSTEMD_UNIT=app.service SYSLOG_IDENTIFIER=sdlaunch + _SYSTEMD_UNIT=app.service _TRANSPORT=stdout + " +
		"_SYSTEMD_UNIT=app.service PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3 + _PID=1 UNIT=app.service"
	if got != want {
		t.Errorf("system:\n got %s\nwant %s", got, want)
	}
	got = strings.Join(tailMatches("app.service", true, 1000), " ")
	want = "_SYSTEMD_USER_UNIT=app.service _UID=1000 SYSLOG_IDENTIFIER=sdlaunch + _SYSTEMD_USER_UNIT=app.service _UID=1000 _TRANSPORT=stdout + " +
		"_SYSTEMD_USER_UNIT=app.service _UID=1000 PRIORITY=0 PRIORITY=1 PRIORITY=2 PRIORITY=3 + USER_UNIT=app.service _UID=1000"
	if got != want {
		t.Errorf("user:\n got %s\nwant %s", got, want)
	}
}

func TestTailReport(t *testing.T) {
	es := entries(t, `
{"__REALTIME_TIMESTAMP":"1700000001000000","SYSLOG_IDENTIFIER":"sdlaunch","_PID":"88","MESSAGE":"reload to generation 2 failed"}
{"__REALTIME_TIMESTAMP":"1700000000500000","SYSLOG_IDENTIFIER":"app.py","_PID":"88","SDLAUNCH_WORKER":"0","SDLAUNCH_WORKER_PID":"90","MESSAGE":"GET / 200"}
`)
	got := tailReport(es[:1], true, es[1:], "", "app.service", time.UTC)
	want := "-- earlier lines left out --\n" +
		"Nov 14 22:13:21.000000 sdlaunch[88]: reload to generation 2 failed\n" +
		"-- the workers' last 1 lines (sdlaunch logs app shows them all) --\n" +
		"Nov 14 22:13:20.500000 app.py[90]: [w0] GET / 200"
	if got != want {
		t.Errorf("tailReport:\n%s\nwant:\n%s", got, want)
	}
	if got := tailReport(nil, false, nil, "", "app-admin.socket", time.UTC); got != "-- No entries --" {
		t.Errorf("empty report: %q", got)
	}
	if got := tailReport(nil, false, es[1:], "2", "app.service", time.UTC); !strings.HasPrefix(got, "-- generation 2's last 1 worker lines (sdlaunch logs app shows them all) --\n") {
		t.Errorf("report of generation 2's lines: %q", got)
	}
}

func TestLastGeneration(t *testing.T) {
	// newest first, as journalctl --reverse gives them
	es := entries(t, `
{"SYSLOG_IDENTIFIER":"systemd","_PID":"1","MESSAGE":"Reload failed for app.service (pid 3, generation 9)"}
{"SYSLOG_IDENTIFIER":"sdlaunch","_PID":"88","MESSAGE":"worker 1 (pid 153, generation 2) exited with status 1"}
{"SYSLOG_IDENTIFIER":"sdlaunch","_PID":"88","MESSAGE":"started worker 0 (pid 100, generation 1)"}
`)
	if gen, pid := lastGeneration(es); gen != "2" || pid != "88" {
		t.Errorf("lastGeneration = %q, %q; want 2, 88", gen, pid)
	}
	if gen, _ := lastGeneration(es[:1]); gen != "" {
		t.Errorf("lastGeneration of systemd's line = %q", gen)
	}
}
