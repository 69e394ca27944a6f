package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The three scripts are generated from one description of the CLI; these
// tests check that each names every command and option, completes file
// names for FILE/PATH and directories for DIR, and parses in its shell.
// packaging/deb_test.go exercises the installed bash script in bash.

// parses runs shell's syntax check on script; zsh and fish are optional
// outside CI (scripts/deps.sh installs them there).
func parses(t *testing.T, shell string, script string, args ...string) {
	t.Helper()
	path, err := exec.LookPath(shell)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed; CI must have it (scripts/deps.sh)", shell)
		}
		t.Logf("%s not installed: the script's syntax was not checked", shell)
		return
	}
	file := filepath.Join(t.TempDir(), "completion")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(path, append(args, file)...).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("%s %s: %v\n%s", shell, strings.Join(args, " "), err, out)
	}
}

func TestBashCompletion(t *testing.T) {
	doc := describe(t)
	script, err := bashCompletion(doc)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range doc.commands {
		names = append(names, c.name)
		i := strings.Index(script, "\n\t"+c.name+")\n")
		if i < 0 {
			t.Errorf("no case for %s", c.name)
			continue
		}
		body := script[i : i+strings.Index(script[i:], "' ;;\n")]
		opts := " " + body[strings.Index(body, "opts='")+len("opts='"):] + " "
		for _, f := range c.flags {
			for _, n := range f.dashed() {
				if !strings.Contains(opts, " "+n+" ") {
					t.Errorf("%s: %s is not completed", c.name, n)
				}
			}
			kind := map[valueKind]string{valueFile: "file", valueDir: "dir", valueText: "text"}[f.kind()]
			if f.value != "" && !regexp.MustCompile(`\n\t\t([^\n]* )?`+regexp.QuoteMeta(f.dashed()[0])+`( [^\n]*)?\) _sdlaunch_value `+kind+` `).MatchString(body) {
				t.Errorf("%s: the value of --%s (%s) does not complete as %s", c.name, f.names[0], f.value, kind)
			}
		}
	}
	if !strings.Contains(script, "\t\topts='"+strings.Join(names, " ")+"'\n") {
		t.Errorf("the commands %v are not completed in order", names)
	}
	parses(t, "bash", script, "-n")
}

func TestZshCompletion(t *testing.T) {
	doc := describe(t)
	script, err := zshCompletion(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(script, "#compdef sdlaunch\n") {
		t.Error("no #compdef line")
	}
	for _, c := range doc.commands {
		if !strings.Contains(script, "\n    '"+c.name+":") {
			t.Errorf("command %s is not described", c.name)
		}
		i := strings.Index(script, "\n    ("+c.name+")\n")
		if i < 0 {
			t.Errorf("no case for %s", c.name)
			continue
		}
		body := script[i : i+strings.Index(script[i:], "\n      ;;\n")]
		for _, f := range c.flags {
			spec := zshFlagSpec(f, f.names[0] == "help")
			if !strings.Contains(body, "\n        "+spec+" \\\n") {
				t.Errorf("%s: no spec %s", c.name, spec)
			}
			switch f.kind() {
			case valueFile:
				if !strings.HasSuffix(spec, ":"+f.value+":_files'") {
					t.Errorf("%s: --%s does not complete files: %s", c.name, f.names[0], spec)
				}
			case valueDir:
				if !strings.HasSuffix(spec, ":"+f.value+":_files -/'") {
					t.Errorf("%s: --%s does not complete directories: %s", c.name, f.names[0], spec)
				}
			}
		}
		if c.commandLine != strings.Contains(body, "'*::app command line:_normal'") {
			t.Errorf("%s: the app's command line after -- is not completed as a command", c.name)
		}
	}
	for spec, want := range map[string]string{
		zshFlagSpec(flagDoc{names: []string{"workers", "w"}, value: "N", usage: "number `N`"}, false):                     `'(--workers -w)'{--workers=,-w+}'[number ` + "`N`" + `]:N: '`,
		zshFlagSpec(flagDoc{names: []string{"env"}, value: "K=V", usage: "set it [repeatable]", repeatable: true}, false): `'*--env=[set it (repeatable)]:K=V: '`,
		zshFlagSpec(flagDoc{names: []string{"run-as"}, value: "USER[:GROUP]", usage: "the app's user"}, false):            `'--run-as=[the app'\''s user]:USER[\:GROUP]: '`,
		zshFlagSpec(flagDoc{names: []string{"dry-run"}, usage: "print"}, false):                                           `'--dry-run[print]'`,
	} {
		if spec != want {
			t.Errorf("zshFlagSpec = %s, want %s", spec, want)
		}
	}
	parses(t, "zsh", script, "-n")
}

func TestFishCompletion(t *testing.T) {
	doc := describe(t)
	script, err := fishCompletion(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.commands {
		if !strings.Contains(script, "\ncomplete -c sdlaunch -f -n __fish_sdlaunch_needs_command -a "+c.name+" -d '") {
			t.Errorf("command %s is not completed", c.name)
		}
		for _, f := range c.flags {
			line := fishFlag(fishQuote("__fish_sdlaunch_using "+c.name), f)
			if !strings.Contains(script, "\n"+line+"\n") {
				t.Errorf("%s: no line %s", c.name, line)
			}
			want := map[valueKind]string{valueFile: " -r -F ", valueDir: " -x -a '(__fish_complete_directories (commandline -ct))' ", valueText: " -x "}[f.kind()]
			if f.value != "" && !strings.Contains(line, want) {
				t.Errorf("%s: --%s (%s) is not completed with%s", c.name, f.names[0], f.value, want)
			}
		}
	}
	if got := fishQuote(`it's a \ test`); got != `'it\'s a \\ test'` {
		t.Errorf("fishQuote = %s", got)
	}
	parses(t, "fish", script, "--no-execute")
}
