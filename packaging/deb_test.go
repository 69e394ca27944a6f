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
	return []string{"run", "reload-wait", "generate", "install", "uninstall", "status", "logs", "restart", "reload"}
}

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
		"./usr/bin/sdlaunch":                               "-rwxr-xr-x",
		"./usr/share/man/man1/sdlaunch.1.gz":               "-rw-r--r--",
		"./usr/share/bash-completion/completions/sdlaunch": "-rw-r--r--",
		"./usr/share/doc/sdlaunch/copyright":               "-rw-r--r--",
		"./usr/share/doc/sdlaunch/changelog.Debian.gz":     "-rw-r--r--",
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
	})

	t.Run("docs", func(t *testing.T) {
		doc := filepath.Join(root, "usr/share/doc/sdlaunch")
		changelog := gunzip(t, filepath.Join(doc, "changelog.Debian.gz"))
		if !strings.HasPrefix(changelog, "sdlaunch ("+version+") ") || !regexp.MustCompile(`\n -- .+ <.+>  \w{3}, \d\d \w{3} \d{4} `).MatchString(changelog) {
			t.Errorf("changelog.Debian:\n%s", changelog)
		}
		copyright, err := os.ReadFile(filepath.Join(doc, "copyright"))
		if err != nil {
			t.Fatal(err)
		}
		for _, mod := range []string{"==> Go go1.", "==> github.com/urfave/cli/v2 ", "==> github.com/coreos/go-systemd/v22 ", "==> golang.org/x/sys "} {
			if !bytes.Contains(copyright, []byte(mod)) {
				t.Errorf("copyright lacks %q", mod)
			}
		}
	})

	t.Run("manpage", func(t *testing.T) {
		man := gunzip(t, filepath.Join(root, "usr/share/man/man1/sdlaunch.1.gz"))
		if !strings.HasPrefix(man, ".nh\n.TH sdlaunch 1\n") {
			t.Errorf("man page does not start with .TH sdlaunch 1:\n%.200s", man)
		}
		for _, c := range subcommands() {
			if !strings.Contains(man, "\n.SS "+strings.ReplaceAll(c, "-", `\-`)+"\n") {
				t.Errorf("man page has no section for %s", c)
			}
		}
		i := strings.Index(man, "\n.SH \"EXIT STATUS\"\n")
		if i < 0 {
			t.Fatal("man page has no EXIT STATUS section")
		}
		exit := man[i:]
		if j := strings.Index(exit[1:], "\n.SH "); j >= 0 {
			exit = exit[:j+1]
		}
		for _, code := range []string{"0", "1", "2", "69"} {
			if !strings.Contains(exit, "\n.TP\n.B "+code+"\n") {
				t.Errorf("EXIT STATUS lacks %s:\n%s", code, exit)
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
		for _, want := range append([]string{"NAME", "SYNOPSIS", "COMMANDS", "EXIT STATUS", "--listen", "--workers", "sdlaunch reload-wait"}, subcommands()...) {
			if !strings.Contains(text, want) {
				t.Errorf("rendered man page lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("bash-completion", func(t *testing.T) {
		script := filepath.Join(root, "usr/share/bash-completion/completions/sdlaunch")
		spec := strings.TrimSpace(run(t, "bash", "--norc", "--noprofile", "-c", `source "$1" && complete -p sdlaunch`, "bash", script))
		fn := regexp.MustCompile(`^complete .*-F (\S+) sdlaunch$`).FindStringSubmatch(spec)
		if fn == nil {
			t.Fatalf("complete -p sdlaunch: %q", spec)
		}
		// Simulate bash: COMP_WORDS/COMP_CWORD, then the function fills COMPREPLY.
		simulate := `source "$1" && shift && COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) &&
			COMP_LINE="$*" && COMP_POINT=${#COMP_LINE} && ` + fn[1] + ` && printf '%s\n' "${COMPREPLY[@]}"`
		for _, c := range []struct {
			words []string
			want  []string
		}{
			{[]string{"sdlaunch", "ins"}, []string{"install"}},
			{[]string{"sdlaunch", "re"}, []string{"reload", "reload-wait", "restart"}},
			{[]string{"sdlaunch", ""}, subcommands()},
			{[]string{"sdlaunch", "-"}, []string{"--help", "-h"}},
			{[]string{"sdlaunch", "install", "--dry"}, []string{"--dry-run"}},
			{[]string{"sdlaunch", "logs", "-f", "--wor"}, []string{"--worker"}},
			{[]string{"sdlaunch", "run", "-w", "4", "--list"}, []string{"--listen"}},
			{[]string{"sdlaunch", "reload", ""}, nil},                                        // NAME: file names
			{[]string{"sdlaunch", "install", "-l", ":80", "app", "--", "--p"}, nil},          // the app's own options
			{[]string{"sdlaunch", "generate", "--output", "/tmp", "app", "--", "pyth"}, nil}, // the app's command
		} {
			out := run(t, "bash", append([]string{"--norc", "--noprofile", "-c", simulate, "bash", script}, c.words...)...)
			got := strings.Fields(out)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(c.want))
			if !slices.Equal(got, want) {
				t.Errorf("completing %q: got %q, want %q", c.words, got, want)
			}
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
