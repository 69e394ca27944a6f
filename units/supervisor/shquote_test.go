package supervisor

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// parseBack has a real shell split line into words, as it would when the
// operator pastes it.
func parseBack(t *testing.T, shell, line string) []string {
	t.Helper()
	script := "set -- " + line + "\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done"
	out, err := exec.Command(shell, "-c", script).Output()
	if err != nil {
		t.Fatalf("%s -c %q: %v", shell, script, err)
	}
	words := strings.Split(string(out), "\x00")
	return words[:len(words)-1]
}

func shells(t *testing.T) []string {
	var found []string
	for _, sh := range []string{"sh", "dash", "bash", "zsh"} {
		if p, err := exec.LookPath(sh); err == nil {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		t.Skip("no shell")
	}
	return found
}

func TestShellJoinParsesBack(t *testing.T) {
	words := []string{
		"plain", "--env", "A=b c", "it's", `"double"`, "$HOME", "`id`", "$(id)", `back\slash`, "!bang", "a*b", "?",
		"[x]", "{a,b}", "~root", "#hash", "=zsh", "semi;colon", "pipe|", "amp&", "<in>", "tab\there", "new\nline",
		"", " ", "100%", "é ü", "a'b'c", "'", "''", "--listen", "[::1]:8000", "x=y=z", "-", "--",
	}
	for _, sh := range shells(t) {
		if got := parseBack(t, sh, ShellJoin(words)); !reflect.DeepEqual(got, words) {
			t.Errorf("%s splits %q into\n%q, want\n%q", sh, ShellJoin(words), got, words)
		}
	}
}

// Every printed command line of the test cases parses back into exactly
// the arguments install gets.
func TestCommandLinesParseBack(t *testing.T) {
	sh := shells(t)
	for _, name := range caseNames(t) {
		tc := readCase(t, name)
		_, _, ims, err := tc.run()
		if err != nil {
			continue
		}
		for _, im := range ims {
			want := append([]string{"sdlaunch", "install"}, im.Args...)
			for _, s := range sh {
				if got := parseBack(t, s, im.CommandLine()); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %s splits the line into %q, want %q", name, s, got, want)
				}
			}
		}
	}
}
