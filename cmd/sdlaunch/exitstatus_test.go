package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's exit status table")

func TestEveryCommandHasExitStatuses(t *testing.T) {
	table := exitStatuses()
	union := map[int]bool{}
	names := map[string]bool{"": true}
	for _, c := range newApp().Commands {
		names[c.Name] = true
		statuses, ok := table[c.Name]
		if !ok {
			t.Errorf("%s has no exit statuses in exitStatuses", c.Name)
			continue
		}
		seen := map[int]bool{}
		for _, s := range statuses {
			if seen[s.code] || s.meaning == "" {
				t.Errorf("%s: status %d listed twice or without a meaning", c.Name, s.code)
			}
			seen[s.code] = true
			union[s.code] = true
		}
		if !seen[exitOK] || !seen[exitUsage] {
			t.Errorf("%s: every command exits 0 on success and 2 on bad usage; listed %v", c.Name, statuses)
		}
	}
	for name := range table {
		if !names[name] {
			t.Errorf("exitStatuses lists %q, which is no command", name)
		}
	}
	// sdlaunch's own summary names every status some command exits with.
	var summary []int
	for _, s := range table[""] {
		summary = append(summary, s.code)
	}
	for code := range union {
		if !slices.Contains(summary, code) {
			t.Errorf("the summary (exitStatuses[\"\"]) lacks %d", code)
		}
	}
}

// Each command's --help ends with exactly its statuses, and sdlaunch
// --help with the summary.
func TestHelpListsExitStatuses(t *testing.T) {
	for _, name := range append([]string{""}, commandNames()...) {
		args := []string{"sdlaunch", "--help"}
		if name != "" {
			args = []string{"sdlaunch", name, "--help"}
		}
		app := newApp()
		var out bytes.Buffer
		app.Writer = &out
		if err := app.Run(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		statuses, _ := statusesOf(name)
		want := exitStatusHelp(statuses)
		if !strings.HasSuffix(out.String(), "\n"+want) {
			t.Errorf("%v does not end with its EXIT STATUS table:\n%s\nwant:\n%s", args, out.String(), want)
		}
	}
}

func commandNames() []string {
	var names []string
	for _, c := range newApp().Commands {
		names = append(names, c.Name)
	}
	return names
}

const (
	readmeBegin = "<!-- exit statuses: generated from cmd/sdlaunch/exitstatus.go; `go test ./cmd/sdlaunch -run TestReadmeExitStatuses -update` rewrites it -->\n"
	readmeEnd   = "<!-- end of exit statuses -->\n"
)

// The README's table is the one --help and the man page show.
func TestReadmeExitStatuses(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no exit status table between %q and %q", readmeBegin, readmeEnd)
	}
	want := readmeBegin + exitStatusMarkdown(commandNames()) + readmeEnd
	got := s[i : j+len(readmeEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(s[:i]+want+s[j+len(readmeEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's exit status table is stale (go test ./cmd/sdlaunch -run TestReadmeExitStatuses -update):\n%s", diffLines(got, want))
}

func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for k := 0; k < len(g) || k < len(w); k++ {
		var gl, wl string
		if k < len(g) {
			gl = g[k]
		}
		if k < len(w) {
			wl = w[k]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d:\n  README: %s\n  want:   %s\n", k+1, gl, wl)
		}
	}
	return b.String()
}

func TestWrap(t *testing.T) {
	got := wrap("aaa bbb ccc dddd", 7)
	if !slices.Equal(got, []string{"aaa bbb", "ccc", "dddd"}) {
		t.Errorf("wrap = %q", got)
	}
	if got := wrap("", 7); !slices.Equal(got, []string{""}) {
		t.Errorf("wrap of nothing = %q", got)
	}
}
