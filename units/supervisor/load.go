package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LoadOptions are what supervisord takes from its surroundings.
type LoadOptions struct {
	// Env is the environment %(ENV_X)s expands from. supervisord uses its
	// own; an import can only use the caller's.
	Env map[string]string
	// Hostname is %(host_node_name)s.
	Hostname string
}

// Config is a supervisord configuration file with its includes.
type Config struct {
	File     string     // as the caller named it
	Programs []*Program // [program:x] sections, in file order
	Notes    []Note     // about the files: sections not imported, includes

	others     []*section // [eventlistener:x] and [fcgi-program:x]
	superEnv   []kv       // [supervisord] environment=
	superEnvAt Pos
	env        map[string]string
}

type loader struct {
	ini       *iniParser
	main      string // absolute
	display   string // the main file as the caller named it
	here      string
	hostname  string
	envNames  names
	superUser string
	notes     []Note
}

// Load reads a supervisord configuration file (supervisord.conf, or a file
// of its conf.d) and the files its [include] section names.
func Load(path string, opts LoadOptions) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, errorf(Pos{File: path}, "", "%v", err)
	}
	l := &loader{ini: newIniParser(), main: abs, display: path, here: filepath.Dir(abs),
		hostname: opts.Hostname, envNames: names{}}
	for k, v := range opts.Env {
		l.envNames["ENV_"+k] = v
	}
	if err := l.readFile(abs, path); err != nil {
		return nil, err
	}
	if inc, ok := l.ini.byName["include"]; ok {
		if err := l.include(inc); err != nil {
			return nil, err
		}
	}
	cfg := &Config{File: path, env: opts.Env}
	if err := l.supervisord(cfg); err != nil {
		return nil, err
	}
	if err := l.sections(cfg); err != nil {
		return nil, err
	}
	cfg.Notes = append(cfg.Notes, l.notes...)
	sortNotes(cfg.Notes, path)
	return cfg, nil
}

func (l *loader) readFile(abs, display string) error {
	src, err := os.ReadFile(abs)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return errorf(Pos{File: display}, "", "cannot read the file: %v", err)
	}
	return l.ini.read(src, display)
}

// expandHere is UnhosedConfigParser.expand_here: every "%(here)s" in the
// sections read so far ([DEFAULT]'s values included) becomes dir.
func (l *loader) expandHere(dir string) {
	for _, s := range l.ini.sections {
		for _, k := range l.ini.items(s) {
			v, _ := l.ini.get(s.name, k)
			if strings.Contains(v.text, "%(here)s") {
				s.set(k, &value{text: strings.ReplaceAll(v.text, "%(here)s", dir), pos: v.pos})
			}
		}
	}
}

// include reads the files of [include] files=, as ServerOptions.read_config
// does: only the main file's [include] counts, globs are relative to its
// directory, the matches of each glob are read in sorted order.
func (l *loader) include(inc *section) error {
	l.expandHere(l.here)
	files, ok := inc.vals["files"]
	if !ok {
		return errorf(inc.pos, "[include]", "has no files= setting (supervisord refuses the file)")
	}
	text, _, err := expand(files.text, l.envNames.with(names{"here": l.here, "host_node_name": l.hostname}))
	if err != nil {
		return errorf(files.pos, "files", "%v", err)
	}
	for _, pattern := range strings.Fields(text) {
		full, shown := pattern, pattern
		if !filepath.IsAbs(pattern) {
			full = filepath.Join(l.here, pattern)
			shown = filepath.Join(filepath.Dir(l.display), pattern)
		}
		matches := pyGlob(full)
		if len(matches) == 0 {
			l.notes = append(l.notes, Note{Pos: files.pos, Key: "files=" + oneLine(files.text),
				Text: fmt.Sprintf("%s matches no file (supervisord warns and goes on)", shown)})
			continue
		}
		sort.Strings(matches)
		for _, m := range matches {
			name := m
			if rel, err := filepath.Rel(l.here, m); err == nil && !filepath.IsAbs(pattern) {
				name = filepath.Join(filepath.Dir(l.display), rel)
			}
			if filepath.Clean(m) == l.main {
				return errorf(files.pos, "files", "%s matches %s itself: an include cycle", shown, l.display)
			}
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				l.notes = append(l.notes, Note{Pos: files.pos, Key: "files=" + oneLine(files.text),
					Text: fmt.Sprintf("%s is a directory; supervisord skips it, and so does this import", name)})
				continue
			}
			if err := l.readFile(m, name); err != nil {
				var e *Error
				if errors.As(err, &e) && e.Pos.Line == 0 {
					return errorf(files.pos, "files", "%s (included): %s; supervisord silently skips a file it cannot read, so its programs were not running either", name, e.Msg)
				}
				return err
			}
			l.expandHere(filepath.Dir(m))
			for _, v := range inc.vals {
				if v.pos.File == name {
					l.notes = append(l.notes, Note{Pos: v.pos, Key: "[include]",
						Text: "in an included file: ignored, as supervisord ignores it (included files cannot include files)"})
					break
				}
			}
		}
	}
	return nil
}

