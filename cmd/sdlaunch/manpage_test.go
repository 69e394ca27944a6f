package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func describe(t *testing.T) appDoc {
	t.Helper()
	doc, err := describeApp(newApp())
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestManPage(t *testing.T) {
	doc := describe(t)
	man, err := manPage(doc)
	if err != nil {
		t.Fatal(err)
	}
	minus := strings.NewReplacer("-", `\-`).Replace
	want := []string{".TH SDLAUNCH 1 ", "\n.SH SYNOPSIS\n", "\n.SH OPTIONS\n", "\n.SH COMMANDS\n", "\n.SH \"EXIT STATUS\"\n", "\n.SH \"SEE ALSO\"\n",
		`\fBsdlaunch\fR [\fB\-\-help\fR, \fB\-h\fR] [\fB\-\-version\fR, \fB\-v\fR]` + "\n",
		`\fBsdlaunch install\fR [\fIoptions\fR] \fINAME\fR \fB\-\-\fR \fICOMMAND\fR [\fIARG\fR...]` + "\n",
		"\n.TP\n" + `\fB\-\-workers\fR, \fB\-w\fR \fIN\fR` + "\n",
		"\n.TP\n" + `\fB\-\-chdir\fR \fIDIR\fR` + "\n",
		"\n.TP\n" + `\fB\-\-ready\-after\fR \fIDURATION\fR` + "\n",
	}
	for _, c := range doc.commands {
		want = append(want, "\n.SS "+minus(c.name)+"\n", "\n.br\n"+manSynopsis("sdlaunch", c)+"\n", "\n.SS \"sdlaunch "+minus(c.name)+"\"\n")
		for _, f := range c.flags {
			want = append(want, "\n.TP\n"+roffFlagNames(f)+"\n")
		}
	}
	for _, c := range newApp().Commands {
		// the units' ExecStopPost= hook: not for people
		if c.Hidden && strings.Contains(man, "\n.SS "+minus(c.Name)+"\n") {
			t.Errorf("man page lists the hidden command %s", c.Name)
		}
	}
	for _, w := range want {
		if !strings.Contains(man, w) {
			t.Errorf("man page lacks %q", w)
		}
	}
	if strings.Contains(man, "value") && regexp.MustCompile(`\\fIvalue\\fR|\bvalue\\fP`).MatchString(man) {
		t.Error(`man page names a value "value" instead of its placeholder`)
	}
	// Each command's EXIT STATUS subsection lists exactly its statuses.
	exit := man[strings.Index(man, "\n.SH \"EXIT STATUS\"\n"):strings.Index(man, "\n.SH \"SEE ALSO\"\n")]
	for _, c := range doc.commands {
		i := strings.Index(exit, "\n.SS \"sdlaunch "+minus(c.name)+"\"\n")
		sub := exit[i+1:]
		if j := strings.Index(sub[1:], "\n.SS "); j >= 0 {
			sub = sub[:j+1]
		}
		statuses, _ := statusesOf(c.name)
		got := regexp.MustCompile(`\n\.TP\n\.B (\d+)\n`).FindAllStringSubmatch(sub, -1)
		if len(got) != len(statuses) {
			t.Errorf("EXIT STATUS of %s lists %d statuses, want %d:\n%s", c.name, len(got), len(statuses), sub)
			continue
		}
		for k, s := range statuses {
			if got[k][1] != strconv.Itoa(s.code) {
				t.Errorf("EXIT STATUS of %s: %s where %d belongs", c.name, got[k][1], s.code)
			}
		}
	}
	// Every "-" is \- (a copy-pasteable ASCII minus), not a typographic hyphen.
	if strings.Contains(strings.ReplaceAll(man, `\-`, ""), "-") {
		t.Error(`man page has a "-" that is not "\-"`)
	}

	// Rendered as a user sees it, with groff's warnings on.
	manCmd, err := exec.LookPath("man")
	if err != nil {
		t.Skip("man not installed (man-db): the page was not rendered")
	}
	cmd := exec.Command(manCmd, "--warnings", "-P", "cat", "-l", "-")
	cmd.Stdin = strings.NewReader(man)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH=100")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("man -l: %v\n%s", err, stderr.Bytes())
	}
	text := string(out)
	for _, w := range []string{
		"SYNOPSIS\n       sdlaunch [--help, -h] [--version, -v]\n       sdlaunch run [options] -- COMMAND [ARG...]\n",
		"       sdlaunch install [options] NAME -- COMMAND [ARG...]\n",
		"       --workers, -w N\n", "       --chdir DIR\n", "       --listen, -l ADDR\n", "       --ready-after DURATION\n",
		"   sdlaunch status\n       0      the service is active",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("rendered man page lacks %q:\n%s", w, text)
		}
	}
	if regexp.MustCompile(`(?m)^\s+--\S+( \S+)? value$`).MatchString(text) {
		t.Errorf("rendered man page shows an option's value as \"value\"")
	}
}

// Every flag that takes a value names it (`N`, `DIR`...): the man page,
// --help and the completions show that word, and FILE/DIR/PATH choose the
// completion. describeApp refuses a flag without one.
func TestEveryValueHasAPlaceholder(t *testing.T) {
	doc := describe(t)
	for _, c := range doc.commands {
		for _, f := range c.flags {
			if f.value == "value" {
				t.Errorf("%s --%s: placeholder \"value\"", c.name, f.names[0])
			}
		}
	}
	for _, c := range newApp().Commands {
		var help bytes.Buffer
		app := newApp()
		app.Writer = &help
		if err := app.Run([]string{"sdlaunch", c.Name, "--help"}); err != nil {
			t.Fatalf("%s --help: %v", c.Name, err)
		}
		if m := regexp.MustCompile(`(?m)^\s+--\S+(, -\S)? value(, -\S+ value)?\s`).FindString(help.String()); m != "" {
			t.Errorf("%s --help shows %q", c.Name, m)
		}
	}
}

// The packaging words are handled before the CLI (packaging/deb_test.go
// runs them through the built binary).
func TestPackagingArgs(t *testing.T) {
	for arg, want := range map[string]string{
		manpageArg:        ".TH SDLAUNCH 1 ",
		bashCompletionArg: "complete -o default -F _sdlaunch sdlaunch\n",
		zshCompletionArg:  "#compdef sdlaunch\n",
		fishCompletionArg: "complete -c sdlaunch ",
	} {
		var out, errOut strings.Builder
		ok, code := generated([]string{"sdlaunch", arg}, &out, &errOut)
		if !ok || code != exitOK || !strings.Contains(out.String(), want) {
			t.Errorf("%s: handled %v, exit %d (%s), output lacks %q", arg, ok, code, errOut.String(), want)
		}
		// Not commands of the CLI: absent from help, completion and man page.
		if newApp().Command(arg) != nil {
			t.Errorf("%s is a CLI command", arg)
		}
	}
	if ok, _ := generated([]string{"sdlaunch", "run"}, io.Discard, io.Discard); ok {
		t.Error("generated handled a CLI command")
	}
}
