package packaging

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func subcommands() []string {
	return []string{"run", "reload-wait", "import-supervisor", "generate", "install", "uninstall", "status", "logs", "restart", "reload", "version"}
}

// Where the package installs the completions (Debian's bash-completion,
// zsh and fish packages look there).
const (
	bashCompletionPath = "usr/share/bash-completion/completions/sdlaunch"
	zshCompletionPath  = "usr/share/zsh/vendor-completions/_sdlaunch"
	fishCompletionPath = "usr/share/fish/vendor_completions.d/sdlaunch.fish"
)

// need returns the path of tool, skipping the test when it is missing
// outside CI and failing it in CI (where scripts/deps.sh installs it).
func need(t *testing.T, tool, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "" {
		t.Skipf("%s not installed (apt-get install %s)", tool, pkg)
	}
	t.Fatalf("%s not installed; CI must have it (apt-get install %s)", tool, pkg)
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

func debArch(t *testing.T) string {
	switch runtime.GOARCH {
	case "386":
		return "i386"
	case "ppc64le":
		return "ppc64el"
	case "amd64", "arm64", "riscv64", "s390x":
		return runtime.GOARCH
	}
	t.Skipf("no Debian architecture for %s", runtime.GOARCH)
	return ""
}

func TestDeb(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	arch := debArch(t)
	deb := strings.TrimSpace(run(t, "bash", "build-deb.sh", t.TempDir()))
	m := regexp.MustCompile(`^sdlaunch_([0-9][A-Za-z0-9.+~]*)_` + arch + `\.deb$`).FindStringSubmatch(filepath.Base(deb))
	if m == nil {
		t.Fatalf("package file name %q", deb)
	}
	version := m[1]

	info := run(t, "dpkg-deb", "--info", deb)
	for _, want := range []string{
		" Package: sdlaunch\n", " Version: " + version + "\n", " Architecture: " + arch + "\n",
		" Depends: systemd (>= 252)\n", " Section: admin\n", " Priority: optional\n",
		" Maintainer: ", " Installed-Size: ", " Description: ",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}

	// Exactly these files, root-owned; directories 0755.
	files := map[string]string{
		"./usr/bin/sdlaunch":                     "-rwxr-xr-x",
		"./usr/share/man/man1/sdlaunch.1.gz":     "-rw-r--r--",
		"./" + bashCompletionPath:                "-rw-r--r--",
		"./" + zshCompletionPath:                 "-rw-r--r--",
		"./" + fishCompletionPath:                "-rw-r--r--",
		"./usr/share/doc/sdlaunch/copyright":     "-rw-r--r--",
		"./usr/share/doc/sdlaunch/changelog.gz":  "-rw-r--r--",
		"./usr/share/lintian/overrides/sdlaunch": "-rw-r--r--",
	}
	contents := run(t, "dpkg-deb", "--contents", deb)
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(contents), "\n") {
		f := strings.Fields(line) // mode owner/group size date time path
		if len(f) != 6 {
			t.Errorf("unexpected --contents line %q", line)
			continue
		}
		mode, owner, path := f[0], f[1], f[5]
		if owner != "root/root" {
			t.Errorf("%s is owned by %s", path, owner)
		}
		switch want, ok := files[path]; {
		case strings.HasSuffix(path, "/"):
			if mode != "drwxr-xr-x" {
				t.Errorf("directory %s has mode %s", path, mode)
			}
		case !ok:
			t.Errorf("unexpected file %s in the package", path)
		case mode != want:
			t.Errorf("%s has mode %s, want %s", path, mode, want)
		default:
			seen[path] = true
		}
	}
	for path := range files {
		if !seen[path] {
			t.Errorf("%s missing from the package:\n%s", path, contents)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	root := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, root)
	bin := filepath.Join(root, "usr/bin/sdlaunch")

	t.Run("binary", func(t *testing.T) {
		// Depends: lists no libc: the binary must need no loader.
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("usr/bin/sdlaunch is dynamically linked; the package does not depend on libc")
			}
		}
		help := run(t, bin, "--help")
		for _, c := range subcommands() {
			if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(c) + `\s`).MatchString(help) {
				t.Errorf("--help does not list %s:\n%s", c, help)
			}
		}
		// make deb stamps the package's version and the commit.
		commit := strings.TrimSpace(run(t, "bash", "version.sh", "--commit"))
		want := "sdlaunch version " + version + " (commit " + commit + ", go"
		for _, args := range [][]string{{"--version"}, {"version"}} {
			if got := run(t, bin, args...); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ")\n") {
				t.Errorf("sdlaunch %s = %q, want %q...", args[0], got, want)
			}
		}
	})

	t.Run("docs", func(t *testing.T) {
		doc := filepath.Join(root, "usr/share/doc/sdlaunch")
		changelog := gunzip(t, filepath.Join(doc, "changelog.gz"))
		if !strings.HasPrefix(changelog, "sdlaunch ("+version+") ") || !regexp.MustCompile(`\n -- .+ <.+>  \w{3}, \d\d \w{3} \d{4} `).MatchString(changelog) {
			t.Errorf("changelog:\n%s", changelog)
		}
		copyright, err := os.ReadFile(filepath.Join(doc, "copyright"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"==> Go go1.", "==> github.com/urfave/cli/v2 ", "==> github.com/coreos/go-systemd/v22 ", "==> golang.org/x/sys ",
			// go-systemd is Apache 2.0: Debian's copy is referred to, and its NOTICE carried.
			"/usr/share/common-licenses/Apache-2.0", "This product includes software developed at CoreOS, Inc."} {
			if !bytes.Contains(copyright, []byte(want)) {
				t.Errorf("copyright lacks %q", want)
			}
		}
		if bytes.Contains(copyright, []byte("TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION")) {
			t.Error("copyright has the full text of the Apache License 2.0")
		}
		// urfave/cli's doc generators are left out of the binary (build tag).
		if bytes.Contains(copyright, []byte("go-md2man")) || bytes.Contains(copyright, []byte("blackfriday")) {
			t.Error("copyright lists urfave/cli's markdown dependencies: built without -tags urfave_cli_no_docs?")
		}
	})

	t.Run("manpage", func(t *testing.T) {
		man := gunzip(t, filepath.Join(root, "usr/share/man/man1/sdlaunch.1.gz"))
		if !strings.HasPrefix(man, ".TH SDLAUNCH 1 ") {
			t.Errorf("man page does not start with .TH SDLAUNCH 1:\n%.200s", man)
		}
		for _, c := range subcommands() {
			if !strings.Contains(man, "\n.SS "+strings.ReplaceAll(c, "-", `\-`)+"\n") {
				t.Errorf("man page has no section for %s", c)
			}
		}
		// Render it as a user would, and let groff report any problem.
		cmd := exec.Command(need(t, "man", "man-db groff-base"), "--warnings", "-P", "cat", "-l", "-")
		cmd.Stdin = strings.NewReader(man)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH=80")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("man -l: %v\n%s", err, stderr.Bytes())
		}
		text := string(out)
		for _, want := range []string{"NAME", "SYNOPSIS\n       sdlaunch [--help, -h] [--version, -v]\n", "       sdlaunch run [options] -- COMMAND [ARG...]\n",
			"COMMANDS", "EXIT STATUS", "   sdlaunch status\n", "--listen, -l ADDR", "--workers, -w N", "--chdir DIR", "sdlaunch reload-wait [options] PID"} {
			if !strings.Contains(text, want) {
				t.Errorf("rendered man page lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, " value\n") {
			t.Errorf("rendered man page names a value \"value\":\n%s", text)
		}
	})

	t.Run("bash-completion", func(t *testing.T) {
		script := filepath.Join(root, bashCompletionPath)
		spec := strings.TrimSpace(run(t, "bash", "--norc", "--noprofile", "-c", `source "$1" && complete -p sdlaunch`, "bash", script))
		fn := regexp.MustCompile(`^complete .*-F (\S+) sdlaunch$`).FindStringSubmatch(spec)
		if fn == nil {
			t.Fatalf("complete -p sdlaunch: %q", spec)
		}
		// A directory to complete names in: one directory, one file.
		cwd := t.TempDir()
		if err := os.Mkdir(filepath.Join(cwd, "d1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cwd, "f1"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// Simulate bash: COMP_WORDS/COMP_CWORD, then the function fills
		// COMPREPLY. $BASH_COMPLETION is sourced first when set.
		simulate := `[[ -z $BASH_COMPLETION ]] || source "$BASH_COMPLETION"; source "$1" && shift && COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) &&
			COMP_LINE="$*" && COMP_POINT=${#COMP_LINE} && ` + fn[1] + ` sdlaunch && printf '%s\n' "${COMPREPLY[@]}"`
		complete := func(env string, words ...string) []string {
			cmd := exec.Command("bash", append([]string{"--norc", "--noprofile", "-c", simulate, "bash", script}, words...)...)
			cmd.Dir = cwd
			cmd.Env = append(os.Environ(), "BASH_COMPLETION="+env)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("completing %q: %v", words, err)
			}
			got := strings.Fields(string(out))
			slices.Sort(got)
			return got
		}
		for _, c := range []struct {
			words []string
			want  []string
		}{
			{[]string{"sdlaunch", "ins"}, []string{"install"}},
			{[]string{"sdlaunch", "re"}, []string{"reload", "reload-wait", "restart"}},
			{[]string{"sdlaunch", ""}, subcommands()},
			{[]string{"sdlaunch", "-"}, []string{"--help", "--version", "-h", "-v"}},
			{[]string{"sdlaunch", "install", "--dry"}, []string{"--dry-run"}},
			{[]string{"sdlaunch", "logs", "-f", "--wor"}, []string{"--worker"}},
			{[]string{"sdlaunch", "run", "-w", "4", "--list"}, []string{"--listen"}},
			{[]string{"sdlaunch", "reload", ""}, nil},                                        // NAME: file names (complete -o default)
			{[]string{"sdlaunch", "install", "-l", ":80", "app", "--", "--p"}, nil},          // the app's own options
			{[]string{"sdlaunch", "generate", "--output", "/tmp", "app", "--", "pyth"}, nil}, // the app's command (bash-completion absent)
			// Values: DIR, FILE and PATH complete names; others nothing.
			{[]string{"sdlaunch", "generate", "--output", ""}, []string{"d1"}},
			{[]string{"sdlaunch", "generate", "-o", ""}, []string{"d1"}},
			{[]string{"sdlaunch", "run", "--chdir", "d"}, []string{"d1"}},
			{[]string{"sdlaunch", "install", "--chdir", "=", ""}, []string{"d1"}},
			{[]string{"sdlaunch", "install", "--chdir", "="}, []string{"d1"}},
			{[]string{"sdlaunch", "install", "--env-file", ""}, []string{"d1", "f1"}},
			{[]string{"sdlaunch", "install", "--sdlaunch-path", "f"}, []string{"f1"}},
			{[]string{"sdlaunch", "install", "-w", ""}, nil},
			{[]string{"sdlaunch", "logs", "--since", ""}, nil},
		} {
			if got := complete("", c.words...); !slices.Equal(got, slices.Sorted(slices.Values(c.want))) {
				t.Errorf("completing %q: got %q, want %q", c.words, got, c.want)
			}
		}
		// With bash-completion loaded (as Debian's bash does), the app's
		// command line after -- completes as its own: "ech" is the builtin.
		const bashCompletion = "/usr/share/bash-completion/bash_completion"
		if _, err := os.Stat(bashCompletion); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing; CI must have it (apt-get install bash-completion)", bashCompletion)
			}
			t.Logf("bash-completion not installed: the app's command line after -- was not completed")
			return
		}
		if got := complete(bashCompletion, "sdlaunch", "install", "-w", "2", "app", "--", "ech"); !slices.Contains(got, "echo") {
			t.Errorf("completing the app's command after --: got %q, want echo among them", got)
		}
		if got := complete(bashCompletion, "sdlaunch", "run", "--", "echo", "f"); !slices.Equal(got, []string{"f1"}) {
			t.Errorf("completing the app's argument after --: got %q, want [f1]", got)
		}
	})

	t.Run("zsh-fish-completion", func(t *testing.T) {
		for _, c := range []struct{ shell, pkg, path, flag string }{
			{"zsh", "zsh", zshCompletionPath, "-n"}, {"fish", "fish", fishCompletionPath, "--no-execute"},
		} {
			script := filepath.Join(root, c.path)
			if _, err := os.Stat(script); err != nil {
				t.Fatal(err)
			}
			if _, err := exec.LookPath(c.shell); err != nil && os.Getenv("CI") == "" {
				t.Logf("%s not installed (apt-get install %s): %s was not parsed", c.shell, c.pkg, c.path)
				continue
			}
			run(t, need(t, c.shell, c.pkg), c.flag, script)
		}
	})

	// lintian, as Debian would run it: no error and no warning; the only
	// override is the one packaging/lintian-overrides explains, and it is
	// used. Info and pedantic tags are logged.
	t.Run("lintian", func(t *testing.T) {
		// --show-overrides would make overridden tags fail lintian's exit
		// status: the verdict is read from its lines instead.
		cmd := exec.Command(need(t, "lintian", "lintian"), "--display-info", "--pedantic", "--display-experimental", "--show-overrides", "--fail-on", "none", deb)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("lintian: %v\n%s%s", err, out, stderr.Bytes())
		}
		var overridden []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			switch {
			case line == "" || strings.HasPrefix(line, "N:"):
			case strings.HasPrefix(line, "O: "):
				overridden = append(overridden, strings.TrimPrefix(line, "O: "))
			case strings.HasPrefix(line, "I: ") || strings.HasPrefix(line, "P: ") || strings.HasPrefix(line, "X: "):
				t.Logf("lintian: %s", line)
				if strings.Contains(line, "-override") {
					t.Errorf("lintian: %s", line)
				}
			default:
				t.Errorf("lintian: %s", line)
			}
		}
		if want := []string{"sdlaunch: statically-linked-binary [usr/bin/sdlaunch]"}; !slices.Equal(overridden, want) {
			t.Errorf("lintian overrides used: %q, want %q", overridden, want)
		}
	})
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
}
