package units

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// tailWorkerLines is how many of the workers' own lines a failed job's
// report shows, after the lines that say what happened.
const tailWorkerLines = 5

// JournalTail returns what the report of a failed job shows of the unit's
// journal since a moment (the start of the job), oldest first in two parts:
//
//  1. the lines that say what happened, at most n, the newest: the
//     launcher's own (SYSLOG_IDENTIFIER=sdlaunch), what the unit's
//     processes wrote to stdout or stderr (reload-wait's verdict, a crash),
//     systemd's about the unit, and every line at error priority or worse
//     (PRIORITY<=3, a worker's "<3>" lines too);
//  2. under a "--" marker, the workers' last few other lines.
//
// So an app that logs every request cannot push the launcher's verdict out
// of the report. journalctl --sync first has journald write out everything
// sent before (it serves that request only after the messages already
// queued); where that is refused (not root), the reading is retried for up
// to a second while fewer than two lines have arrived.
func JournalTail(ctx context.Context, unit string, user bool, since time.Time, n int) string {
	synced := exec.CommandContext(ctx, "journalctl", "--sync").Run() == nil
	sinceArg := fmt.Sprintf("--since=@%d.%06d", since.Unix(), since.Nanosecond()/1000)
	base := []string{"--no-pager", "--output=json", "--reverse", sinceArg}
	if user {
		base = append(base, "--user")
	}
	deadline := time.Now().Add(time.Second)
	var main []journalEntry
	for {
		var err error
		main, err = journalQuery(ctx, append(append(slices.Clone(base), "--lines="+strconv.Itoa(n+1)), tailMatches(unit, user, os.Getuid())...))
		if err != nil {
			return err.Error()
		}
		if synced || len(main) > 1 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	omitted := len(main) > n
	if omitted {
		main = main[:n]
	}
	seen := map[string]bool{}
	for _, e := range main {
		seen[e["__CURSOR"]] = true
	}
	// The workers' part: the last lines of the generation the launcher
	// spoke of last (the one that failed to boot), not the chatter of the
	// generation that keeps serving; else the last worker lines at all.
	self := "_SYSTEMD_UNIT=" + unit
	unitArg := "--unit=" + unit
	if user {
		self, unitArg = "_SYSTEMD_USER_UNIT="+unit, "--user-unit="+unit
	}
	gen, launcher := lastGeneration(main)
	var recent []journalEntry
	var err error
	if gen != "" {
		recent, err = journalQuery(ctx, append(slices.Clone(base), "--lines="+strconv.Itoa(tailWorkerLines+len(main)), self, "_PID="+launcher, "SDLAUNCH_GENERATION="+gen))
	}
	if err == nil && len(recent) == 0 {
		gen = ""
		recent, err = journalQuery(ctx, append(slices.Clone(base), "--lines=50", unitArg))
	}
	if err != nil {
		return err.Error()
	}
	var workers []journalEntry
	for _, e := range recent {
		if e.isWorker() && !seen[e["__CURSOR"]] && len(workers) < tailWorkerLines {
			workers = append(workers, e)
		}
	}
	slices.Reverse(main)
	slices.Reverse(workers)
	return tailReport(main, omitted, workers, gen, unit, time.Local)
}

// generationRe finds the generation in the launcher's name for a worker,
// "worker 0 (pid 132, generation 2)".
var generationRe = regexp.MustCompile(`\(pid \d+, generation (\d+)\)`)

// lastGeneration returns the generation the newest launcher line of
// entries (newest first) names, and that launcher's pid; "" when none does.
func lastGeneration(entries []journalEntry) (gen, pid string) {
	for _, e := range entries {
		if e["SYSLOG_IDENTIFIER"] != "sdlaunch" || e["_PID"] == "" {
			continue
		}
		if m := generationRe.FindStringSubmatch(e["MESSAGE"]); m != nil {
			return m[1], e["_PID"]
		}
	}
	return "", ""
}

// tailReport lays out JournalTail's two parts; gen is the generation the
// worker lines are of, "" when they are the last of any.
func tailReport(main []journalEntry, omitted bool, workers []journalEntry, gen, unit string, loc *time.Location) string {
	var lines []string
	if omitted {
		lines = append(lines, "-- earlier lines left out --")
	}
	for _, e := range main {
		lines = append(lines, e.format(layoutPrecise, false, loc))
	}
	if len(workers) > 0 {
		all := "journalctl -u " + unit
		if name, ok := strings.CutSuffix(unit, ".service"); ok {
			all = "sdlaunch logs " + name
		}
		what := fmt.Sprintf("the workers' last %d lines", len(workers))
		if gen != "" {
			what = fmt.Sprintf("generation %s's last %d worker lines", gen, len(workers))
		}
		lines = append(lines, "-- "+what+" ("+all+" shows them all) --")
		for _, e := range workers {
			lines = append(lines, e.format(layoutPrecise, false, loc))
		}
	}
	if len(lines) == 0 {
		return "-- No entries --"
	}
	return strings.Join(lines, "\n")
}

// tailMatches are the journalctl matches of JournalTail's first part:
// groups joined by "+" (OR), the matches of a group ANDed (two of one field
// ORed), modelled on journalctl's own -u (add_matches_for_unit).
func tailMatches(unit string, user bool, uid int) []string {
	self, about := []string{"_SYSTEMD_UNIT=" + unit}, []string{"_PID=1", "UNIT=" + unit}
	if user {
		u := "_UID=" + strconv.Itoa(uid)
		self, about = []string{"_SYSTEMD_USER_UNIT=" + unit, u}, []string{"USER_UNIT=" + unit, u}
	}
	groups := [][]string{
		append(slices.Clone(self), "SYSLOG_IDENTIFIER=sdlaunch"),
		append(slices.Clone(self), "_TRANSPORT=stdout"),
		append(slices.Clone(self), "PRIORITY=0", "PRIORITY=1", "PRIORITY=2", "PRIORITY=3"),
		about,
	}
	var out []string
	for i, g := range groups {
		if i > 0 {
			out = append(out, "+")
		}
		out = append(out, g...)
	}
	return out
}

// journalQuery runs journalctl with args (which ask for --output=json) and
// returns its entries.
func journalQuery(ctx context.Context, args []string) ([]journalEntry, error) {
	cmd := exec.CommandContext(ctx, "journalctl", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("(journalctl %s: %v) %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	var entries []journalEntry
	for _, line := range bytes.Split(out, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := parseEntry(line)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}
