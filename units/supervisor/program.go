package supervisor

import (
	"strings"
)

// Program is one [program:x] section as supervisord reads it
// (ServerOptions._processes_from_section of supervisor 4.2.5).
type Program struct {
	Name     string
	Pos      Pos    // the [program:x] header
	Group    string // the [group:g] that lists it, "" when none
	GroupPos Pos

	Priority       int
	Autostart      bool
	Autorestart    restartMode
	StartSecs      int
	StartRetries   int
	StopSignal     string // name without SIG
	StopWaitSecs   int
	StopAsGroup    bool
	KillAsGroup    bool
	ExitCodes      []int
	RedirectStderr bool
	Numprocs       int
	NumprocsStart  int
	User           string // "" when not set
	UserFrom       string // "[supervisord]" when inherited from there

	// Processes are the numprocs processes supervisord would start.
	Processes []Process

	keys     []string          // options present, [DEFAULT]'s included, in file order
	vals     map[string]*value // as written
	expanded map[string]string // after %-expansion (of the first process)
	used     map[string]map[string]bool
	problems []*Error // values supervisord refuses, in the order it reads them

	commandErr *Error   // the command cannot be split into arguments
	envSkipped []string // what environment= has where a comma belongs
}

// Process is one process of a program.
type Process struct {
	Name        string
	Command     string
	Argv        []string
	Directory   *string
	Environment []kv
	Stdout      logfile
	Stderr      logfile
}

// Problem returns supervisord's objection to a key's value, if any.
func (p *Program) Problem(key string) *Error {
	for _, e := range p.problems {
		if e.Key == key {
			return e
		}
	}
	return nil
}

// Refused is the first error supervisord would stop at, or nil.
func (p *Program) Refused() *Error {
	if len(p.problems) == 0 {
		return nil
	}
	return p.problems[0]
}

func (p *Program) has(key string) bool { _, ok := p.vals[key]; return ok }

// written is "key=value" as the file has it, for notes.
func (p *Program) written(key string) string {
	if v, ok := p.vals[key]; ok {
		return key + "=" + oneLine(v.text)
	}
	return "(" + key + ")"
}

func (p *Program) pos(key string) Pos {
	if v, ok := p.vals[key]; ok {
		return v.pos
	}
	return p.Pos
}

func (p *Program) uses(key, name string) bool { return p.used[key][name] }

// programKeys are the options supervisord reads in a [program:x] section.
var programKeys = []string{
	"command", "process_name", "numprocs", "numprocs_start", "priority", "autostart",
	"startsecs", "startretries", "autorestart", "exitcodes", "stopsignal", "stopwaitsecs",
	"stopasgroup", "killasgroup", "user", "redirect_stderr",
	"stdout_logfile", "stdout_logfile_maxbytes", "stdout_logfile_backups", "stdout_capture_maxbytes",
	"stdout_events_enabled", "stdout_syslog",
	"stderr_logfile", "stderr_logfile_maxbytes", "stderr_logfile_backups", "stderr_capture_maxbytes",
	"stderr_events_enabled", "stderr_syslog",
	"environment", "directory", "umask", "serverurl",
}

func isProgramKey(k string) bool {
	for _, pk := range programKeys {
		if pk == k {
			return true
		}
	}
	return false
}

// programReader evaluates one section in supervisord's order.
type programReader struct {
	l    *loader
	sect *section
	p    *Program
}

// get is supervisord's saneget: the value (or def when absent), %-expanded
// with the environment's ENV_ names and then extra (extra wins). ok is
// false when the value cannot be expanded (the problem is recorded).
func (r *programReader) get(key, def string, extra names, expandIt bool) (string, bool) {
	text := def
	if v, ok := r.l.ini.get(r.sect.name, key); ok {
		text = v.text
	}
	if !expandIt {
		return text, true
	}
	out, used, err := expand(text, r.l.envNames.with(extra))
	r.use(key, used)
	if err != nil {
		r.problem(key, "%v", err)
		return "", false
	}
	return out, true
}

func (r *programReader) use(key string, used []string) {
	if r.p.used[key] == nil {
		r.p.used[key] = map[string]bool{}
	}
	for _, u := range used {
		r.p.used[key][u] = true
	}
}

func (r *programReader) problem(key, format string, a ...any) {
	if r.p.Problem(key) != nil {
		return
	}
	r.p.problems = append(r.p.problems, errorf(r.p.pos(key), key, format, a...))
}

// typed reads a key and converts it; a value that does not convert is
// recorded as a problem and def's conversion is used.
func typed[T any](r *programReader, key, def string, extra names, conv func(string) (T, error)) T {
	s, ok := r.get(key, def, extra, true)
	if ok {
		r.p.expanded[key] = s
		v, err := conv(s)
		if err == nil {
			return v
		}
		r.problem(key, "%v", err)
	}
	v, _ := conv(def)
	return v
}

