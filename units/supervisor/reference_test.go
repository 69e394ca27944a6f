package supervisor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"golang.org/x/sys/unix"
)

// The reference is supervisor's own code: testdata/pyref.py runs the
// installed supervisor (Debian's python3 package "supervisor") and Python's
// shlex on the same inputs as the Go reader.

type pyRef struct {
	t   *testing.T
	in  *json.Encoder
	out *bufio.Scanner
}

// refEnv is the environment both sides expand %(ENV_X)s from.
var refEnv = map[string]string{"HOME": "/home/op", "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}

func newPyRef(t *testing.T) *pyRef {
	t.Helper()
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import supervisor.options").Run(); err != nil {
		msg := fmt.Sprintf("no reference: %s with supervisor (Debian: supervisor): %v", python, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "pyref.py"))
	for k, v := range refEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	return &pyRef{t: t, in: json.NewEncoder(stdin), out: sc}
}

// ask sends one request and decodes the answer into v; it returns the
// reference's error, if any.
func (r *pyRef) ask(req map[string]any, v any) string {
	r.t.Helper()
	if err := r.in.Encode(req); err != nil {
		r.t.Fatal(err)
	}
	if !r.out.Scan() {
		r.t.Fatalf("pyref: no answer to %v: %v", req, r.out.Err())
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.out.Bytes(), &raw); err != nil {
		r.t.Fatal(err)
	}
	if e, ok := raw["error"]; ok {
		var s string
		_ = json.Unmarshal(e, &s)
		return s
	}
	if err := json.Unmarshal(r.out.Bytes(), v); err != nil {
		r.t.Fatal(err)
	}
	return ""
}

func TestExpandMatchesPython(t *testing.T) {
	ref := newPyRef(t)
	n := names{"here": "/etc/supervisor", "program_name": "web", "process_num": 7, "numprocs": 12, "ENV_HOME": "/root", "empty": ""}
	for _, s := range []string{
		"plain", "%(here)s/x", "%%(here)s", "100%%", "%(process_num)02d", "%(process_num)d-%(numprocs)s",
		"%(process_num)5d|", "%(process_num)-5d|", "%(process_num)+d", "%(process_num)x %(process_num)#o %(numprocs)X",
		"%(program_name)10s|", "%(program_name)-6s|", "%(program_name).2s", "%(program_name)r", "%(ENV_HOME)s",
		"%(process_num)05.3d", "%(empty)s!", "%(here)ls", "a%(program_name)sb%(program_name)sc",
		// refused by Python
		"%(nope)s", "%(here)d", "100%", "%(here)", "%(here", "50% off", "%(process_num)*d",
		// Python gives the repr of all the names; the import refuses it
		"%s",
	} {
		var want struct{ Value string }
		perr := ref.ask(map[string]any{"expand": s, "names": n}, &want)
		got, _, err := expand(s, n)
		switch {
		case perr != "" && err == nil:
			t.Errorf("%q: Python refuses it (%s), Go gives %q", s, perr, got)
		case perr == "" && err != nil && s != "%s":
			t.Errorf("%q: Python gives %q, Go refuses it: %v", s, want.Value, err)
		case perr == "" && err == nil && got != want.Value:
			t.Errorf("%q: Go %q, Python %q", s, got, want.Value)
		}
	}
}

func TestEnvironmentMatchesPython(t *testing.T) {
	ref := newPyRef(t)
	for _, s := range []string{
		"", "A=1", "A=1,B=2", "A=1, B=2", `A="x,y",B='a b'`, `A="it's"`, `A='say "hi"'`, "A=1 B=2", "A=1 X B=2",
		"A=1;B=2", "PATH=/usr/local/bin:/usr/bin", "URL=http://x.example/a?b=c", "A=a@b", "A=x#comment,B=2",
		"A=x#c\nB=2", "A=1,\nB=2", `A=""`, `A="`, `A='1,B=2`, "A", "A=", "=1", "A=1,,B=2", "A==,B=2",
		`KEY="%x",K2=é`, "A=-1,B=+2,C=(x)", `"A"=1`, "A=1,A=2", "A=a\tb", `A="a"b`, `A=a"b"`,
	} {
		var want struct{ Value [][2]string }
		perr := ref.ask(map[string]any{"env": s}, &want)
		vars, _, err := parseEnvironment(s)
		var got [][2]string
		for _, v := range vars {
			got = append(got, [2]string{v.key, v.val})
		}
		switch {
		case perr != "" && err == nil:
			t.Errorf("%q: Python refuses it (%s), Go gives %q", s, perr, got)
		case perr == "" && err != nil:
			t.Errorf("%q: Python gives %q, Go refuses it: %v", s, want.Value, err)
		case perr == "" && !reflect.DeepEqual(got, want.Value) && !(len(got) == 0 && len(want.Value) == 0):
			t.Errorf("%q: Go %q, Python %q", s, got, want.Value)
		}
	}
}

