package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func noCommands(string) (string, error) { return "", errors.New("not found") }

func TestPlanServer(t *testing.T) {
	withConf := t.TempDir()
	if err := os.WriteFile(filepath.Join(withConf, "gunicorn.conf.py"), []byte("bind = '0.0.0.0:9999'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cmd     string
		env     map[string]string
		dir     string
		listen  []string
		workers int
		argv    string
		unknown bool
	}{
		{cmd: "gunicorn -w 4 -b 0.0.0.0:8000 wsgi:app", listen: []string{"0.0.0.0:8000"}, workers: 4, argv: "gunicorn -w 1 wsgi:app"},
		{cmd: "/venv/bin/gunicorn --workers=3 --bind=127.0.0.1:8001 -b unix:/run/a.sock app:app", listen: []string{"127.0.0.1:8001", "unix:/run/a.sock"}, workers: 3, argv: "/venv/bin/gunicorn -w 1 app:app"},
		{cmd: "gunicorn -w2 -b:8000 app:app", listen: []string{"0.0.0.0:8000"}, workers: 2, argv: "gunicorn -w 1 app:app"},
		{cmd: "gunicorn -b localhost app:app", listen: []string{"127.0.0.1:8000"}, workers: 1, argv: "gunicorn -w 1 app:app"},
		{cmd: "gunicorn -b tcp://[::]:80 app:app", listen: []string{"[::]:80"}, workers: 1, argv: "gunicorn -w 1 app:app"},
		{cmd: "gunicorn -b unix:run/app.sock app:app", dir: "/srv/app", listen: []string{"unix:/srv/app/run/app.sock"}, workers: 1, argv: "gunicorn -w 1 app:app"},
		{cmd: "gunicorn app:app", listen: []string{"127.0.0.1:8000"}, workers: 1, argv: "gunicorn -w 1 app:app"},
		{cmd: "gunicorn app:app", env: map[string]string{"PORT": "5000", "WEB_CONCURRENCY": "3"}, listen: []string{"0.0.0.0:5000"}, workers: 3, argv: "gunicorn -w 1 app:app"},
		{cmd: "gunicorn app:app", env: map[string]string{"GUNICORN_CMD_ARGS": "--bind=127.0.0.1:7000 --workers 5"}, listen: []string{"127.0.0.1:7000"}, workers: 5, argv: "gunicorn -w 1 app:app"},
		{cmd: "gunicorn -b 127.0.0.1:1 app:app", env: map[string]string{"GUNICORN_CMD_ARGS": "-b 127.0.0.1:2 -w 2"}, listen: []string{"127.0.0.1:1"}, workers: 2, argv: "gunicorn -w 1 app:app"},
		{cmd: "gunicorn -c /etc/gunicorn/app.py app:app", unknown: true, workers: 1, argv: "gunicorn -w 1 -c /etc/gunicorn/app.py app:app"},
		{cmd: "gunicorn app:app", dir: withConf, unknown: true, workers: 1, argv: "gunicorn -w 1 app:app"},
		{cmd: "gunicorn -c conf.py -b 127.0.0.1:8000 app:app", listen: []string{"127.0.0.1:8000"}, workers: 1, argv: "gunicorn -w 1 -c conf.py app:app"},
		{cmd: "python3 -u -m gunicorn -w 2 -b 127.0.0.1:8000 app:app", listen: []string{"127.0.0.1:8000"}, workers: 2, argv: "python3 -u -m gunicorn -w 1 app:app"},
		{cmd: "/usr/bin/python3.11 -mgunicorn app:app", listen: []string{"127.0.0.1:8000"}, workers: 1, argv: "/usr/bin/python3.11 -mgunicorn -w 1 app:app"},
		{cmd: "/venv/bin/uvicorn app:app --host 0.0.0.0 --port 8001 --workers=2", listen: []string{"0.0.0.0:8001"}, workers: 2, argv: "/venv/bin/uvicorn --fd 3 app:app"},
		{cmd: "python3 -m uvicorn --uds /run/asgi.sock app:app", listen: []string{"unix:/run/asgi.sock"}, workers: 1, argv: "python3 -m uvicorn --fd 3 app:app"},
		{cmd: "python3 -m uvicorn app:app", env: map[string]string{"UVICORN_PORT": "9000"}, listen: []string{"127.0.0.1:9000"}, workers: 1, argv: "python3 -m uvicorn --fd 3 app:app"},
		{cmd: "uvicorn app:app --host=::1", listen: []string{"[::1]:8000"}, workers: 1, argv: "uvicorn --fd 3 app:app"},
		{cmd: "python3 app.py", unknown: true, workers: 1, argv: "python3 app.py"},
		{cmd: "python3 -c 'import gunicorn'", unknown: true, workers: 1, argv: "python3 -c import gunicorn"},
		{cmd: "/bin/bash -E -c ./run.py", unknown: true, workers: 1, argv: "/bin/bash -E -c ./run.py"},
		{cmd: "node server.js --port 3000", unknown: true, workers: 1, argv: "node server.js --port 3000"},
	}
	for _, c := range cases {
		argv, err := shlexSplit(c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		dir := c.dir
		if dir == "" {
			dir = "/srv/none"
		}
		plan, err := planServer(argv, c.env, dir, noCommands)
		if err != nil {
			t.Errorf("%s: %v", c.cmd, err)
			continue
		}
		if !reflect.DeepEqual(plan.listen, c.listen) || plan.workers != c.workers || strings.Join(plan.argv, " ") != c.argv || (plan.unknown != "") != c.unknown || (len(plan.listen) == 0) != c.unknown {
			t.Errorf("%s:\n got listen %q workers %d argv %q unknown %q\nwant listen %q workers %d argv %q unknown %v",
				c.cmd, plan.listen, plan.workers, strings.Join(plan.argv, " "), plan.unknown, c.listen, c.workers, c.argv, c.unknown)
		}
	}
}

func TestPlanServerRefuses(t *testing.T) {
	for cmd, want := range map[string]string{
		"gunicorn -b fd://3 app:app":                 "fd://3",
		"gunicorn -b example.com:80 app:app":         "host name",
		"gunicorn -b 127.0.0.1:http app:app":         "not a port",
		"gunicorn -D app:app":                        "-D",
		"gunicorn --bin 127.0.0.1:80 app:app":        "abbreviation",
		"gunicorn -w many app:app":                   "positive",
		"gunicorn -w 0 app:app":                      "positive",
		"gunicorn app:app -b":                        "needs a value",
		"uvicorn app:app --fd 3":                     "--fd 3",
		"uvicorn app:app --port x":                   "not a port",
		"python3 -m uvicorn app:app --host myhost":   "host name",
		"python3 -m gunicorn -b [::1]:99999 app:app": "not a port",
	} {
		argv, _ := shlexSplit(cmd)
		if _, err := planServer(argv, nil, "/srv", noCommands); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", cmd, err, want)
		}
	}
	argv, _ := shlexSplit("gunicorn app:app")
	if _, err := planServer(argv, map[string]string{"GUNICORN_CMD_ARGS": "-b fd://4"}, "/srv", noCommands); err == nil || !strings.Contains(err.Error(), "GUNICORN_CMD_ARGS") {
		t.Errorf("GUNICORN_CMD_ARGS with fd://: %v", err)
	}
}

// importText imports one program written inline.
func importText(t *testing.T, text string, o ImportOptions) ([]*Import, error) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(f, LoadOptions{Hostname: "h"})
	if err != nil {
		return nil, err
	}
	if o.LookPath == nil {
		o.LookPath = noCommands
	}
	ims, _, err := cfg.Import(o)
	return ims, err
}