func (l *loader) readProgram(s *section, name, group string, groupPos Pos) *Program {
	p := &Program{Name: name, Pos: s.pos, Group: group, GroupPos: groupPos,
		vals: map[string]*value{}, expanded: map[string]string{}, used: map[string]map[string]bool{}}
	for _, k := range l.ini.items(s) {
		v, _ := l.ini.get(s.name, k)
		p.keys = append(p.keys, k)
		p.vals[k] = v
	}
	r := &programReader{l: l, sect: s, p: p}
	groupName := name
	if group != "" {
		groupName = group
	}
	common := names{"here": l.here, "program_name": name, "host_node_name": l.hostname, "group_name": groupName}

	p.Priority = typed(r, "priority", "999", common, pyInt)
	p.Autostart = typed(r, "autostart", "true", common, pyBool)
	p.Autorestart = typed(r, "autorestart", "unexpected", common, autoRestart)
	p.StartSecs = typed(r, "startsecs", "1", common, pyInt)
	p.StartRetries = typed(r, "startretries", "3", common, pyInt)
	p.StopSignal = typed(r, "stopsignal", "TERM", common, signalName)
	p.StopWaitSecs = typed(r, "stopwaitsecs", "10", common, pyInt)
	p.StopAsGroup = typed(r, "stopasgroup", "false", common, pyBool)
	killDef := "false"
	if p.StopAsGroup {
		killDef = "true"
	}
	p.KillAsGroup = typed(r, "killasgroup", killDef, common, pyBool)
	p.ExitCodes = typed(r, "exitcodes", "0", common, exitCodes)
	p.RedirectStderr = typed(r, "redirect_stderr", "false", common, pyBool)
	p.Numprocs = typed(r, "numprocs", "1", common, pyInt)
	p.NumprocsStart = typed(r, "numprocs_start", "0", common, pyInt)
	envRaw, _ := r.get("environment", "", nil, false)
	for _, ch := range []string{"stdout", "stderr"} {
		typed(r, ch+"_capture_maxbytes", "0", common, byteSize)
		typed(r, ch+"_events_enabled", "false", common, pyBool)
	}
	if s, ok := r.get("serverurl", "", common, true); ok {
		p.expanded["serverurl"] = s
	}
	if p.has("user") {
		if u, ok := r.get("user", "", common, true); ok {
			p.User = u
			p.expanded["user"] = u
			if u == "" {
				r.problem("user", "is empty")
			}
		}
	} else if l.superUser != "" {
		p.User, p.UserFrom = l.superUser, "[supervisord]"
	}
	if p.has("umask") {
		typed(r, "umask", "022", common, octal)
	}
	procName, _ := r.get("process_name", "%(program_name)s", nil, false)
	if _, err := processName(procName); err != nil {
		r.problem("process_name", "%v", err)
	}
	if p.Numprocs > 1 && !strings.Contains(procName, "%(process_num)") {
		r.problem("numprocs", "numprocs=%d needs %%(process_num) in process_name (supervisord refuses this section)", p.Numprocs)
	}
	if p.StopAsGroup && !p.KillAsGroup {
		r.problem("killasgroup", "stopasgroup=true with killasgroup=false: supervisord refuses this combination")
	}

	// supervisord keeps one expansions dict and adds to it process after
	// process (the process number, the program's ENV_ names).
	for num := p.NumprocsStart; num < p.NumprocsStart+p.Numprocs; num++ {
		common["process_num"] = num
		common["numprocs"] = p.Numprocs
		for k, v := range l.envNames {
			common[k] = v
		}
		first := num == p.NumprocsStart
		var proc Process
		envText, used, err := expand(envRaw, common)
		r.use("environment", used)
		if err != nil {
			r.problem("environment", "%v", err)
		} else {
			vars, skipped, err := parseEnvironment(envText)
			if err != nil {
				r.problem("environment", "%v in %q", err, envText)
			}
			proc.Environment = vars
			for _, kv := range vars {
				common["ENV_"+kv.key] = kv.val
			}
			if first {
				p.expanded["environment"] = envText
				p.envSkipped = skipped
			}
		}
		if p.has("directory") {
			if d, ok := r.get("directory", "", common, true); ok {
				proc.Directory = &d
				if first {
					p.expanded["directory"] = d
				}
			}
		}
		for _, ch := range []string{"stdout", "stderr"} {
			key := ch + "_logfile"
			lf := logfile{kind: "auto"}
			if p.has(key) {
				if s, ok := r.get(key, "", common, true); ok {
					// supervisord expands a log file name twice
					s2, used, err := expand(s, common)
					r.use(key, used)
					if err != nil {
						r.problem(key, "%v", err)
					} else {
						lf = logfileName(s2)
						if first {
							p.expanded[key] = s2
						}
					}
				}
			}
			typed(r, ch+"_logfile_backups", "10", common, pyInt)
			typed(r, ch+"_logfile_maxbytes", "50MB", common, byteSize)
			typed(r, ch+"_syslog", "false", common, pyBool)
			if ch == "stdout" {
				proc.Stdout = lf
			} else {
				proc.Stderr = lf
			}
		}
		if p.RedirectStderr {
			proc.Stderr = logfile{kind: "none"}
		}
		if !p.has("command") {
			r.problem("command", "[program:%s] has no command= (supervisord refuses it)", name)
		} else if c, ok := r.get("command", "", common, true); ok {
			proc.Command = c
			// supervisord splits the command only when it starts the
			// process: a bad one is not a configuration error to it
			argv, err := shlexSplit(c)
			if first {
				p.expanded["command"] = c
				switch {
				case err != nil:
					p.commandErr = errorf(p.pos("command"), "command", "%v in %q", err, c)
				case len(argv) == 0:
					p.commandErr = errorf(p.pos("command"), "command", "is empty")
				}
			}
			proc.Argv = argv
		}
		if n, used, err := expand(procName, common); err != nil {
			r.use("process_name", used)
			r.problem("process_name", "%v", err)
		} else {
			r.use("process_name", used)
			proc.Name = n
		}
		p.Processes = append(p.Processes, proc)
	}
	return p
}

// oneLine shows a value that continues over several lines on one.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
