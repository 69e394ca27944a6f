package fleet

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// ansible runs contrib/ansible's playbook with Debian's ansible against the
// hosts, over ssh, as an operator would; the balancer's steps run on this
// machine (the inventory's `lb`, a local connection).
type ansible struct {
	t        *testing.T
	dir      string
	playbook string
	env      []string
}

// newAnsible writes ansible.cfg and the inventory. groupVars go to every
// app host; hostVars per host.
func newAnsible(t *testing.T, run string, keys *sshKeys, hosts []*host, sshPort int, groupVars map[string]any, hostVars map[string]map[string]any) *ansible {
	t.Helper()
	a := &ansible{t: t, dir: filepath.Join(run, "ansible"),
		playbook: filepath.Join(moduleRoot(t), "contrib", "ansible", "site.yml")}
	for _, d := range []string{"home", "tmp", "cp"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	web := map[string]any{}
	for _, h := range hosts {
		vars := map[string]any{"ansible_host": h.addr, "ansible_port": sshPort}
		for k, v := range hostVars[h.name] {
			vars[k] = v
		}
		web[h.name] = vars
	}
	inventory := map[string]any{
		"all": map[string]any{
			"vars": map[string]any{
				"ansible_user": "root",
				// The test connects as root; Debian has no sudo by default.
				"ansible_become":             false,
				"ansible_python_interpreter": "/usr/bin/python3",
			},
			"children": map[string]any{
				"web": map[string]any{"hosts": web, "vars": groupVars},
				"lb":  map[string]any{"hosts": map[string]any{"lb": map[string]any{"ansible_connection": "local"}}},
			},
		},
	}
	inv, err := json.MarshalIndent(inventory, "", "  ") // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	invPath := filepath.Join(a.dir, "hosts.yml")
	writeFile(t, invPath, inv, 0o644)
	sshArgs := strings.Join(append(keys.args(), "-o", "ControlMaster=auto", "-o", "ControlPersist=120s"), " ")
	cfg := fmt.Sprintf(`[defaults]
inventory = %s
forks = 5
timeout = 60
host_key_checking = True
retry_files_enabled = False
stdout_callback = ansible.posix.json
nocows = True
local_tmp = %s
[ssh_connection]
pipelining = True
ssh_args = %s
control_path_dir = %s
`, invPath, filepath.Join(a.dir, "tmp"), sshArgs, filepath.Join(a.dir, "cp"))
	cfgPath := filepath.Join(a.dir, "ansible.cfg")
	writeFile(t, cfgPath, []byte(cfg), 0o644)
	a.env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
		"HOME=" + filepath.Join(a.dir, "home"), "ANSIBLE_CONFIG=" + cfgPath, "ANSIBLE_HOME=" + filepath.Join(a.dir, "home"),
		"ANSIBLE_JSON_INDENT=0", "ANSIBLE_FORCE_COLOR=0"}
	t.Cleanup(func() { a.closeMasters(keys, hosts[0].addr) })
	return a
}

// closeMasters ends the ssh connections that ControlPersist keeps open (they
// would end anyway when the hosts power off).
func (a *ansible) closeMasters(keys *sshKeys, anyHost string) {
	cp := filepath.Join(a.dir, "cp")
	entries, _ := os.ReadDir(cp)
	for _, e := range entries {
		_ = runCmd(10*time.Second, nil, nil, "ssh", append(keys.args(), "-o", "ControlPath="+filepath.Join(cp, e.Name()),
			"-O", "exit", "root@"+anyHost)...)
	}
}

// playResult is what ansible-playbook's json callback reports.
type playResult struct {
	Plays []struct {
		Tasks []struct {
			Task struct {
				Name     string `json:"name"`
				Duration struct {
					Start string `json:"start"`
					End   string `json:"end"`
				} `json:"duration"`
			} `json:"task"`
			Hosts map[string]taskResult `json:"hosts"`
		} `json:"tasks"`
	} `json:"plays"`
	Stats map[string]struct {
		OK          int `json:"ok"`
		Changed     int `json:"changed"`
		Failures    int `json:"failures"`
		Unreachable int `json:"unreachable"`
		Rescued     int `json:"rescued"`
		Skipped     int `json:"skipped"`
	} `json:"stats"`
	code    int
	elapsed time.Duration
	raw     string
}