func TestImportRefuses(t *testing.T) {
	for name, c := range map[string]struct{ text, want string }{
		"relative directory":  {"[program:a]\ncommand=gunicorn app:app\ndirectory=app\n", `app.conf:3: directory: "app" is relative`},
		"negative stopwait":   {"[program:a]\ncommand=gunicorn app:app\nstopwaitsecs=-1\n", "app.conf:3: stopwaitsecs: -1 is negative"},
		"negative retries":    {"[program:a]\ncommand=gunicorn app:app\nstartretries=-2\n", "app.conf:3: startretries: -2 is negative"},
		"numprocs zero":       {"[program:a]\ncommand=gunicorn app:app\nnumprocs=0\n", "app.conf:3: numprocs: 0: supervisord starts no process"},
		"no command":          {"[program:a]\ndirectory=/srv\n", "app.conf:1: command: [program:a] has no command="},
		"empty command":       {"[program:a]\ncommand=\n", "app.conf:2: command: is empty"},
		"bad quote":           {"[program:a]\ncommand=gunicorn 'app:app\n", "app.conf:2: command: no closing quotation"},
		"process_num in env":  {"[program:a]\ncommand=gunicorn app:app\nprocess_name=a%(process_num)s\nnumprocs=2\nenvironment=N=%(process_num)s\n", "app.conf:5: environment: uses %(process_num)s"},
		"process_name":        {"[program:a]\ncommand=gunicorn app:app\nnumprocs=2\n", "app.conf:3: numprocs: numprocs=2 needs %(process_num)"},
		"stopasgroup":         {"[program:a]\ncommand=gunicorn app:app\nstopasgroup=true\nkillasgroup=false\n", "app.conf:4: killasgroup: stopasgroup=true with killasgroup=false"},
		"autorestart":         {"[program:a]\ncommand=gunicorn app:app\nautorestart=sometimes\n", "app.conf:3: autorestart"},
		"bad name":            {"[program:a b]\ncommand=gunicorn app:app\n", "app.conf:1: [program:a b]"},
		"group unknown":       {"[group:g]\nprograms=a,b\n[program:a]\ncommand=gunicorn app:app\n", `app.conf:2: programs: [group:g] names "b"`},
		"include no files":    {"[include]\n[program:a]\ncommand=gunicorn app:app\n", "app.conf:1: [include]: has no files="},
		"bad utf8":            {"[program:a]\ncommand=gunicorn \xff\n", "app.conf:2: not valid UTF-8"},
		"env expansion":       {"[program:a]\ncommand=gunicorn app:app\nenvironment=A=%(ENV_NOPE_NOT_SET)s\n", "app.conf:3: environment: %(ENV_NOPE_NOT_SET)s cannot be expanded"},
		"bare percent":        {"[program:a]\ncommand=gunicorn app:app --name 100%\n", "app.conf:2: command:"},
		"unknown program":     {"[program:a]\ncommand=gunicorn app:app\n", "no [program:zz] (programs: a)"},
		"eventlistener asked": {"[program:a]\ncommand=gunicorn app:app\n[eventlistener:zz]\ncommand=x\nevents=TICK_5\n", "[eventlistener:zz]: is not a program sdlaunch can import"},
	} {
		o := ImportOptions{}
		if strings.Contains(c.want, "zz") {
			o.Program = "zz"
		}
		_, err := importText(t, c.text, o)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", name, err, c.want)
		}
	}
}

