package supervisor

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The port is not in supervisord's configuration; some servers say it on
// their command line. serverPlan is what the command tells: where it
// listens, how many processes it runs, and the command rewritten to serve
// the sockets sdlaunch passes instead of binding its own.

type serverPlan struct {
	kind    string   // "gunicorn", "uvicorn", "shell" or ""
	argv    []string // the command for each sdlaunch worker
	listen  []string // --listen addresses, when the command tells them
	workers int      // processes per supervisord process
	unknown string   // why the port cannot be known from the command
	notes   []string // what was changed, for the command's note
	dropEnv []string // environment variables that would defeat the inherited socket
}

var pythonRe = regexp.MustCompile(`^python[0-9.]*$`)

// serverStart finds the server in a command: gunicorn or uvicorn run as a
// program or as `python -m`, and returns the index of its first option.
func serverStart(argv []string) (kind string, start int) {
	prog := filepath.Base(argv[0])
	switch prog {
	case "gunicorn", "gunicorn3":
		return "gunicorn", 1
	case "uvicorn":
		return "uvicorn", 1
	case "sh", "bash", "dash", "zsh", "ksh":
		for _, a := range argv[1:] {
			if a == "--" || !strings.HasPrefix(a, "-") {
				break
			}
			if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "c") {
				return "shell", 0
			}
		}
		return "", 0
	}
	if !pythonRe.MatchString(prog) {
		return "", 0
	}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		var module string
		switch {
		case a == "-m" && i+1 < len(argv):
			module, i = argv[i+1], i+1
		case strings.HasPrefix(a, "-m") && len(a) > 2:
			module = a[2:]
		case a == "-W" || a == "-X":
			i++
			continue
		case a == "-c" || !strings.HasPrefix(a, "-") || a == "-":
			return "", 0
		default:
			continue
		}
		switch module {
		case "gunicorn", "uvicorn":
			return module, i + 1
		}
		return "", 0
	}
	return "", 0
}

// cliOption matches one option of a server's command line in its forms
// "-x V", "-xV", "--long V", "--long=V". It returns the value and how
// many arguments it took, or n == 0.
func cliOption(args []string, i int, short string, long ...string) (val string, n int, err error) {
	a := args[i]
	takeNext := func(name string) (string, int, error) {
		if i+1 >= len(args) {
			return "", 0, fmt.Errorf("%s needs a value", name)
		}
		return args[i+1], 2, nil
	}
	if short != "" {
		if a == short {
			return takeNext(short)
		}
		if strings.HasPrefix(a, short) && !strings.HasPrefix(a, "--") {
			return a[len(short):], 1, nil
		}
	}
	for _, l := range long {
		if a == l {
			return takeNext(l)
		}
		if v, ok := strings.CutPrefix(a, l+"="); ok {
			return v, 1, nil
		}
	}
	return "", 0, nil
}

// scanned is what a server's options say.
type scanned struct {
	binds   []string
	workers string
	config  string
	rest    []string // the arguments without binds and workers
}

func scanGunicorn(args []string) (scanned, error) {
	var s scanned
	for i := 0; i < len(args); {
		a := args[i]
		if a == "--" {
			s.rest = append(s.rest, args[i:]...)
			break
		}
		if a == "--bi" || a == "--bin" || strings.HasPrefix(a, "--bi=") || strings.HasPrefix(a, "--bin=") {
			return s, fmt.Errorf("gunicorn option %q is an abbreviation of --bind: write it out", a)
		}
		if a == "-D" || a == "--daemon" {
			return s, fmt.Errorf("gunicorn %s detaches from its supervisor: drop it", a)
		}
		if v, n, err := cliOption(args, i, "-b", "--bind"); err != nil {
			return s, err
		} else if n > 0 {
			s.binds = append(s.binds, v)
			i += n
			continue
		}
		if v, n, err := cliOption(args, i, "-w", "--workers"); err != nil {
			return s, err
		} else if n > 0 {
			s.workers = v
			i += n
			continue
		}
		if v, n, err := cliOption(args, i, "-c", "--config"); err != nil {
			return s, err
		} else if n > 0 {
			s.config = v
			s.rest = append(s.rest, args[i:i+n]...)
			i += n
			continue
		}
		s.rest = append(s.rest, a)
		i++
	}
	return s, nil
}

// gunicornBind turns one gunicorn -b address (gunicorn/util.py
// parse_address) into a --listen address.
func gunicornBind(b, dir string) (string, string, error) {
	if p, ok := strings.CutPrefix(b, "unix:"); ok {
		p = strings.TrimPrefix(p, "//")
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return "unix:" + filepath.Clean(p), "", nil
	}
	if strings.HasPrefix(b, "fd://") {
		return "", "", fmt.Errorf("-b %s: that socket came from outside supervisord's configuration; give --listen with its address", b)
	}
	netloc := strings.TrimPrefix(b, "tcp://")
	host, port := netloc, "8000"
	switch {
	case strings.Contains(netloc, "[") && strings.Contains(netloc, "]"):
		host = strings.SplitN(netloc, "]", 2)[0][1:]
		if parts := strings.SplitN(netloc, "]:", 2); len(parts) == 2 {
			port = parts[1]
		}
	case strings.Contains(netloc, ":"):
		parts := strings.Split(netloc, ":")
		host, port = parts[0], parts[1]
	}
	return tcpListen(host, port, "-b "+b)
}

