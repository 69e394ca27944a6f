package units

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// journalEntry is one entry of journalctl --output=json, every field as
// text.
type journalEntry map[string]string

// parseEntry decodes one line of journalctl --output=json.
func parseEntry(line []byte) (journalEntry, error) {
	var raw map[string]any
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, fmt.Errorf("journalctl --output=json: %w", err)
	}
	e := make(journalEntry, len(raw))
	for k, v := range raw {
		e[k] = journalField(v)
	}
	return e, nil
}

// journalField renders a journal JSON field value: a string, an array of
// byte values (journalctl's encoding of non-printable text), or an array
// of strings (a field given more than once: the first).
func journalField(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		if len(x) > 0 {
			if s, ok := x[0].(string); ok {
				return s
			}
		}
		b := make([]byte, 0, len(x))
		for _, c := range x {
			f, ok := c.(float64)
			if !ok {
				return ""
			}
			b = append(b, byte(f))
		}
		return string(b)
	}
	return ""
}

// isWorker reports whether the entry is a worker's line forwarded by the
// launcher (it carries the launcher's SDLAUNCH_WORKER field).
func (e journalEntry) isWorker() bool { return e["SDLAUNCH_WORKER"] != "" }

// pid is the pid to show: for a worker's line the worker's own
// (SDLAUNCH_WORKER_PID, which the launcher also sends as SYSLOG_PID); for
// other lines _PID, as journalctl shows.
//
// journalctl cannot show the worker's: its short output prints _PID when
// there is one and SYSLOG_PID only when not (systemd 252, logs-show.c,
// output_short); journald sets _PID from the SCM_CREDENTIALS the kernel
// attaches to the datagram (journald-server.c: the ucred of
// server_process_datagram becomes the client context's _PID), and drops
// any "_" field a client sends; and the kernel accepts a pid other than
// the sender's own in SCM_CREDENTIALS only from a process with
// CAP_SYS_ADMIN (net/core/scm.c, scm_check_creds). The launcher forwards
// every worker line (to attach the fields and keep a failed worker's last
// output) and runs without that capability, so the launcher's pid it is;
// integration/units TestJournalWorkerPIDs shows each step.
func (e journalEntry) pid() string {
	keys := []string{"_PID", "SYSLOG_PID"}
	if e.isWorker() {
		keys = []string{"SDLAUNCH_WORKER_PID", "SYSLOG_PID", "_PID"}
	}
	for _, k := range keys {
		if v := e[k]; v != "" {
			return v
		}
	}
	return ""
}

// time is the entry's wall-clock time.
func (e journalEntry) time() time.Time {
	us, err := strconv.ParseInt(e["__REALTIME_TIMESTAMP"], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// Timestamp layouts: journalctl's short output, and the same to the
// microsecond (short-precise) for the journal tails of failed jobs.
const (
	layoutShort   = "Jan 02 15:04:05"
	layoutPrecise = "Jan 02 15:04:05.000000"
)

// format renders the entry like journalctl's short output, "Dec 01
// 08:51:56 host ident[pid]: message" (the host only when withHost, the
// time in loc: journalctl shows local time), with
// continuation lines indented under the first, except that a worker's line
// shows the worker's pid and starts with "[wN] ", the slot, as on a
// terminal.
func (e journalEntry) format(layout string, withHost bool, loc *time.Location) string {
	var b strings.Builder
	if t := e.time(); !t.IsZero() {
		b.WriteString(t.In(loc).Format(layout))
	}
	if withHost && e["_HOSTNAME"] != "" {
		b.WriteString(" " + e["_HOSTNAME"])
	}
	ident := e["SYSLOG_IDENTIFIER"]
	if ident == "" {
		ident = e["_COMM"]
	}
	if ident == "" {
		ident = "unknown"
	}
	b.WriteString(" " + ident)
	if pid := e.pid(); pid != "" {
		b.WriteString("[" + pid + "]")
	}
	b.WriteString(": ")
	indent := strings.Repeat(" ", len(b.String()))
	if e.isWorker() {
		b.WriteString("[w" + e["SDLAUNCH_WORKER"] + "] ")
	}
	for i, l := range strings.Split(strings.TrimRight(e["MESSAGE"], "\n"), "\n") {
		if i > 0 {
			b.WriteString("\n" + indent)
		}
		b.WriteString(printable(l))
	}
	return strings.TrimLeft(b.String(), " ")
}

// printable escapes control characters (a terminal would act on them) as
// \xNN; tabs stay.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, `\x%02x`, r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// copyEntries formats each entry journalctl writes to r, one per line,
// onto w as it arrives (so --follow streams), and says how many it wrote.
func copyEntries(r io.Reader, w io.Writer) (int, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	n := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) > 0 {
			e, perr := parseEntry(line)
			if perr != nil {
				return n, perr
			}
			if _, werr := io.WriteString(w, e.format(layoutShort, true, time.Local)+"\n"); werr != nil {
				return n, werr
			}
			n++
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
