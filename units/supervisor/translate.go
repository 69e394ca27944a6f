package supervisor

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The `sdlaunch install` options an import may set. cmd/sdlaunch checks
// that each is an option of install (TestImportFlagsAreInstallFlags).
const (
	FlagListen          = "--listen"
	FlagWorkers         = "--workers"
	FlagChdir           = "--chdir"
	FlagRunAs           = "--run-as"
	FlagEnv             = "--env"
	FlagStopSignal      = "--stop-signal"
	FlagGracefulTimeout = "--graceful-timeout"
	FlagBootRetries     = "--boot-retries"
)

// Flags lists them.
func Flags() []string {
	return []string{FlagListen, FlagWorkers, FlagChdir, FlagRunAs, FlagEnv, FlagStopSignal, FlagGracefulTimeout, FlagBootRetries}
}

// ImportOptions are the choices of the operator.
type ImportOptions struct {
	// Program imports only [program:Program].
	Program string
	// Listen replaces (or supplies) the addresses the command tells.
	Listen []string
	// Extra are more install options, added to every program's line.
	Extra []string
	// LookPath finds commands (exec.LookPath when nil).
	LookPath func(string) (string, error)
}

// Import is one program, ready for `sdlaunch install`.
type Import struct {
	Program string // the x of [program:x]
	Pos     Pos    // its header
	Name    string // NAME of the units
	// Args are install's arguments: options, NAME, "--", the command.
	Args  []string
	Notes []Note
}

// CommandLine is the install command to paste into a shell.
func (im *Import) CommandLine() string {
	return "sdlaunch install " + ShellJoin(im.Args)
}

// Import turns the selected programs into install arguments. Notes are
// about the files as a whole (sections that are not imported); each
// Import has its own.
func (c *Config) Import(o ImportOptions) ([]*Import, []Note, error) {
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	notes := append([]Note{}, c.Notes...)
	for _, s := range c.others {
		notes = append(notes, Note{Pos: s.pos, Key: "[" + s.name + "]", Text: "not imported: " + whyNot(s.name)})
	}
	var selected []*Program
	for _, p := range c.Programs {
		if o.Program == "" || p.Name == o.Program {
			selected = append(selected, p)
		}
	}
	if len(selected) == 0 {
		if o.Program != "" {
			for _, s := range c.others {
				if _, name, _ := strings.Cut(s.name, ":"); name == o.Program {
					return nil, nil, errorf(s.pos, "["+s.name+"]", "is not a program sdlaunch can import: %s", whyNot(s.name))
				}
			}
			var have []string
			for _, p := range c.Programs {
				have = append(have, p.Name)
			}
			return nil, nil, errorf(Pos{File: c.File}, "", "no [program:%s] (programs: %s)", o.Program, orNone(have))
		}
		msg := "no [program:x] section to import"
		if len(c.others) > 0 {
			msg += fmt.Sprintf(" ([%s] is not a program sdlaunch can import: %s)", c.others[0].name, whyNot(c.others[0].name))
		}
		return nil, nil, errorf(Pos{File: c.File}, "", "%s", msg)
	}
	if len(o.Listen) > 0 && len(selected) > 1 {
		var ns []string
		for _, p := range selected {
			ns = append(ns, p.Name)
		}
		return nil, nil, errorf(Pos{File: c.File}, "", "--listen names the sockets of one program, and there are %d (%s): import one at a time with --program NAME", len(selected), strings.Join(ns, ", "))
	}
	var out []*Import
	for _, p := range selected {
		im, err := c.translate(p, o)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, im)
	}
	return out, notes, nil
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

func whyNot(section string) string {
	if strings.HasPrefix(section, "eventlistener:") {
		return "an event listener speaks supervisord's event protocol on stdin and stdout; without supervisord there are no events (systemd's OnFailure= or the journal take that role)"
	}
	return "supervisord binds a FastCGI program's socket and passes it as fd 0 (stdin); sdlaunch passes sockets as fd 3 onwards with LISTEN_FDS, for servers that accept connections themselves"
}

// carried are the options whose values decide the install line: a value
// supervisord refuses there stops the import. For the others, which have
// no equivalent, the refusal is reported in their note.
var carried = map[string]bool{
	"command": true, "process_name": true, "numprocs": true, "numprocs_start": true,
	"autostart": true, "autorestart": true, "startsecs": true, "startretries": true,
	"stopsignal": true, "stopwaitsecs": true, "stopasgroup": true, "killasgroup": true,
	"user": true, "redirect_stderr": true, "environment": true, "directory": true,
}