// tcpListen renders host and port as a --listen address: a bare host is
// every IPv4 address (gunicorn and uvicorn bind AF_INET for it), localhost
// the IPv4 loopback; names are refused, systemd binds addresses only.
func tcpListen(host, port, what string) (string, string, error) {
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", "", fmt.Errorf("%s: %q is not a port", what, port)
	}
	host = strings.ToLower(host)
	note := ""
	switch host {
	case "":
		host = "0.0.0.0"
		note = fmt.Sprintf("%s binds every IPv4 address: --listen 0.0.0.0:%d", what, p)
	case "localhost":
		host = "127.0.0.1"
		note = fmt.Sprintf("%s: localhost is the IPv4 loopback there: --listen 127.0.0.1:%d", what, p)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", "", fmt.Errorf("%s: %q is a host name; systemd binds addresses only: give --listen with an IP address", what, host)
	}
	if ip.Is6() && !ip.Is4In6() {
		return fmt.Sprintf("[%s]:%d", host, p), note, nil
	}
	return fmt.Sprintf("%s:%d", host, p), note, nil
}

func envMap(vars []kv) map[string]string {
	m := map[string]string{}
	for _, v := range vars {
		m[v.key] = v.val
	}
	return m
}

// planServer reads the command. env is the process's environment= (with
// [supervisord]'s), dir its directory.
func planServer(argv []string, env map[string]string, dir string, lookPath func(string) (string, error)) (serverPlan, error) {
	kind, start := serverStart(argv)
	plan := serverPlan{kind: kind, argv: argv, workers: 1}
	switch kind {
	case "gunicorn":
		return planGunicorn(plan, argv, start, env, dir)
	case "uvicorn":
		return planUvicorn(plan, argv, start, env, dir, lookPath)
	case "shell":
		plan.notes = append(plan.notes, "a shell runs the app: it gets the socket through the shell as fd 3; bash -c execs a lone command, so the app keeps LISTEN_PID's pid, but a script that forks the server must exec it")
	}
	plan.unknown = "the port is not in the command (a Flask app.run(), or a server that reads it from its code or a file)"
	return plan, nil
}

func planGunicorn(plan serverPlan, argv []string, start int, env map[string]string, dir string) (serverPlan, error) {
	sc, err := scanGunicorn(argv[start:])
	if err != nil {
		return plan, err
	}
	binds, workers := sc.binds, sc.workers
	fromEnv := ""
	if cmdArgs, ok := env["GUNICORN_CMD_ARGS"]; ok {
		words, err := shlexSplit(cmdArgs)
		if err != nil {
			return plan, fmt.Errorf("environment GUNICORN_CMD_ARGS: %v", err)
		}
		esc, err := scanGunicorn(words)
		if err != nil {
			return plan, fmt.Errorf("environment GUNICORN_CMD_ARGS: %v", err)
		}
		for _, b := range esc.binds {
			if strings.HasPrefix(b, "fd://") {
				return plan, fmt.Errorf("environment GUNICORN_CMD_ARGS: -b %s: gunicorn would serve that fd besides the inherited sockets; remove it", b)
			}
		}
		if len(binds) == 0 && len(esc.binds) > 0 {
			binds, fromEnv = esc.binds, " (from GUNICORN_CMD_ARGS)"
		}
		if workers == "" {
			workers = esc.workers
		}
		if sc.config == "" {
			sc.config = esc.config
		}
	}
	if workers == "" {
		workers = env["WEB_CONCURRENCY"]
	}
	if workers != "" {
		n, err := strconv.Atoi(workers)
		if err != nil || n < 1 {
			return plan, fmt.Errorf("gunicorn -w %q is not a positive number", workers)
		}
		plan.workers = n
	}
	config := sc.config
	if config == "" {
		if _, err := os.Stat(filepath.Join(dir, "gunicorn.conf.py")); err == nil {
			config = filepath.Join(dir, "gunicorn.conf.py")
		}
	}
	switch {
	case len(binds) > 0:
		for _, b := range binds {
			l, note, err := gunicornBind(b, dir)
			if err != nil {
				return plan, fmt.Errorf("gunicorn %v", err)
			}
			plan.listen = append(plan.listen, l)
			if note != "" {
				plan.notes = append(plan.notes, "gunicorn "+note)
			}
		}
	case config != "":
		plan.unknown = fmt.Sprintf("gunicorn has no -b, so its bind comes from its config file %s, which this import does not read", config)
	case env["PORT"] != "":
		l, _, err := tcpListen("0.0.0.0", env["PORT"], "gunicorn with PORT="+env["PORT"])
		if err != nil {
			return plan, err
		}
		plan.listen = []string{l}
		plan.notes = append(plan.notes, "gunicorn binds 0.0.0.0:$PORT when given no -b")
	default:
		plan.listen = []string{"127.0.0.1:8000"}
		plan.notes = append(plan.notes, "gunicorn binds 127.0.0.1:8000 when given no -b")
	}
	out := append(append(append([]string{}, argv[:start]...), "-w", "1"), sc.rest...)
	plan.argv = out
	what := "gunicorn"
	if len(sc.binds) > 0 || sc.workers != "" {
		var was []string
		for _, b := range sc.binds {
			was = append(was, "-b "+b)
		}
		if sc.workers != "" {
			was = append([]string{"-w " + sc.workers}, was...)
		}
		what = "gunicorn " + strings.Join(was, " ")
	}
	becomes := workersText(plan.workers)
	if len(plan.listen) > 0 {
		becomes = "--listen " + strings.Join(plan.listen, " --listen ") + " and " + becomes
	}
	plan.notes = append(plan.notes, fmt.Sprintf("%s%s becomes %s, each one gunicorn master with -w 1 and no -b: gunicorn serves the sockets sdlaunch passes (LISTEN_FDS) and ignores host:port binds when it inherits sockets", what, fromEnv, becomes))
	if config != "" {
		plan.notes = append(plan.notes, fmt.Sprintf("gunicorn's config file %s stays in use; -w 1 on the command line overrides its workers=", config))
	}
	return plan, nil
}