func TestSplitMatchesPython(t *testing.T) {
	ref := newPyRef(t)
	for _, s := range []string{
		"", "  ", "a b  c", `a "b c" d`, `a 'b c' d`, `a"b c"d`, `'a'"b"`, `a\ b`, `"a\"b"`, `"a\b"`, `'a\b'`,
		`a\\b`, `""`, `'' x`, "a\tb\nc", `bash -E -c ./run.py`, `sh -c 'exec gunicorn -b :8000 app:app'`,
		`x # not a comment`, `"unterminated`, `'unterminated`, `trailing\`, `"a\\"`, `a\"`, `é "ü x"`,
	} {
		var want struct{ Value []string }
		perr := ref.ask(map[string]any{"split": s}, &want)
		got, err := shlexSplit(s)
		switch {
		case perr != "" && err == nil:
			t.Errorf("%q: Python refuses it (%s), Go gives %q", s, perr, got)
		case perr == "" && err != nil:
			t.Errorf("%q: Python gives %q, Go refuses it: %v", s, want.Value, err)
		case perr == "" && !reflect.DeepEqual(got, want.Value) && !(len(got) == 0 && len(want.Value) == 0):
			t.Errorf("%q: Go %q, Python %q", s, got, want.Value)
		}
	}
}

func TestIniMatchesPython(t *testing.T) {
	ref := newPyRef(t)
	for _, text := range []string{
		"[a]\nk=v\n",
		"[a]\nk = v ; comment\nj = v;not a comment\n",
		"[a]\nk = a;b ;c #d\n",
		"[a]\nk = a#b #c ;d\n",
		"[a]\n; full comment\n# another\n  ;indented comment\nk=v\n",
		"[a]\nk = first\n  second\n\tthird\nj=x\n",
		"[a]\nk = first\n\n  after blank\n",
		"[a]\nk = first\n  ; comment inside\n  more\n",
		"[a]\nk=v\n\n\n[b]\nx=y\n",
		"[a] trailing\nk=v\n",
		"[a]]\nk=v\n",
		"[a] [b]\nk=v\n",
		"[a]\nKey=V\nkey=W\n",
		"[a]\nk: v\nurl = http://x:80/\nx:y=z\n",
		"[a]\nk=\nj =  \n",
		"[DEFAULT]\nd=1\n[a]\nk=v\n[b]\nd=2\n",
		"[a]\nk=v\n[a]\nj=w\nk=x\n",
		"[a]\r\nk=v\r\n  c\r\n",
		"[a]\n  indented=yes\nk=v\n",
		"[a]\nk=v\n   \n  cont\n",
		"[a]\nk=tab\tinside\n",
		"[program:blog] #Project Name\ndirectory=/home/abc/pro/ # Project Directory \nuser = test # User identity\n",
		"[a]\nk = v\t;tab before the comment\n",
		"\ufeff[a]\nk=v\n",
		// refused
		"k=v\n[a]\n",
		"[a]\nnot an option\n",
		"[a]\n=v\n",
		"[]\nk=v\n",
	} {
		var want struct {
			Sections map[string][][2]string
			Order    []string
		}
		perr := ref.ask(map[string]any{"ini": text}, &want)
		p := newIniParser()
		err := p.read([]byte(text), "t.conf")
		switch {
		case perr != "" && err == nil:
			t.Errorf("%q: Python refuses it (%s), Go reads it", text, perr)
			continue
		case perr == "" && err != nil:
			t.Errorf("%q: Python reads it, Go refuses it: %v", text, err)
			continue
		case perr != "":
			continue
		}
		var order []string
		got := map[string][][2]string{}
		for _, s := range p.sections {
			order = append(order, s.name)
			var kvs [][2]string
			for _, k := range p.items(s) {
				v, _ := p.get(s.name, k)
				kvs = append(kvs, [2]string{k, v.text})
			}
			got[s.name] = kvs
		}
		if !reflect.DeepEqual(order, want.Order) || !reflect.DeepEqual(got, want.Sections) {
			t.Errorf("%q:\nGo     %q %q\nPython %q %q", text, order, got, want.Order, want.Sections)
		}
	}
}