const noRoot = "sdlaunch does not run apps as root: the app runs as a transient DynamicUser=yes user instead; give install --run-as USER to name an unprivileged owner"

type translation struct {
	p     *Program
	name  string
	notes []Note
}

func (t *translation) note(key, format string, a ...any) {
	t.notes = append(t.notes, Note{Pos: t.p.pos(key), Key: t.p.written(key), Text: fmt.Sprintf(format, a...)})
}

func (c *Config) translate(p *Program, o ImportOptions) (*Import, error) {
	for _, e := range p.problems {
		if carried[e.Key] {
			return nil, e
		}
	}
	if p.commandErr != nil {
		return nil, p.commandErr
	}
	if p.Numprocs < 1 {
		return nil, errorf(p.pos("numprocs"), "numprocs", "%d: supervisord starts no process of this program; there is nothing to import", p.Numprocs)
	}
	t := &translation{p: p, name: p.Name}
	proc := p.Processes[0]
	if p.Numprocs > 1 {
		for _, k := range []string{"command", "environment", "directory"} {
			if p.uses(k, "process_num") {
				return nil, errorf(p.pos(k), k, "uses %%(process_num)s, so each of the %d processes gets its own %s (its own port?); sdlaunch's workers share one socket and one command line (each gets SDLAUNCH_WORKER=0..%d instead): remove %%(process_num)s, or import each port as an app of its own with numprocs=1", p.Numprocs, k, p.Numprocs-1)
			}
		}
	}

	dir := "/"
	if proc.Directory != nil {
		dir = filepath.Clean(*proc.Directory)
		if !filepath.IsAbs(dir) {
			return nil, errorf(p.pos("directory"), "directory", "%q is relative: supervisord resolves it against its own working directory; write an absolute path (%%(here)s is the file's directory)", *proc.Directory)
		}
	}

	env := append([]kv{}, c.superEnv...)
	for _, v := range proc.Environment {
		replaced := false
		for i := range env {
			if env[i].key == v.key {
				env[i].val, replaced = v.val, true
			}
		}
		if !replaced {
			env = append(env, v)
		}
	}

	plan, err := planServer(proc.Argv, envMap(env), dir, o.LookPath)
	if err != nil {
		return nil, errorf(p.pos("command"), "command", "%v", err)
	}
	listen := plan.listen
	switch {
	case len(o.Listen) > 0:
		listen = o.Listen
		if len(plan.listen) > 0 {
			t.note("command", "--listen %s (given to the import) replaces %s, which the command says", strings.Join(o.Listen, " "), strings.Join(plan.listen, " "))
		} else {
			t.note("command", "the port is not in the command: the socket is --listen %s, given to the import; the app must serve the socket it inherits as fd 3 (LISTEN_FDS), as a Flask app.run() does unchanged (WERKZEUG_SERVER_FD) whatever its host= and port= say", strings.Join(o.Listen, " "))
		}
	case len(listen) == 0:
		return nil, errorf(p.pos("command"), "command", "%s: give the import --listen ADDR (e.g. --listen 127.0.0.1:8000)", plan.unknown)
	}
	for _, n := range plan.notes {
		t.note("command", "%s", n)
	}

	var args []string
	for _, l := range listen {
		args = append(args, FlagListen, l)
	}
	args = append(args, FlagWorkers, strconv.Itoa(p.Numprocs*plan.workers))
	args = append(args, FlagChdir, dir)
	if proc.Directory == nil {
		t.note("directory", "not set: supervisord ran the program in its own working directory (/ under Debian's supervisor.service): --chdir /")
	}
	switch u := p.User; {
	case u == "":
		t.note("user", "not set: supervisord ran the program as its own user, root under Debian's supervisor.service; sdlaunch runs it as a transient DynamicUser=yes user, which can read what is world-readable and write nowhere but its own directories; give install --run-as USER if it must own files")
	case u == "root" || u == "0":
		if !p.has("user") { // else the note of user= says it
			t.notes = append(t.notes, Note{Pos: p.Pos, Key: "(user)", Text: fmt.Sprintf("%s user=%s: %s", p.UserFrom, u, noRoot)})
		}
	default:
		args = append(args, FlagRunAs, u)
		if p.UserFrom != "" {
			t.notes = append(t.notes, Note{Pos: p.Pos, Key: "(user)", Text: fmt.Sprintf("%s user=%s: supervisord runs as it, and so did this program: --run-as %s", p.UserFrom, u, u)})
		}
	}
	dropped := map[string]bool{}
	for _, d := range plan.dropEnv {
		dropped[d] = true
	}
	for _, v := range env {
		if !dropped[v.key] {
			args = append(args, FlagEnv, v.key+"="+v.val)
		}
	}
	if p.StopSignal != "TERM" {
		args = append(args, FlagStopSignal, p.StopSignal)
	}
	if p.has("stopwaitsecs") {
		if p.StopWaitSecs < 0 {
			return nil, errorf(p.pos("stopwaitsecs"), "stopwaitsecs", "%d is negative", p.StopWaitSecs)
		}
		args = append(args, FlagGracefulTimeout, strconv.Itoa(p.StopWaitSecs)+"s")
	}
	if p.has("startretries") {
		if p.StartRetries < 0 {
			return nil, errorf(p.pos("startretries"), "startretries", "%d is negative", p.StartRetries)
		}
		args = append(args, FlagBootRetries, strconv.Itoa(p.StartRetries+1))
	}
	args = append(args, o.Extra...)
	args = append(append(args, p.Name, "--"), plan.argv...)

	t.keyNotes(c, env)
	sortNotes(t.notes, p.Pos.File)
	return &Import{Program: p.Name, Pos: p.Pos, Name: p.Name, Args: args, Notes: t.notes}, nil
}

