package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The operator examples in contrib/deploy are docs, but they must stay
// valid: bash -n always, shellcheck, a YAML parse and ansible-playbook
// --syntax-check where those are installed.
func TestDeployExamples(t *testing.T) {
	dir := filepath.Join("..", "contrib", "deploy")
	script := filepath.Join(dir, "deploy.sh")
	playbook := filepath.Join(dir, "ansible", "sdlaunch.yml")
	if fi, err := os.Stat(script); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s has mode %v: want an executable script", script, fi.Mode())
	}
	run(t, "bash", "-n", script)
	optional := [][]string{
		{"shellcheck", script},
		{"python3", "-c", "import sys, yaml; yaml.safe_load(open(sys.argv[1]))", playbook},
	}
	if _, err := exec.LookPath("ansible-playbook"); err == nil {
		inventory := filepath.Join(t.TempDir(), "hosts")
		if err := os.WriteFile(inventory, []byte("[web]\nlocalhost ansible_connection=local\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		optional = append(optional, []string{"ansible-playbook", "-i", inventory, "--syntax-check", playbook})
	}
	for _, args := range optional {
		if _, err := exec.LookPath(args[0]); err != nil {
			t.Logf("%s not installed: not run", args[0])
			continue
		}
		if args[0] == "python3" && exec.Command("python3", "-c", "import yaml").Run() != nil {
			t.Log("python3-yaml not installed: the playbook was not parsed")
			continue
		}
		run(t, args[0], args[1:]...)
	}
}