// refProcess is one process as the reference dumps it.
type refProcess struct {
	Name           string
	Command        string
	Directory      *string
	Environment    [][2]string
	Priority       int
	Autostart      bool
	Autorestart    string
	Startsecs      int
	Startretries   int
	Stopsignal     int
	Stopwaitsecs   int
	Stopasgroup    bool
	Killasgroup    bool
	Exitcodes      []int
	RedirectStderr bool `json:"redirect_stderr"`
	User           *string
}

// divergences are the cases where the import deliberately refuses what
// supervisord accepts.
var divergences = map[string]string{
	"include-cycle":      "supervisord reads the main file a second time; the import refuses the cycle",
	"unreadable-include": "supervisord skips a file it cannot read without a word; the import refuses it",
}

func TestConfigsMatchSupervisord(t *testing.T) {
	ref := newPyRef(t)
	for _, name := range caseNames(t) {
		t.Run(name, func(t *testing.T) {
			if why, ok := divergences[name]; ok {
				t.Skip(why)
			}
			tc := readCase(t, name)
			var want struct{ Processes []refProcess }
			perr := ref.ask(map[string]any{"config": tc.file}, &want)
			host, _ := os.Hostname()
			cfg, err := Load(tc.file, LoadOptions{Env: refEnv, Hostname: host})
			var refused []string
			if err != nil {
				refused = append(refused, err.Error())
			} else {
				for _, p := range cfg.Programs {
					if e := p.Refused(); e != nil {
						refused = append(refused, e.Error())
					}
				}
			}
			switch {
			case perr != "" && len(refused) == 0:
				t.Fatalf("supervisord refuses it (%s); the Go reader does not", perr)
			case perr == "" && len(refused) > 0:
				t.Fatalf("supervisord reads it; the Go reader refuses it: %s", refused[0])
			case perr != "":
				t.Logf("both refuse it: supervisord: %s; Go: %s", perr, refused[0])
				return
			}
			got := goProcesses(cfg)
			if !reflect.DeepEqual(got, want.Processes) {
				gj, _ := json.MarshalIndent(got, "", " ")
				wj, _ := json.MarshalIndent(want.Processes, "", " ")
				t.Errorf("processes differ\nGo:\n%s\nsupervisord:\n%s", gj, wj)
			}
		})
	}
}

func goProcesses(cfg *Config) []refProcess {
	var out []refProcess
	for _, p := range cfg.Programs {
		for _, proc := range p.Processes {
			env := map[string]string{}
			for _, v := range cfg.superEnv {
				env[v.key] = v.val
			}
			for _, v := range proc.Environment {
				env[v.key] = v.val
			}
			kvs := [][2]string{}
			for k, v := range env {
				kvs = append(kvs, [2]string{k, v})
			}
			sort.Slice(kvs, func(i, j int) bool { return kvs[i][0] < kvs[j][0] })
			var user *string
			if p.User != "" && p.UserFrom == "" {
				u := p.User
				user = &u
			}
			codes := p.ExitCodes
			if codes == nil {
				codes = []int{}
			}
			out = append(out, refProcess{
				Name: proc.Name, Command: proc.Command, Directory: proc.Directory, Environment: kvs,
				Priority: p.Priority, Autostart: p.Autostart, Autorestart: string(p.Autorestart),
				Startsecs: p.StartSecs, Startretries: p.StartRetries, Stopsignal: int(unix.SignalNum("SIG" + p.StopSignal)),
				Stopwaitsecs: p.StopWaitSecs, Stopasgroup: p.StopAsGroup, Killasgroup: p.KillAsGroup,
				Exitcodes: codes, RedirectStderr: p.RedirectStderr, User: user,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if out == nil {
		out = []refProcess{}
	}
	return out
}