// keyNotes says, for every option of the section that is not carried over
// as written, what it means under sdlaunch.
func (t *translation) keyNotes(c *Config, env []kv) {
	p, name := t.p, t.name
	logs := fmt.Sprintf("journalctl -u %s, sdlaunch logs %s", name, name)
	if p.Group != "" {
		t.notes = append(t.notes, Note{Pos: p.GroupPos, Key: "[group:" + p.Group + "]",
			Text: fmt.Sprintf("no equivalent: each program becomes its own units; act on them together with systemctl (systemctl restart %s.service ...)", name)})
	}
	if !p.has("stdout_logfile") && !p.has("stderr_logfile") {
		t.notes = append(t.notes, Note{Pos: p.Pos, Key: "(stdout_logfile)",
			Text: fmt.Sprintf("output goes to the journal instead of supervisord's AUTO log files: %s", logs)})
	}
	if len(c.superEnv) > 0 {
		t.notes = append(t.notes, Note{Pos: c.superEnvAt, Key: "[supervisord] environment",
			Text: "supervisord gives it to every program: carried over as --env, under the program's own"})
	}
	t.notes = append(t.notes, Note{Pos: p.Pos, Key: "(environment)",
		Text: "supervisord also passed its own environment and SUPERVISOR_* variables; the app gets systemd's service environment and the --env variables"})
	envUsed := map[string]bool{}
	for _, k := range p.keys {
		for n := range p.used[k] {
			if v, ok := strings.CutPrefix(n, "ENV_"); ok && !envUsed[v] && carried[k] {
				if _, fromEnv := c.env[v]; fromEnv && !definedIn(env, v) {
					envUsed[v] = true
					t.note(k, "%%(ENV_%s)s is %q from the environment of this import; supervisord expands it from its own environment when it starts", v, c.env[v])
				}
			}
		}
	}
	for _, k := range p.keys {
		if text := t.keyNote(k, logs); text != "" {
			if e := p.Problem(k); e != nil && !carried[k] {
				text += "; note that supervisord refuses this value: " + e.Msg
			}
			t.note(k, "%s", text)
		}
	}
	if len(p.envSkipped) > 0 {
		t.note("environment", "%q where a comma belongs: supervisord skips it without a word, and so does this import", strings.Join(p.envSkipped, " "))
	}
}

func definedIn(env []kv, k string) bool {
	for _, v := range env {
		if v.key == k {
			return true
		}
	}
	return false
}