// supervisord reads what [supervisord] gives every program: environment=
// (merged under each program's own) and user= (the user supervisord runs
// as, so programs without user= run as it).
func (l *loader) supervisord(cfg *Config) error {
	s, ok := l.ini.byName["supervisord"]
	if !ok {
		l.notes = append(l.notes, Note{Pos: Pos{File: l.display}, Key: "",
			Text: "has no [supervisord] section (a conf.d file?): the environment= and user= of the main supervisord.conf are not seen; import supervisord.conf itself to have them"})
		return nil
	}
	here := names{"here": l.here}
	if v, ok := l.ini.get(s.name, "user"); ok {
		u, _, err := expand(v.text, l.envNames.with(here))
		if err != nil {
			return errorf(v.pos, "user", "%v", err)
		}
		l.superUser = u
	}
	if v, ok := l.ini.get(s.name, "environment"); ok {
		// read_config expands it twice
		once, _, err := expand(v.text, l.envNames.with(here))
		if err != nil {
			return errorf(v.pos, "environment", "%v", err)
		}
		twice, _, err := expand(once, l.envNames.with(names{"here": l.here, "host_node_name": l.hostname}))
		if err != nil {
			return errorf(v.pos, "environment", "%v", err)
		}
		vars, _, err := parseEnvironment(twice)
		if err != nil {
			return errorf(v.pos, "environment", "%v in %q", err, twice)
		}
		cfg.superEnv, cfg.superEnvAt = vars, v.pos
		for _, kv := range vars {
			l.envNames["ENV_"+kv.key] = kv.val
		}
	}
	return nil
}

var knownSections = []string{"supervisord", "unix_http_server", "inet_http_server", "supervisorctl", "include"}
var knownPrefixes = []string{"program:", "group:", "eventlistener:", "fcgi-program:", "rpcinterface:", "ctlplugin:"}

func (l *loader) sections(cfg *Config) error {
	// [group:g] programs=a,b gives a and b the group name g.
	groupOf := map[string]string{}
	groupAt := map[string]Pos{}
	for _, s := range l.ini.sections {
		g, ok := strings.CutPrefix(s.name, "group:")
		if !ok {
			continue
		}
		name, err := processName(g)
		if err != nil {
			return errorf(s.pos, "["+s.name+"]", "%v", err)
		}
		var programs []string
		if v, ok := l.ini.get(s.name, "programs"); ok {
			text, _, err := expand(v.text, l.envNames.with(names{"here": l.here}))
			if err != nil {
				return errorf(v.pos, "programs", "%v", err)
			}
			if text != "" {
				for _, p := range strings.Split(text, ",") {
					programs = append(programs, pyStrip(p))
				}
			}
			for _, p := range programs {
				_, isProg := l.ini.byName["program:"+p]
				_, isFcgi := l.ini.byName["fcgi-program:"+p]
				if !isProg && !isFcgi {
					return errorf(v.pos, "programs", "[%s] names %q, which is no [program:%s] (supervisord refuses the file)", s.name, p, p)
				}
				groupOf[p], groupAt[p] = name, s.pos
			}
		}
	}
	for _, s := range l.ini.sections {
		switch {
		case strings.HasPrefix(s.name, "program:"):
			name, err := processName(strings.TrimPrefix(s.name, "program:"))
			if err != nil {
				return errorf(s.pos, "["+s.name+"]", "%v", err)
			}
			cfg.Programs = append(cfg.Programs, l.readProgram(s, name, groupOf[name], groupAt[name]))
		case strings.HasPrefix(s.name, "eventlistener:"), strings.HasPrefix(s.name, "fcgi-program:"):
			cfg.others = append(cfg.others, s)
		default:
			known := false
			for _, k := range knownSections {
				known = known || s.name == k
			}
			for _, p := range knownPrefixes {
				known = known || strings.HasPrefix(s.name, p)
			}
			if !known {
				l.notes = append(l.notes, Note{Pos: s.pos, Key: "[" + s.name + "]",
					Text: "not a section supervisord reads (its section names are case-sensitive): ignored"})
			}
		}
	}
	return nil
}
