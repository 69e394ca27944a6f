package supervisor

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// testCase is testdata/cases/NAME/case.
type testCase struct {
	name, dir, file string
	load            LoadOptions
	opts            ImportOptions
}

func readCase(t *testing.T, name string) testCase {
	t.Helper()
	dir := filepath.Join("testdata", "cases", name)
	data, err := os.ReadFile(filepath.Join(dir, "case"))
	if err != nil {
		t.Fatal(err)
	}
	tc := testCase{name: name, dir: dir, load: LoadOptions{Env: map[string]string{}, Hostname: "testhost"}}
	exists := map[string]string{}
	tc.opts.LookPath = func(c string) (string, error) {
		if p, ok := exists[c]; ok {
			return p, nil
		}
		return "", errors.New("not found")
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "file":
			tc.file = filepath.Join(dir, v)
		case "listen":
			tc.opts.Listen = append(tc.opts.Listen, v)
		case "program":
			tc.opts.Program = v
		case "env":
			ek, ev, _ := strings.Cut(v, "=")
			tc.load.Env[ek] = ev
		case "lookpath":
			ek, ev, _ := strings.Cut(v, "=")
			exists[ek] = ev
		default:
			t.Fatalf("%s: unknown line %q", name, line)
		}
	}
	return tc
}

// run imports the case and renders it as the command prints it.
func (tc testCase) run() (stdout, stderr string, ims []*Import, err error) {
	cfg, err := Load(tc.file, tc.load)
	if err != nil {
		return "", "", nil, err
	}
	ims, notes, err := cfg.Import(tc.opts)
	if err != nil {
		return "", "", nil, err
	}
	stdout, stderr = Report(ims, notes)
	return stdout, stderr, ims, nil
}

func caseNames(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "cases"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestGolden(t *testing.T) {
	for _, name := range caseNames(t) {
		t.Run(name, func(t *testing.T) {
			tc := readCase(t, name)
			stdout, stderr, _, err := tc.run()
			var b strings.Builder
			b.WriteString("== stdout\n" + stdout + "== stderr\n" + stderr)
			if err != nil {
				b.WriteString("error: " + err.Error() + "\n")
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				var e *Error
				if !errors.As(err, &e) || !strings.HasPrefix(e.Pos.File, tc.dir) {
					t.Errorf("error does not name a file of the case: %v", err)
				}
			}
			abs, _ := filepath.Abs(tc.dir)
			got := strings.ReplaceAll(b.String(), abs, "$CASE")
			golden := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -update to accept):\n%s", golden, got)
			}
		})
	}
}
