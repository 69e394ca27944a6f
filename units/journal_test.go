package units

import (
	"reflect"
	"strings"
	"testing"
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

func TestTailLinesOldestFirst(t *testing.T) {
	// journalctl --reverse: newest first; a byte-array MESSAGE; no SYSLOG_PID.
	out := []byte(`{"__REALTIME_TIMESTAMP":"1700000002000000","SYSLOG_IDENTIFIER":"sdlaunch","SYSLOG_PID":"7","MESSAGE":"reload to generation 2 failed"}
{"__REALTIME_TIMESTAMP":"1700000001000000","SYSLOG_IDENTIFIER":"app.sh","_PID":"7","MESSAGE":[98,97,100,7]}
`)
	got := tailLines(out)
	if len(got) != 2 || !strings.HasSuffix(got[0], " app.sh[7]: bad\a") || !strings.HasSuffix(got[1], " sdlaunch[7]: reload to generation 2 failed") {
		t.Errorf("tailLines = %q", got)
	}
}
