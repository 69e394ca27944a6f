package main

// Files the Debian package ships that are generated from the CLI itself, so
// they can never drift from it: the man page and the bash completion
// (packaging/build-deb.sh runs `sdlaunch __manpage` and
// `sdlaunch __bash-completion`). Like the exec shim, these argv[1] words are
// handled before the CLI: they appear in no help, completion or man page.

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

const (
	manpageArg        = "__manpage"
	bashCompletionArg = "__bash-completion"
)

// generated handles `sdlaunch __manpage` and `sdlaunch __bash-completion`
// (used by packaging/build-deb.sh); they are kept off the CLI so they appear
// in no help, completion or man page. It reports whether args named one.
func generated(args []string, stdout, stderr io.Writer) (bool, int) {
	if len(args) != 2 {
		return false, 0
	}
	var gen func(*cli.App) (string, error)
	switch args[1] {
	case manpageArg:
		gen = manPage
	case bashCompletionArg:
		gen = bashCompletion
	default:
		return false, 0
	}
	out, err := gen(newApp())
	if err == nil {
		_, err = io.WriteString(stdout, out)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sdlaunch: %v\n", err)
		return true, exitUnexpected
	}
	return true, exitOK
}

const manDescription = `sdlaunch makes systemd own an app's listening sockets and pre-forks workers
of any language on them. **sdlaunch install** turns "this app, on this port,
with N workers" into a hardened .socket and .service pair and waits until the
app is ready; **sdlaunch run** is the service's main process: it passes the
sockets to N workers, supervises them, and rolls new generations in on reload,
rolling back when the new code cannot boot.`

const manSeeAlso = `systemctl(1), journalctl(1), systemd.socket(5), systemd.service(5),
systemd.exec(5), sd_listen_fds(3), sd_notify(3)`

// manPage renders app as man page sdlaunch(1): urfave/cli's ToMan, with each
// command's synopsis and description (which ToMan leaves out), then EXIT
// STATUS from the same text as --help, and SEE ALSO.
func manPage(app *cli.App) (string, error) {
	app.Setup()
	app.Description = manDescription
	for _, c := range app.Commands {
		usage := fmt.Sprintf("**%s %s** [command options] %s\n\n%s", app.Name, c.Name, c.ArgsUsage, c.Usage)
		if c.Description != "" {
			usage += "\n\n" + c.Description
		}
		c.Usage = usage
	}
	man, err := app.ToManWithSection(1)
	if err != nil {
		return "", err
	}
	// md2man leaves "-" as a hyphen, which groff may print as U+2010 (not
	// copy-pasteable into a shell); "=\"\"" is urfave/cli's value placeholder.
	man = strings.NewReplacer(`\-`, `\-`, "-", `\-`, `\fP="": `, ` \fIvalue\fP: `).Replace(man)
	// No hyphenation (LISTEN_FDS is not a word) nor justification, after .TH
	// which resets both; .EE turns hyphenation back on to \n[HY].
	man = strings.Replace(man, "\n.TH "+app.Name+" 1\n", "\n.TH "+app.Name+" 1\n.nr HY 0\n.nh\n.ad l\n", 1)
	// Commands are subsections of COMMANDS, not sections of their own.
	for _, c := range app.Commands {
		man = strings.Replace(man, "\n.SH "+roffEscape(c.Name)+"\n", "\n.SS "+roffEscape(c.Name)+"\n", 1)
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(man, "\n"))
	b.WriteString("\n.SH \"EXIT STATUS\"\n")
	statuses := exitStatuses(exitStatusHelp)
	for _, s := range exitStatuses(statusExitHelp) {
		if s.code == exitNotActive {
			statuses = append(statuses, exitStatus{s.code, "sdlaunch status: " + s.meaning})
		}
	}
	slices.SortStableFunc(statuses, func(a, b exitStatus) int { return a.code - b.code })
	for _, s := range statuses {
		fmt.Fprintf(&b, ".TP\n.B %d\n%s\n", s.code, roffEscape(s.meaning))
	}
	b.WriteString(".SH \"SEE ALSO\"\n" + roffEscape(manSeeAlso) + "\n")
	return b.String(), nil
}

type exitStatus struct {
	code    int
	meaning string
}

// exitStatuses parses the "   N   meaning" lines of an EXIT STATUS help text.
func exitStatuses(help string) []exitStatus {
	var out []exitStatus
	for _, m := range regexp.MustCompile(`(?m)^\s+(\d+)\s+(.+)$`).FindAllStringSubmatch(help, -1) {
		code, _ := strconv.Atoi(m[1])
		out = append(out, exitStatus{code, m[2]})
	}
	return out
}

// roffEscape makes plain text safe as roff input lines.
func roffEscape(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// bashCompletion renders a bash completion script for app: command names
// first, then each command's options; anything else (NAME, option values,
// the app's command line after --) falls back to file names.
func bashCompletion(app *cli.App) (string, error) {
	var names []string
	var cases strings.Builder
	for _, c := range app.Commands {
		if c.Hidden {
			continue
		}
		if !shellWord(c.Name) {
			return "", fmt.Errorf("bash completion: command name %q", c.Name)
		}
		names = append(names, c.Name)
		opts := []string{"--help", "-h"}
		for _, f := range c.VisibleFlags() {
			for _, n := range f.Names() {
				if !shellWord(n) {
					return "", fmt.Errorf("bash completion: option name %q", n)
				}
				if len(n) == 1 {
					opts = append(opts, "-"+n)
				} else {
					opts = append(opts, "--"+n)
				}
			}
		}
		fmt.Fprintf(&cases, "\t\t%s) opts='%s' ;;\n", c.Name, strings.Join(opts, " "))
	}
	return fmt.Sprintf(bashCompletionTemplate, strings.Join(names, " "), cases.String()), nil
}

// shellWord reports whether s needs no quoting in a case pattern or in
// single quotes.
func shellWord(s string) bool {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`).MatchString(s)
}

const bashCompletionTemplate = `# bash completion for sdlaunch                             -*- shell-script -*-
# Generated by "sdlaunch __bash-completion": the commands, then each command's
# options; NAME, option values and the app's command line after -- complete
# as file names.

_sdlaunch() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd='' opts i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--) [[ -n $cmd ]] && return 0 ;;
		-*) ;;
		*) [[ -n $cmd ]] || cmd=${COMP_WORDS[i]} ;;
		esac
	done
	if [[ -z $cmd ]]; then
		opts='%s'
		[[ $cur == -* ]] && opts='--help -h'
	else
		[[ $cur == -* ]] || return 0
		case $cmd in
%s		*) return 0 ;;
		esac
	fi
	mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
}
complete -o default -F _sdlaunch sdlaunch
`