type taskResult struct {
	Changed bool   `json:"changed"`
	Failed  bool   `json:"failed"`
	Skipped bool   `json:"skipped"`
	Msg     any    `json:"msg"`
	Stdout  string `json:"stdout"`
	Stderr  string `json:"stderr"`
}

// play runs the playbook with extra vars and returns the json report.
func (a *ansible) play(extra map[string]any) *playResult {
	a.t.Helper()
	ev, err := json.Marshal(extra)
	if err != nil {
		a.t.Fatal(err)
	}
	evPath := filepath.Join(a.dir, "extra-vars.json")
	writeFile(a.t, evPath, ev, 0o644)
	start := time.Now()
	// The timeout only bounds a hang: a roll of three hosts takes a minute or two.
	r := runCmd(20*time.Minute, nil, a.env, "ansible-playbook", "-e", "@"+evPath, a.playbook)
	pr := &playResult{code: r.code, elapsed: time.Since(start), raw: r.stdout + r.stderr}
	if i := strings.Index(r.stdout, "{"); i < 0 || json.Unmarshal([]byte(r.stdout[i:]), pr) != nil {
		a.t.Fatalf("ansible-playbook: no json report: %s", r)
	}
	pr.code, pr.raw = r.code, r.stdout+"\n"+r.stderr
	return pr
}

// touched lists the hosts that ran at least one task (delegated tasks are
// reported under the host they were run for).
func (p *playResult) touched() []string {
	seen := map[string]bool{}
	for _, pl := range p.Plays {
		for _, tk := range pl.Tasks {
			for h := range tk.Hosts {
				seen[h] = true
			}
		}
	}
	var out []string
	for h := range seen {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// ran lists, in order, the hosts on which a task whose name starts with
// prefix ran (not skipped). Prefixes, since a task name's templates may or
// may not be expanded in the report.
func (p *playResult) ran(prefix string) []string {
	var out []string
	for _, pl := range p.Plays {
		for _, tk := range pl.Tasks {
			if !strings.HasPrefix(taskName(tk.Task.Name), prefix) {
				continue
			}
			var hs []string
			for h, r := range tk.Hosts {
				if !r.Skipped {
					hs = append(hs, h)
				}
			}
			sort.Strings(hs)
			out = append(out, hs...)
		}
	}
	return out
}

// failed returns the failed tasks as "host: task: message".
func (p *playResult) failed() []string {
	var out []string
	for _, pl := range p.Plays {
		for _, tk := range pl.Tasks {
			for h, r := range tk.Hosts {
				if r.Failed {
					out = append(out, fmt.Sprintf("%s: %s: %v %s", h, taskName(tk.Task.Name), r.Msg, strings.TrimSpace(r.Stderr)))
				}
			}
		}
	}
	return out
}

// summary is one line per task and host, with its time, for the log.
func (p *playResult) summary() string {
	var b strings.Builder
	for _, pl := range p.Plays {
		for _, tk := range pl.Tasks {
			hosts := make([]string, 0, len(tk.Hosts))
			for h := range tk.Hosts {
				hosts = append(hosts, h)
			}
			slices.Sort(hosts)
			for _, h := range hosts {
				r := tk.Hosts[h]
				state := "ok"
				switch {
				case r.Failed:
					state = "FAILED"
				case r.Skipped:
					continue
				case r.Changed:
					state = "changed"
				}
				fmt.Fprintf(&b, "  %-3s %-7s %6s  %s\n", h, state, taskDuration(tk.Task.Duration.Start, tk.Task.Duration.End), taskName(tk.Task.Name))
			}
		}
	}
	fmt.Fprintf(&b, "  exit %d after %s; stats %+v", p.code, p.elapsed.Round(100*time.Millisecond), p.Stats)
	return b.String()
}

// taskName drops the "role : " prefix of a role's task.
func taskName(name string) string {
	if _, n, ok := strings.Cut(name, " : "); ok {
		return n
	}
	return name
}

func taskDuration(start, end string) string {
	s, err1 := time.Parse(time.RFC3339Nano, start)
	e, err2 := time.Parse(time.RFC3339Nano, end)
	if err1 != nil || err2 != nil {
		return "?"
	}
	return e.Sub(s).Round(10 * time.Millisecond).String()
}