func TestImportNotes(t *testing.T) {
	ims, err := importText(t, `[program:a]
command=gunicorn app:app
user=root
autorestart=false
autostart=false
exitcodes=0,3
umask=002
serverurl=AUTO
stdout_logfile=NONE
stdout_syslog=true
stderr_events_enabled=true
redirect_stderr=false
stopsignal=QUIT
priorty=5
`, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(ims[0].Args, " ")
	if strings.Contains(args, "--run-as") || !strings.Contains(args, "--stop-signal QUIT") {
		t.Errorf("args: %s", args)
	}
	var notes []string
	for _, n := range ims[0].Notes {
		notes = append(notes, n.String())
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{
		"app.conf:3: user=root: sdlaunch does not run apps as root",
		"app.conf:4: autorestart=false: no equivalent",
		"app.conf:5: autostart=false: no equivalent: install enables and starts the app; to keep it off, run systemctl disable --now a.socket a.service",
		"app.conf:6: exitcodes=0,3: no equivalent",
		"app.conf:7: umask=002: no equivalent",
		"app.conf:8: serverurl=AUTO: no equivalent",
		"app.conf:9: stdout_logfile=NONE: output was discarded; now it goes to the journal: journalctl -u a, sdlaunch logs a",
		"app.conf:10: stdout_syslog=true: the journal",
		"app.conf:11: stderr_events_enabled=true: no equivalent",
		"app.conf:12: redirect_stderr=false: no equivalent: stdout and stderr reach the journal as one stream",
		"app.conf:14: priorty=5: not a [program:x] option of supervisord 4.2.5",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	if strings.Count(all, "does not run apps as root") != 1 {
		t.Errorf("the root note is not said once:\n%s", all)
	}
}
