package units

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reading the journal execs journalctl: go-systemd's sdjournal needs cgo and
// libsystemd headers. Actions never shell out; they go over D-Bus.

// LogOptions select what `sdlaunch logs` shows.
type LogOptions struct {
	Name     string // app name
	User     bool   // the user manager's journal
	Follow   bool
	Lines    int    // 0: journalctl's default (all, or 10 with Follow)
	Worker   int    // -1: all lines; else only this worker slot's lines
	Priority string // journalctl -p value
	Since    string // journalctl --since value
}

var priorityRe = regexp.MustCompile(`^(emerg|alert|crit|err|warning|notice|info|debug|[0-7])(\.\.(emerg|alert|crit|err|warning|notice|info|debug|[0-7]))?$`)

// JournalArgs returns the journalctl arguments for opts.
func JournalArgs(opts LogOptions) ([]string, error) {
	if err := ValidateName(opts.Name); err != nil {
		return nil, err
	}
	args := []string{"--no-pager"}
	if opts.User {
		args = append(args, "--user")
	}
	if opts.Follow {
		args = append(args, "--follow")
	}
	if opts.Lines < 0 {
		return nil, invalidf("-n %d: want a number of lines >= 0", opts.Lines)
	}
	if opts.Lines > 0 {
		args = append(args, "--lines="+strconv.Itoa(opts.Lines))
	}
	if opts.Priority != "" {
		if !priorityRe.MatchString(opts.Priority) {
			return nil, invalidf("-p %q: want a priority (emerg..debug or 0-7) or a range such as err..info", opts.Priority)
		}
		args = append(args, "--priority="+opts.Priority)
	}
	if opts.Since != "" {
		if err := checkText(opts.Since); err != nil {
			return nil, invalidf("--since %q %v", opts.Since, err)
		}
		args = append(args, "--since="+opts.Since)
	}
	service := opts.Name + ".service"
	switch {
	case opts.Worker < -1:
		return nil, invalidf("--worker %d: want a worker slot >= 0", opts.Worker)
	case opts.Worker >= 0:
		// Two field matches are ANDed. (-u would add OR-ed matches for
		// coredumps and unit messages that the field match cannot join.)
		field := "_SYSTEMD_UNIT="
		if opts.User {
			field = "_SYSTEMD_USER_UNIT="
		}
		args = append(args, field+service, "SDLAUNCH_WORKER="+strconv.Itoa(opts.Worker))
	case opts.User:
		args = append(args, "--user-unit="+service)
	default:
		args = append(args, "--unit="+service)
	}
	return args, nil
}

// CheckSince refuses a --since value journalctl would refuse, asking the
// parser journalctl uses (systemd-analyze timestamp, systemd's
// parse_timestamp) rather than imitating its grammar. Without
// systemd-analyze the value is left to journalctl.
func CheckSince(ctx context.Context, since string) error {
	if since == "" {
		return nil
	}
	if err := checkText(since); err != nil {
		return invalidf("--since %q %v", since, err)
	}
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return nil
	}
	cmd := exec.CommandContext(ctx, path, "timestamp", "--", since)
	cmd.Env = append(cmd.Environ(), "SYSTEMD_LOG_LEVEL=err")
	if out, err := cmd.CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return invalidf("--since %q: not a time journalctl understands (like \"2024-05-01 10:00\", \"-1h\", \"10 min ago\", \"yesterday\")", since)
		}
		return fmt.Errorf("systemd-analyze timestamp: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Logs runs journalctl for opts with its output going to stdout/stderr.
func Logs(ctx context.Context, opts LogOptions, stdout, stderr io.Writer) error {
	args, err := JournalArgs(opts)
	if err != nil {
		return err
	}
	path, err := exec.LookPath("journalctl")
	if err != nil {
		return fmt.Errorf("journalctl not found: %w", err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("journalctl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// JournalTail returns the last n lines of the unit's journal since a moment
// (the start of a failed job), oldest first. journald receives service
// output asynchronously, so an answer of less than two entries is retried
// for up to a second.
//
// journalctl --since with --lines prints the *first* n entries after the
// moment, which cuts off the verdict at the end of a long job; --reverse
// makes it take the last n, which are put back in order here.
func JournalTail(ctx context.Context, unit string, user bool, since time.Time, n int) string {
	args := []string{"--no-pager", "--output=json", "--reverse", "--lines=" + strconv.Itoa(n),
		fmt.Sprintf("--since=@%d.%06d", since.Unix(), since.Nanosecond()/1000)}
	if user {
		args = append(args, "--user", "--user-unit="+unit)
	} else {
		args = append(args, "--unit="+unit)
	}
	deadline := time.Now().Add(time.Second)
	for {
		cmd := exec.CommandContext(ctx, "journalctl", args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Sprintf("(journalctl %s: %v) %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
		}
		lines := tailLines(out)
		if len(lines) > 1 || time.Now().After(deadline) || ctx.Err() != nil {
			if len(lines) == 0 {
				return "-- No entries --"
			}
			return strings.Join(lines, "\n")
		}
		select {
		case <-ctx.Done():
			return strings.Join(lines, "\n")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tailLines turns journalctl --output=json --reverse output into
// "Jan 02 15:04:05.000000 ident[pid]: message" lines, oldest first.
func tailLines(jsonOut []byte) []string {
	var lines []string
	for _, raw := range bytes.Split(jsonOut, []byte("\n")) {
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			lines = append(lines, string(raw))
			continue
		}
		field := func(keys ...string) string {
			for _, k := range keys {
				if v := journalField(e[k]); v != "" {
					return v
				}
			}
			return ""
		}
		ts := ""
		if us, err := strconv.ParseInt(field("__REALTIME_TIMESTAMP"), 10, 64); err == nil {
			ts = time.UnixMicro(us).Format("Jan 02 15:04:05.000000") + " "
		}
		ident := field("SYSLOG_IDENTIFIER", "_COMM")
		if pid := field("SYSLOG_PID", "_PID"); pid != "" {
			ident += "[" + pid + "]"
		}
		lines = append(lines, ts+ident+": "+field("MESSAGE"))
	}
	slices.Reverse(lines)
	return lines
}

// journalField renders a journal JSON field value: a string, or an array of
// byte values (journalctl's encoding of non-printable text).
func journalField(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
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
