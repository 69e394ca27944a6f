package units

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var quoteCases = [][]string{
	{"app.py"},
	{"--workers=4", "--", "/usr/bin/python3", "-c", "print('hi there')"},
	{"a b", "", "  lead", "trail  ", "tab\there"},
	{`back\slash`, `"double"`, `'single'`, `mixed "quo'tes`},
	{"100%", "%n", "%%", "$HOME", "${HOME}", "$$", "$", "a$b", "cost: $5"},
	{";", `\;`, "a;b", "#hash", "semi ;"},
	{"unicode ✓ ü", "ctl\x01x", "del\x7f"},
	{"-", "@", "+", "!", ":", "-x"},
}

func TestExecLineRoundTrip(t *testing.T) {
	for _, args := range quoteCases {
		line, err := ExecLine("/usr/bin/sdlaunch", args...)
		if err != nil {
			t.Fatalf("ExecLine(%q): %v", args, err)
		}
		exe, got, err := SplitExec(line)
		if err != nil {
			t.Fatalf("SplitExec(%s): %v", line, err)
		}
		if exe != "/usr/bin/sdlaunch" || !reflect.DeepEqual(got, args) {
			t.Errorf("round trip of %q via %s gave %q %q", args, line, exe, got)
		}
	}
}

func TestExecLineRendering(t *testing.T) {
	cases := map[string]string{
		"plain":   "plain",
		"a b":     `"a b"`,
		"100%":    "100%%",
		"$HOME":   "$$HOME",
		`x"y`:     `"x\"y"`,
		`x\y`:     `"x\\y"`,
		";":       `";"`,
		"":        `""`,
		"it's":    `"it's"`,
		"-w=4":    "-w=4",
		"a\tb":    `"a\tb"`,
		"50% off": `"50%% off"`,
	}
	for in, want := range cases {
		line, err := ExecLine("/bin/x", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimPrefix(line, "/bin/x "); got != want {
			t.Errorf("word %q rendered as %s, want %s", in, got, want)
		}
	}
}

func TestExecLineRefuses(t *testing.T) {
	for _, c := range []struct{ exe, arg string }{
		{"relative/bin", "x"},
		{"/bin/$x", "x"},
		{"/bin/x", "nul\x00"},
		{"/bin/x", "bad\xffutf8"},
	} {
		if line, err := ExecLine(c.exe, c.arg); err == nil {
			t.Errorf("ExecLine(%q, %q) = %s, want an error", c.exe, c.arg, line)
		}
	}
}

func TestSplitExecFollowsSystemd(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`/bin/x a"b c"d`, []string{"ab cd"}},
		{`/bin/x 'single \"q' "\x41\101\u00e9"`, []string{`single "q`, "AAé"}},
		{`/bin/x \; "\s"`, []string{";", " "}},
		{`/bin/x ""  ''`, []string{"", ""}},
		{"/bin/x\ta\tb", []string{"a", "b"}},
	}
	for _, c := range cases {
		_, got, err := SplitExec(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitExec(%s) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`/bin/x "open`, `/bin/x a\q`, `/bin/x ; /bin/y`, `/bin/x %n`, `/bin/x $HOME`, `/bin/x \x00`, `/bin/x trailing\`} {
		if _, args, err := SplitExec(bad); err == nil {
			t.Errorf("SplitExec(%s) = %q, want an error", bad, args)
		}
	}
}

func TestEnvAssignmentRoundTrip(t *testing.T) {
	for _, v := range []string{"plain", "with space", `q"uote`, "100%", "$NOT_EXPANDED", `back\slash`, ""} {
		got, err := EnvAssignment("K", v)
		if err != nil {
			t.Fatal(err)
		}
		words, err := SplitEnvironment(got)
		if err != nil || len(words) != 1 || words[0] != "K="+v {
			t.Errorf("Environment=%s parses to %q, %v; want [K=%s]", got, words, err, v)
		}
	}
	for _, k := range []string{"", "1A", "A-B", "A B", "A=B"} {
		if _, err := EnvAssignment(k, "v"); err == nil {
			t.Errorf("EnvAssignment(%q) accepted a bad name", k)
		}
	}
}

// TestExecLineAgainstSystemd cross-checks the renderer with systemd's own
// parser: systemd-analyze verify at debug level dumps each parsed command
// line, shell-quoted, before "$" expansion.
func TestExecLineAgainstSystemd(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	dir := t.TempDir()
	var body strings.Builder
	body.WriteString("[Service]\nType=oneshot\n")
	for _, args := range quoteCases {
		line, err := ExecLine("/usr/bin/true", args...)
		if err != nil {
			t.Fatal(err)
		}
		body.WriteString("ExecStart=" + line + "\n")
	}
	path := filepath.Join(dir, "quote-check.service")
	if err := os.WriteFile(path, []byte(body.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=debug")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	var dumped [][]string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(l, "Command Line: "); ok {
			words, err := shellUnquote(rest)
			if err != nil {
				t.Fatalf("dump %q: %v", rest, err)
			}
			dumped = append(dumped, words[1:])
		}
		if strings.Contains(l, "quote-check") && (strings.Contains(l, "Ignoring") || strings.Contains(l, "Unbalanced") || strings.Contains(l, "Failed to")) {
			t.Errorf("systemd warned: %s", l)
		}
	}
	if len(dumped) != len(quoteCases) {
		t.Fatalf("systemd parsed %d command lines, want %d:\n%s", len(dumped), len(quoteCases), out)
	}
	for i, args := range quoteCases {
		want := make([]string, len(args))
		for j, a := range args {
			// the dump shows arguments before exec-time "$$" -> "$"
			want[j] = strings.ReplaceAll(a, "$", "$$")
		}
		if !reflect.DeepEqual(dumped[i], want) {
			t.Errorf("systemd parsed %q as %q", want, dumped[i])
		}
	}
}

// shellUnquote undoes systemd's quote_command_line(): words separated by
// spaces, quoted with "..." when needed, C escapes for control characters
// and \ before \ " $ and `.
func shellUnquote(s string) ([]string, error) {
	var words []string
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			break
		}
		var b strings.Builder
		quoted := s[i] == '"'
		if quoted {
			i++
		}
		for i < len(s) && (quoted && s[i] != '"' || !quoted && s[i] != ' ') {
			if s[i] != '\\' {
				b.WriteByte(s[i])
				i++
				continue
			}
			if i+1 < len(s) && strings.IndexByte("$\"\\`", s[i+1]) >= 0 {
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
			r, n, err := cunescapeOne(s[i+1:])
			if err != nil {
				return nil, err
			}
			b.WriteString(r)
			i += 1 + n
		}
		if quoted {
			i++
		}
		words = append(words, b.String())
	}
	return words, nil
}
