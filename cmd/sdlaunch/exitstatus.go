package main

import (
	"fmt"
	"slices"
	"strings"
)

// Exit statuses: a contract with the generated units (RestartPreventExitStatus=2 69)
// and with deployment tooling.
const (
	exitOK         = 0
	exitUnexpected = 1
	exitUsage      = 2
	// exitNotActive is what `systemctl status` exits with for a unit that
	// is not active (LSB: "program is not running").
	exitNotActive = 3
	exitNoBoot    = 69
)

type exitStatus struct {
	code    int
	meaning string
}

// exitStatuses is the one definition of every status each command exits
// with; "" is sdlaunch as a whole, a summary of all of them. Each command's
// --help, the man page's EXIT STATUS and the README's table (checked by
// TestReadmeExitStatuses) are rendered from it, and a test fails for a
// command that is missing here.
func exitStatuses() map[string][]exitStatus {
	usage := func(what string) exitStatus {
		return exitStatus{exitUsage, "bad usage or configuration: one line names the bad value (" + what + "); nothing was changed"}
	}
	return map[string][]exitStatus{
		"": {
			{exitOK, "success (each command's --help says what that means for it)"},
			{exitUnexpected, "the command failed; its message says why"},
			{exitUsage, "bad usage or configuration: one line names the bad value; nothing was changed"},
			{exitNotActive, "status: the service is not active"},
			{exitNoBoot, "run: the workers could not boot (EX_UNAVAILABLE); systemd must not restart the service"},
		},
		"run": {
			{exitOK, "clean stop"},
			{exitUnexpected, "unexpected error"},
			{exitUsage, "bad usage or configuration: one line names the bad value (no COMMAND, --workers 0, more workers than the limits hold, no socket, a bad address, a stop signal outside the list, a port in use, ...); nothing was started"},
			{exitNoBoot, "the workers could not boot (--boot-retries consecutive failures) and no worker is serving; the error line carries the last exit status and output. Generated units list 2 and 69 in RestartPreventExitStatus= and stop the app's sockets after either, so neither systemd nor the next connection starts a broken app again"},
		},
		"reload-wait": {
			{exitOK, "the new generation is ready and the old one retired"},
			{exitUnexpected, "the new generation could not boot and the launcher rolled back (the old workers keep serving), --timeout passed, or the launcher could not be reached"},
			usage("no PID, not a process id, no such process"),
		},
		"generate": {
			{exitOK, "the units were printed, or written into --output DIR"},
			{exitUnexpected, "the units could not be written"},
			usage("NAME, the command, an option"),
		},
		"install": {
			{exitOK, "the units are installed and enabled, and the service reported ready"},
			{exitUnexpected, "the service manager could not be reached, or a unit failed to start or the service did not become ready (its journal lines are printed)"},
			usage("NAME, the command, an option; checked before systemd is touched"),
		},
		"import-supervisor": {
			{exitOK, "the install lines were printed, the units written into --generate DIR, or every program installed and ready (--install)"},
			{exitUnexpected, "the units could not be written, or an --install failed as install fails (the programs installed so far are named)"},
			usage("the file, its line and key: unreadable or malformed configuration, a program that cannot be carried over, a missing --listen"),
		},
		"uninstall": {
			{exitOK, "the units were stopped, disabled and removed"},
			{exitUnexpected, "NAME is not installed by sdlaunch, or the service manager could not be reached or failed a step"},
			usage("no NAME, or not a valid one"),
		},
		"status": {
			{exitOK, "the service is active (or reloading)"},
			{exitUnexpected, "NAME is not installed, or the service manager could not be reached"},
			usage("no NAME, or not a valid one"),
			{exitNotActive, "the service is not active (inactive, activating, deactivating, failed), as with systemctl status; the status is printed all the same"},
		},
		"logs": {
			{exitOK, "the journal lines were printed (none is not an error)"},
			{exitUnexpected, "NAME is not installed, the service manager could not be reached, or journalctl is missing or failed"},
			usage("NAME, -n, -p, --since, --worker"),
		},
		"restart": {
			{exitOK, "the service restarted and reported ready"},
			{exitUnexpected, "the service did not come back ready (its journal lines are printed), NAME is not installed, or the service manager could not be reached"},
			usage("no NAME, or not a valid one"),
		},
		"reload": {
			{exitOK, "the new generation is ready"},
			{exitUnexpected, "the new code could not boot: the launcher rolled back and the old workers keep serving (the journal lines that say why are printed); or the service is not active, NAME is not installed, or the service manager could not be reached"},
			usage("no NAME, or not a valid one"),
		},
		"after-exit": {
			{exitOK, "nothing to do (the service did not exit 2 or 69), or its socket units were stopped so that it stays down"},
			{exitUnexpected, "the socket units could not be stopped: the next connection starts the app again (the line says why)"},
			usage("no NAME, or not a valid one"),
		},
		"version": {
			{exitOK, "the version was printed"},
			usage("an argument"),
		},
	}
}

// statusesOf returns the statuses of command ("" for sdlaunch itself), in
// ascending order, and whether it has any.
func statusesOf(command string) ([]exitStatus, bool) {
	s, ok := exitStatuses()[command]
	s = slices.Clone(s)
	slices.SortStableFunc(s, func(a, b exitStatus) int { return a.code - b.code })
	return s, ok
}

// exitStatusHelp renders statuses for --help: "EXIT STATUS:" and one
// "   N   meaning" entry per status, wrapped under the meaning.
func exitStatusHelp(statuses []exitStatus) string {
	var b strings.Builder
	b.WriteString("EXIT STATUS:\n")
	for _, s := range statuses {
		lines := wrap(s.meaning, 72)
		fmt.Fprintf(&b, "   %-3d %s\n", s.code, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "       %s\n", l)
		}
	}
	return b.String()
}

// wrap breaks text into lines of at most width runes where it can.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len([]rune(line))+1+len([]rune(w)) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// exitStatusMarkdown renders every command's statuses as the README's
// table, commands in the order of the CLI.
func exitStatusMarkdown(commands []string) string {
	var b strings.Builder
	b.WriteString("| command | status | meaning |\n| --- | --- | --- |\n")
	for _, c := range commands {
		statuses, _ := statusesOf(c)
		for i, s := range statuses {
			name := ""
			if i == 0 {
				name = "`sdlaunch " + c + "`"
			}
			fmt.Fprintf(&b, "| %s | %d | %s |\n", name, s.code, strings.ReplaceAll(s.meaning, "|", `\|`))
		}
	}
	return b.String()
}

// helpExitStatuses is the EXIT STATUS part of a help template; a command
// missing from exitStatuses says so (and TestEveryCommandHasExitStatuses
// fails).
func helpExitStatuses(command string) string {
	statuses, ok := statusesOf(command)
	if !ok {
		return "EXIT STATUS:\n   (not documented: add " + command + " to exitStatuses)\n"
	}
	return exitStatusHelp(statuses)
}
