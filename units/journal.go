package units

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
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

// Logs runs journalctl for opts and prints its entries as journalctl's
// short output does, except that a worker's line shows the worker's pid and
// slot: "app.py[4242]: [w2] message". (journalctl itself can only show the
// launcher's pid there: see journalEntry.format.) "-- No entries --" when
// there are none, as journalctl says.
func Logs(ctx context.Context, opts LogOptions, stdout, stderr io.Writer) error {
	args, err := JournalArgs(opts)
	if err != nil {
		return err
	}
	path, err := exec.LookPath("journalctl")
	if err != nil {
		return fmt.Errorf("journalctl not found: %w", err)
	}
	args = append([]string{"--output=json"}, args...)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("journalctl: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("journalctl: %w", err)
	}
	n, copyErr := copyEntries(out, stdout)
	if copyErr != nil {
		_ = cmd.Process.Kill()
	}
	err = cmd.Wait()
	switch {
	case copyErr != nil:
		return fmt.Errorf("journalctl %s: %w", strings.Join(args, " "), copyErr)
	case err != nil:
		return fmt.Errorf("journalctl %s: %w", strings.Join(args, " "), err)
	case n == 0 && !opts.Follow:
		_, err = io.WriteString(stdout, "-- No entries --\n")
		return err
	}
	return nil
}
