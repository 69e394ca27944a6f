package units

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
)

// Keeping an app that cannot boot down under socket activation.
//
// RestartPreventExitStatus=2 69 stops systemd's own restarts, but the app's
// sockets stay listening, so the next queued connection starts the service
// again: one start per knock (the issue measured > 100 starts in 2.5 min).
// The generated service therefore has
//
//	ExecStopPost=+/usr/bin/sdlaunch after-exit NAME
//
// which systemd runs outside the sandbox ("+") after every stop, with the
// main process's fate in $SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS. When
// the launcher exited 69 (the app cannot boot) or 2 (its configuration is
// refused), the hook stops the app's socket units, so clients are refused at
// once (connections queued during the boot attempts are reset), and the app
// stays down until an operator or a deploy acts: `sdlaunch restart NAME`,
// `sdlaunch install`, or `systemctl start NAME.socket`.
//
// The stop jobs are enqueued without waiting for them (the hook runs inside
// the service's own stop; waiting would deadlock) and with mode
// ignore-dependencies, so they neither wait for the service nor cancel its
// pending start job (whose caller, `systemctl start` or install, then sees
// "failed", not "canceled"). There is no window for a queued connection to
// re-trigger the service: the service leaves its stop-post state only after
// the hook has exited, which is after the stop jobs were enqueued, and
// systemd does not activate a service from a socket whose stop job is
// pending (it flushes the connections instead).
//
// Evaluated and not used: shutdown(2) on the inherited sockets by the
// launcher itself (needs no privileges, and systemd then fails the socket on
// POLLHUP, but with Result=resources and "The service probably invoked
// shutdown() on it, and should better not do that" in the journal: a wrong
// reason for the operator); a StartLimitBurst= small enough to trip
// service-start-limit-hit (it also refuses the deploy's legitimate restarts).

// AfterExitCommand is the hidden sdlaunch command ExecStopPost= runs.
const AfterExitCommand = "after-exit"

// stayDownStatuses are the launcher's exit statuses that restarting cannot
// help (RestartPreventExitStatus=): they also keep socket activation off.
func stayDownStatuses() []string { return []string{"2", "69"} }

// StayDownReason says why an exit keeps the app down, or "" when it does
// not, from the variables systemd passes to ExecStopPost= ($SERVICE_RESULT,
// $EXIT_CODE, $EXIT_STATUS).
func StayDownReason(serviceResult, exitCode, exitStatus string) string {
	if serviceResult != "exit-code" || exitCode != "exited" || !slices.Contains(stayDownStatuses(), exitStatus) {
		return ""
	}
	if exitStatus == "69" {
		return "its workers could not boot"
	}
	return "the launcher refused its configuration"
}

// AfterExit is the ExecStopPost= hook: when the service's main process
// exited with a status that keeps the app down, it stops the app's sockets
// (without waiting) and returns a line for the journal; otherwise it does
// nothing and returns "".
func (m *Manager) AfterExit(ctx context.Context, name, serviceResult, exitCode, exitStatus string) (string, error) {
	reason := StayDownReason(serviceResult, exitCode, exitStatus)
	if reason == "" {
		return "", nil
	}
	if err := ValidateName(name); err != nil {
		return "", err
	}
	sockets, err := m.triggeredBy(ctx, name+".service")
	if err != nil {
		return "", err
	}
	for _, s := range sockets {
		if _, err := m.conn.StopUnitContext(ctx, s, "ignore-dependencies", nil); err != nil {
			return "", fmt.Errorf("stop %s: %w", s, err)
		}
	}
	return fmt.Sprintf("%s.service exited with status %s: %s. Stopped %s so that clients are refused instead of starting it again; "+
		"it stays down until `sdlaunch restart %s`, a new `sdlaunch install` or `systemctl start %s`",
		name, exitStatus, reason, strings.Join(sockets, " "), name, strings.Join(sockets, " ")), nil
}

// LogAfterExit writes the hook's line (AfterExit's message) where
// `journalctl -u` / `--user-unit`, `systemctl status` and `sdlaunch logs`
// find it.
//
// Under the system manager that is stderr, at warning priority: systemd
// connects it to journald with the unit's name in the stream's header, and
// journald attributes the line to _SYSTEMD_UNIT= even when the hook has
// exited before journald reads its cgroup (it falls back to that name).
//
// Under a user manager the same fallback yields _SYSTEMD_UNIT=, not
// _SYSTEMD_USER_UNIT=, so a hook that exits quickly loses its line from
// `--user-unit` (CI saw it once in 17 runs). There the line goes to journald
// natively with USER_UNIT=, which `journalctl --user-unit` matches together
// with the sender's _UID= (journalctl's add_matches_for_user_unit) whatever
// the timing. stderr remains the fallback when it is not the journal.
func LogAfterExit(stderr io.Writer, name string, user bool, msg string) {
	if user {
		if ok, _ := journal.StderrIsJournalStream(); ok {
			err := journal.Send(msg, journal.PriWarning, map[string]string{
				"SYSLOG_IDENTIFIER": "sdlaunch",
				"USER_UNIT":         name + ".service",
			})
			if err == nil {
				return
			}
		}
	}
	fmt.Fprintf(stderr, "<4>%s\n", msg)
}

// triggeredBy lists the socket units that activate a service.
func (m *Manager) triggeredBy(ctx context.Context, service string) ([]string, error) {
	p, err := m.conn.GetUnitPropertyContext(ctx, service, "TriggeredBy")
	if err != nil {
		return nil, fmt.Errorf("TriggeredBy of %s: %w", service, err)
	}
	units, _ := p.Value.Value().([]string)
	var sockets []string
	for _, u := range units {
		if strings.HasSuffix(u, ".socket") {
			sockets = append(sockets, u)
		}
	}
	slices.Sort(sockets)
	return sockets, nil
}
