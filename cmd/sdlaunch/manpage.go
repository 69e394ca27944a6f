package main

// Files the Debian package ships that are generated from the CLI itself, so
// they can never drift from it: the man page and the bash, zsh and fish
// completions (packaging/build-deb.sh runs `sdlaunch __manpage` and the
// others). Like the exec shim, these argv[1] words are handled before the
// CLI: they appear in no help, completion or man page.

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

const (
	manpageArg        = "__manpage"
	bashCompletionArg = "__bash-completion"
	zshCompletionArg  = "__zsh-completion"
	fishCompletionArg = "__fish-completion"
)

// generators maps each packaging word to what it prints.
func generators() map[string]func(appDoc) (string, error) {
	return map[string]func(appDoc) (string, error){
		manpageArg:        manPage,
		bashCompletionArg: bashCompletion,
		zshCompletionArg:  zshCompletion,
		fishCompletionArg: fishCompletion,
	}
}

// generated handles the packaging words (used by packaging/build-deb.sh);
// it reports whether args named one, and the exit status.
func generated(args []string, stdout, stderr io.Writer) (bool, int) {
	if len(args) != 2 {
		return false, 0
	}
	gen, ok := generators()[args[1]]
	if !ok {
		return false, 0
	}
	doc, err := describeApp(newApp())
	var out string
	if err == nil {
		out, err = gen(doc)
	}
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
rolling back when the new code cannot boot.

Options come before a command's arguments. A DURATION is written as Go
writes it: 300ms, 1.5s, 2m, 1h30m.`

const manSeeAlso = `systemctl(1), journalctl(1), systemd.socket(5), systemd.service(5),
systemd.exec(5), sd_listen_fds(3), sd_notify(3)`

// manPage renders the CLI as man page sdlaunch(1): a SYNOPSIS line per
// command, the global options, each command with its synopsis, usage,
// description and options (every value named by its placeholder), EXIT
// STATUS per command (from exitStatuses, like --help), SEE ALSO.
func manPage(doc appDoc) (string, error) {
	var b strings.Builder
	name := doc.name
	// No hyphenation (LISTEN_FDS is not a word) nor justification.
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"%s\" \"User Commands\"\n.nh\n.ad l\n", strings.ToUpper(name), name)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", name, roffEscape(doc.usage))

	b.WriteString(".SH SYNOPSIS\n")
	global := []string{}
	for _, f := range doc.flags {
		global = append(global, "["+roffFlagNames(f)+"]")
	}
	fmt.Fprintf(&b, "\\fB%s\\fR %s\n", name, strings.Join(global, " "))
	for _, c := range doc.commands {
		b.WriteString(".br\n" + manSynopsis(name, c) + "\n")
	}

	b.WriteString(".SH DESCRIPTION\n" + roffText(manDescription) + "\n")

	b.WriteString(".SH OPTIONS\n")
	for _, f := range doc.flags {
		b.WriteString(manFlag(f))
	}

	b.WriteString(".SH COMMANDS\n")
	for _, c := range doc.commands {
		fmt.Fprintf(&b, ".SS %s\n%s\n.PP\n%s\n", roffEscape(c.name), manSynopsis(name, c), roffEscape(c.usage))
		if c.description != "" {
			b.WriteString(".PP\n" + roffText(c.description) + "\n")
		}
		for _, f := range c.flags {
			b.WriteString(manFlag(f))
		}
	}

	b.WriteString(".SH \"EXIT STATUS\"\n")
	for _, c := range doc.commands {
		statuses, ok := statusesOf(c.name)
		if !ok {
			return "", fmt.Errorf("man page: no exit statuses for %s (add it to exitStatuses)", c.name)
		}
		fmt.Fprintf(&b, ".SS \"%s %s\"\n", name, roffEscape(c.name))
		for _, s := range statuses {
			fmt.Fprintf(&b, ".TP\n.B %d\n%s\n", s.code, roffEscape(s.meaning))
		}
	}
	b.WriteString(".SH \"SEE ALSO\"\n" + roffEscape(manSeeAlso) + "\n")
	return b.String(), nil
}

var argWordRe = regexp.MustCompile(`--|[A-Z][A-Z0-9_]*|[^A-Z-]+|-`)

// manSynopsis is "sdlaunch CMD [options] ARGS" with the command and "--"
// in bold and the argument words in italics.
func manSynopsis(app string, c commandDoc) string {
	s := fmt.Sprintf("\\fB%s %s\\fR", app, roffEscape(c.name))
	if len(c.flags) > 1 || (len(c.flags) == 1 && c.flags[0].names[0] != "help") {
		s += " [\\fIoptions\\fR]"
	}
	if c.argsUsage == "" {
		return s
	}
	var args strings.Builder
	for _, w := range argWordRe.FindAllString(c.argsUsage, -1) {
		switch {
		case w == "--":
			args.WriteString(`\fB\-\-\fR`)
		case w[0] >= 'A' && w[0] <= 'Z':
			args.WriteString(`\fI` + w + `\fR`)
		default: // mid-line: no line-start escape
			args.WriteString(roffInline(w))
		}
	}
	return s + " " + args.String()
}

// roffFlagNames is "\fB--listen\fR, \fB-l\fR \fIADDR\fR".
func roffFlagNames(f flagDoc) string {
	var names []string
	for _, n := range f.dashed() {
		names = append(names, `\fB`+roffEscape(n)+`\fR`)
	}
	s := strings.Join(names, ", ")
	if f.value != "" {
		s += ` \fI` + roffEscape(f.value) + `\fR`
	}
	return s
}

func manFlag(f flagDoc) string {
	text := f.usage
	if f.defaultText != "" {
		text += " (default: " + f.defaultText + ")"
	}
	if f.repeatable && !strings.Contains(text, "repeatable") {
		text += " (repeatable)"
	}
	return ".TP\n" + roffFlagNames(f) + "\n" + roffEscape(text) + "\n"
}

// roffText renders paragraphs (blank-line separated, **bold** marked) as
// roff, keeping the line breaks of the source.
func roffText(s string) string {
	paras := strings.Split(s, "\n\n")
	for i, p := range paras {
		p = roffEscape(p)
		p = regexp.MustCompile(`\*\*([^*]+)\*\*`).ReplaceAllString(p, `\fB$1\fR`)
		paras[i] = p
	}
	return strings.Join(paras, "\n.PP\n")
}

// roffEscape makes plain text safe as roff input lines: a backslash is
// \e, every "-" is \- (groff may print a bare one as U+2010, which a shell
// does not take as a minus), and a line that starts with "." or "'" is not
// read as a request.
func roffEscape(s string) string {
	s = roffInline(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// roffInline escapes text that does not start a line.
func roffInline(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}