func planUvicorn(plan serverPlan, argv []string, start int, env map[string]string, dir string, lookPath func(string) (string, error)) (serverPlan, error) {
	host, port, uds, workers := "127.0.0.1", "8000", "", ""
	for _, v := range []struct {
		name string
		to   *string
	}{{"UVICORN_HOST", &host}, {"UVICORN_PORT", &port}, {"UVICORN_UDS", &uds}, {"UVICORN_WORKERS", &workers}} {
		if x, ok := env[v.name]; ok {
			*v.to = x
			plan.dropEnv = append(plan.dropEnv, v.name)
		}
	}
	if _, ok := env["UVICORN_FD"]; ok {
		plan.dropEnv = append(plan.dropEnv, "UVICORN_FD")
	}
	if workers == "" {
		workers = env["WEB_CONCURRENCY"]
	}
	var rest, was []string
	args := argv[start:]
	for i := 0; i < len(args); {
		matched := false
		for _, o := range []struct {
			long string
			to   *string
		}{{"--host", &host}, {"--port", &port}, {"--uds", &uds}, {"--workers", &workers}, {"--fd", nil}} {
			v, n, err := cliOption(args, i, "", o.long)
			if err != nil {
				return plan, fmt.Errorf("uvicorn %v", err)
			}
			if n == 0 {
				continue
			}
			if o.to == nil {
				return plan, fmt.Errorf("uvicorn --fd %s: that socket came from outside supervisord's configuration; give --listen with its address", v)
			}
			*o.to = v
			was = append(was, o.long+" "+v)
			i += n
			matched = true
			break
		}
		if !matched {
			if args[i] == "--" {
				rest = append(rest, args[i:]...)
				break
			}
			rest = append(rest, args[i])
			i++
		}
	}
	if uds != "" {
		p := uds
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		plan.listen = []string{"unix:" + filepath.Clean(p)}
	} else {
		l, note, err := tcpListen(host, port, "uvicorn --host "+host+" --port "+port)
		if err != nil {
			return plan, err
		}
		plan.listen = []string{l}
		if note != "" {
			plan.notes = append(plan.notes, note)
		}
	}
	if workers != "" {
		n, err := strconv.Atoi(workers)
		if err != nil || n < 1 {
			return plan, fmt.Errorf("uvicorn --workers %q is not a positive number", workers)
		}
		plan.workers = n
	}
	head := append([]string{}, argv[:start]...)
	if start == 1 && head[0] == "uvicorn" && lookPath != nil {
		if _, err := lookPath("uvicorn"); err != nil {
			if py, err := lookPath("python3"); err == nil {
				head = []string{py, "-m", "uvicorn"}
				plan.notes = append(plan.notes, "there is no uvicorn command here (Debian's python3-uvicorn ships only the module): "+py+" -m uvicorn")
			}
		}
	}
	plan.argv = append(append(head, "--fd", "3"), rest...)
	what := "uvicorn"
	if len(was) > 0 {
		what += " " + strings.Join(was, " ")
	}
	plan.notes = append(plan.notes, fmt.Sprintf("%s becomes --listen %s and %s, each one uvicorn process with --fd 3, the socket sdlaunch passes", what, plan.listen[0], workersText(plan.workers)))
	for _, e := range plan.dropEnv {
		plan.notes = append(plan.notes, fmt.Sprintf("environment %s is not carried over: it would make uvicorn bind its own socket", e))
	}
	return plan, nil
}

func workersText(n int) string {
	if n == 1 {
		return "1 sdlaunch worker"
	}
	return fmt.Sprintf("%d sdlaunch workers", n)
}
