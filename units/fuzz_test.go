package units

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/unit"
)

// Seeds live in testdata/fuzz/<FuzzName>/ (go test -fuzz=FuzzX ./units).

// FuzzExecLine: every argument systemd can carry renders to a line that
// systemd's rules split back into exactly that argument.
func FuzzExecLine(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b string) {
		line, err := ExecLine("/usr/bin/sdlaunch", a, b)
		carriable := func(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }
		if err != nil {
			if carriable(a) && carriable(b) {
				t.Fatalf("ExecLine(%q, %q): %v", a, b, err)
			}
			return
		}
		if strings.ContainsAny(line, "\n\r") {
			t.Fatalf("line break in %q", line)
		}
		exe, args, err := SplitExec(line)
		if err != nil {
			t.Fatalf("SplitExec(%s): %v", line, err)
		}
		if exe != "/usr/bin/sdlaunch" || !reflect.DeepEqual(args, []string{a, b}) {
			t.Fatalf("%q %q -> %s -> %q", a, b, line, args)
		}
	})
}

// FuzzEnvAssignment: Environment= values round-trip too.
func FuzzEnvAssignment(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value string) {
		got, err := EnvAssignment(key, value)
		if err != nil {
			return
		}
		words, err := SplitEnvironment(got)
		if err != nil || len(words) != 1 || words[0] != key+"="+value {
			t.Fatalf("Environment=%s -> %q, %v", got, words, err)
		}
	})
}

// FuzzSplitExec: the splitter never panics, and what it accepts renders
// back to a line it splits the same way.
func FuzzSplitExec(f *testing.F) {
	f.Fuzz(func(t *testing.T, line string) {
		exe, args, err := SplitExec(line)
		if err != nil || !strings.HasPrefix(exe, "/") || strings.Contains(exe, "$") {
			return
		}
		again, err := ExecLine(exe, args...)
		if err != nil {
			return // e.g. a \x escape that decodes to invalid UTF-8
		}
		exe2, args2, err := SplitExec(again)
		if err != nil || exe2 != exe || !reflect.DeepEqual(args2, args) {
			t.Fatalf("%q -> %q %q -> %s -> %q %q %v", line, exe, args, again, exe2, args2, err)
		}
	})
}

// FuzzListen: a parsed address yields a ListenStream= without whitespace,
// and parsing it again (as systemd would) gives the same stream.
func FuzzListen(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseListen(s)
		if err != nil {
			if !strings.Contains(err.Error(), "listen address") {
				t.Fatalf("error %q does not name the address", err)
			}
			return
		}
		if l.Stream == "" || strings.ContainsAny(l.Stream, " \t\n\r\x00") {
			t.Fatalf("%q -> stream %q", s, l.Stream)
		}
		re := l.Stream
		if l.Unix() {
			re = "unix:" + re
		}
		l2, err := ParseListen(re)
		if err != nil || l2.Stream != l.Stream || l2.Address != l.Address {
			t.Fatalf("%q -> %q -> %+v, %v", s, l.Stream, l2, err)
		}
	})
}

// FuzzRender: whatever the validators accept renders to unit files that
// parse, keep one option per line, and carry the command and environment
// through quoting unchanged.
func FuzzRender(f *testing.F) {
	f.Fuzz(func(t *testing.T, name, listen, arg, env, desc string) {
		a := &App{
			Name:         name,
			Listen:       []string{listen},
			SdlaunchPath: "/usr/bin/sdlaunch",
			Command:      []string{"/usr/bin/python3", arg},
			Chdir:        "/srv/app",
			Env:          []string{env},
			Description:  desc,
			TimeoutStop:  45 * time.Second,
			TimeoutStart: 90 * time.Second,
		}
		files, err := a.Render()
		if err != nil {
			if !IsValidation(err) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("want a one-line ValidationError, got %q", err)
			}
			return
		}
		for _, file := range files {
			opts, err := unit.DeserializeOptions(bytes.NewReader(file.Content))
			if err != nil {
				t.Fatalf("%s does not parse: %v\n%s", file.Name, err, file.Content)
			}
			for _, o := range opts {
				switch o.Name {
				case "ExecStart":
					_, args, err := SplitExec(o.Value)
					if err != nil || !reflect.DeepEqual(args, []string{"run", "--backlog=4096", "--", "/usr/bin/python3", arg}) {
						t.Fatalf("ExecStart=%s -> %q, %v", o.Value, args, err)
					}
				case "Environment":
					words, err := SplitEnvironment(o.Value)
					if err != nil || len(words) != 1 || words[0] != env {
						t.Fatalf("Environment=%s -> %q, %v", o.Value, words, err)
					}
				case "Description":
					if !strings.HasSuffix(file.Name, ".service") {
						continue
					}
					if d, err := unescapeSpecifiers(o.Value); err != nil || (strings.TrimSpace(desc) != "" && d != strings.TrimSpace(desc)) {
						t.Fatalf("Description=%s -> %q, %v", o.Value, d, err)
					}
				}
			}
		}
	})
}