// keyNote is the note for one option ("" when it is carried over as it is).
func (t *translation) keyNote(k, logs string) string {
	p := t.p
	v := p.expanded[k]
	switch k {
	case "command", "directory", "environment", "stopwaitsecs":
		return ""
	case "stopsignal":
		if p.StopSignal == "INT" {
			return "carried over as --stop-signal INT; a Python server that stops on KeyboardInterrupt (Flask's app.run()) can accept one more connection between the signal and the exception and drop it (measured: 1 request in about 50 restarts under load), while TERM, the default, stops it with none lost: remove stopsignal=INT unless the app needs SIGINT to clean up"
		}
		return ""
	case "user":
		if p.User == "root" || p.User == "0" {
			return noRoot
		}
		return ""
	case "numprocs":
		if p.Numprocs > 1 {
			return fmt.Sprintf("the %d processes become sdlaunch workers sharing the socket (SDLAUNCH_WORKER=0..%d tells them apart)", p.Numprocs, p.Numprocs-1)
		}
		return ""
	case "numprocs_start", "process_name":
		return fmt.Sprintf("no equivalent: workers are slots 0..N-1 of %s.service (SDLAUNCH_WORKER); one worker's lines: sdlaunch logs --worker K %s", t.name, t.name)
	case "autostart":
		if p.Autostart {
			return "install enables the units: the socket listens from boot on and the service starts now"
		}
		return fmt.Sprintf("no equivalent: install enables and starts the app; to keep it off, run systemctl disable --now %s.socket %s.service afterwards, or use --generate and install the units yourself", t.name, t.name)
	case "autorestart":
		switch p.Autorestart {
		case restartNever:
			return "no equivalent: sdlaunch restarts every worker that exits (with backoff); a program that is meant to run once is not a service for sdlaunch"
		case restartUnexpected:
			return "sdlaunch restarts every worker that exits, with backoff (100ms doubling to --backoff-max), whatever its exit status; an app that cannot boot exits 69 and stays down instead of being started again"
		}
		return "sdlaunch restarts every worker that exits, with backoff (100ms doubling to --backoff-max); an app that cannot boot exits 69 and stays down instead of being started again"
	case "exitcodes":
		return "no equivalent: a worker is restarted whatever its exit status (before it is ready, its exit is a boot failure)"
	case "startsecs":
		return fmt.Sprintf("superseded: a worker counts as started once it is ready (sdlaunch's readiness, see install --ready), not after %s s; a worker that exits before it is ready is a boot failure, as an exit within startsecs was", v)
	case "startretries":
		return fmt.Sprintf("supervisord gives up after %d failed starts in a row: --boot-retries %d; then sdlaunch exits 69 and the app stays down (no restart, and its sockets are stopped)", p.StartRetries+1, p.StartRetries+1)
	case "stopasgroup":
		return "sdlaunch always does this: the stop signal goes to each worker's main process, and to the rest of its process group once the main process has exited (so a wrapper's orphans get it too); no option needed"
	case "killasgroup":
		return "sdlaunch always does this: SIGKILL goes to each worker's whole process group at --graceful-timeout; no option needed"
	case "redirect_stderr":
		if p.RedirectStderr {
			return "already so: stdout and stderr reach the journal as one stream of whole lines"
		}
		return "no equivalent: stdout and stderr reach the journal as one stream (a line starting with <3> gets priority err)"
	case "stdout_logfile", "stderr_logfile":
		switch logfileName(v).kind {
		case "none":
			return "output was discarded; now it goes to the journal: " + logs
		case "auto", "syslog":
			return "output goes to the journal: " + logs
		}
		return fmt.Sprintf("output goes to the journal: %s; %s is no longer written", logs, v)
	case "stdout_logfile_maxbytes", "stdout_logfile_backups", "stderr_logfile_maxbytes", "stderr_logfile_backups":
		return "no equivalent: journald rotates the journal (SystemMaxUse=, MaxRetentionSec= in journald.conf)"
	case "stdout_syslog", "stderr_syslog":
		return "the journal is where syslog goes: " + logs
	case "stdout_capture_maxbytes", "stderr_capture_maxbytes", "stdout_events_enabled", "stderr_events_enabled":
		return "no equivalent: supervisord's event listeners do not exist under systemd"
	case "priority":
		return "no equivalent: sdlaunch apps are independent units; order them with install --after UNIT where one needs another"
	case "umask":
		return "no equivalent in install: the unit sets UMask=0077 (part of its hardening; systemd's default 0022 with --hardening off)"
	case "serverurl":
		return "no equivalent: there is no supervisord to talk to (SUPERVISOR_SERVER_URL is not set)"
	}
	if !isProgramKey(k) {
		return "not a [program:x] option of supervisord 4.2.5, which ignores it; so does this import"
	}
	return ""
}

// sortNotes orders notes by file position, the program's own file first.
func sortNotes(ns []Note, file string) {
	sort.SliceStable(ns, func(i, j int) bool {
		a, b := ns[i].Pos, ns[j].Pos
		if (a.File == file) != (b.File == file) {
			return a.File == file
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
}
