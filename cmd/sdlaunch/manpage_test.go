package main

import (
	"io"
	"os/exec"
	"strings"
	"testing"
)

func TestManPage(t *testing.T) {
	man, err := manPage(newApp())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".TH sdlaunch 1\n", "\n.SH COMMANDS\n", "\n.SH \"EXIT STATUS\"\n", "\n.SH \"SEE ALSO\"\n"}
	for _, code := range []string{"0", "1", "2", "3", "69"} {
		want = append(want, ".TP\n.B "+code+"\n")
	}
	minus := strings.NewReplacer("-", `\-`).Replace
	for _, c := range newApp().Commands {
		if c.Hidden {
			// the units' ExecStopPost= hook: not for people
			if strings.Contains(man, "\n.SS "+minus(c.Name)+"\n") {
				t.Errorf("man page lists the hidden command %s", c.Name)
			}
			continue
		}
		want = append(want, "\n.SS "+minus(c.Name)+"\n", minus(`\fBsdlaunch `+c.Name+`\fP [command options] `+c.ArgsUsage))
		for _, f := range c.VisibleFlags() {
			want = append(want, minus(`\fB--`+f.Names()[0]))
		}
	}
	for _, w := range want {
		if !strings.Contains(man, w) {
			t.Errorf("man page lacks %q", w)
		}
	}
	if i := strings.Index(man, `.SH "EXIT STATUS"`); i < strings.Index(man, ".SS reload\n") {
		t.Error("EXIT STATUS is not after the commands")
	}
	// Every "-" is \- (a copy-pasteable ASCII minus), not a typographic hyphen.
	if strings.Contains(strings.ReplaceAll(man, `\-`, ""), "-") {
		t.Error(`man page has a "-" that is not "\-"`)
	}
}

func TestBashCompletion(t *testing.T) {
	script, err := bashCompletion(newApp())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range newApp().Commands {
		if c.Hidden {
			if strings.Contains(script, c.Name) {
				t.Errorf("bash completion offers the hidden command %s", c.Name)
			}
			continue
		}
		if !strings.Contains(script, " "+c.Name+" ") && !strings.Contains(script, "'"+c.Name+" ") && !strings.Contains(script, " "+c.Name+"'") {
			t.Errorf("command %s is not completed", c.Name)
		}
		line := "\t\t" + c.Name + ") opts='--help -h"
		i := strings.Index(script, line)
		if i < 0 {
			t.Errorf("no options case for %s", c.Name)
			continue
		}
		opts := " " + script[i+len(line):i+strings.Index(script[i:], "' ;;")] + " "
		for _, f := range c.VisibleFlags() {
			if !strings.Contains(opts, " --"+f.Names()[0]+" ") {
				t.Errorf("%s: --%s is not completed", c.Name, f.Names()[0])
			}
		}
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		cmd := exec.Command(bash, "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s", err, out)
		}
	}
}

// The packaging words are handled before the CLI (packaging/deb_test.go
// runs them through the built binary).
func TestPackagingArgs(t *testing.T) {
	for arg, want := range map[string]string{manpageArg: ".TH sdlaunch 1\n", bashCompletionArg: "complete -o default -F _sdlaunch sdlaunch\n"} {
		var out, errOut strings.Builder
		ok, code := generated([]string{"sdlaunch", arg}, &out, &errOut)
		if !ok || code != exitOK || !strings.Contains(out.String(), want) {
			t.Errorf("%s: handled %v, exit %d (%s), output lacks %q", arg, ok, code, errOut.String(), want)
		}
	}
	if ok, _ := generated([]string{"sdlaunch", "run"}, io.Discard, io.Discard); ok {
		t.Error("generated handled a CLI command")
	}
	// Not commands of the CLI: absent from help, completion and man page.
	for _, arg := range []string{manpageArg, bashCompletionArg} {
		if newApp().Command(arg) != nil {
			t.Errorf("%s is a CLI command", arg)
		}
	}
}
