package observe

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
)

// procStat is what the observer needs of /proc/PID/stat.
type procStat struct {
	State byte // R S D T t Z X ...
	PPID  int
	PGID  int
}

// parseStat parses /proc/PID/stat (or task/TID/stat). The command name is
// in parentheses and may itself contain spaces and parentheses, so fields
// are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat %q: no ')'", b)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("stat %q: too few fields", b)
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgid, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("stat %q: bad ppid or pgrp", b)
	}
	return procStat{State: f[0][0], PPID: ppid, PGID: pgid}, nil
}

// Group returns the live (not zombie) processes of process group pgid among
// the descendants of launcher, in ascending pid order. It walks
// /proc/PID/task/*/children from the launcher down, so orphans re-parented
// to the launcher (a subreaper) are found like its children. A process that
// exits during the walk is skipped; an error means the tree could not be read.
//
// It does not descend into another worker: a child of the launcher that
// leads a process group other than pgid is a worker's main process (each
// is started in a group of its own), and its descendants are that worker's.
// A look at one worker then costs what that worker's processes cost, not
// what every worker's do: during a reload, with both generations and the
// retiring one's teardown alive, the walk of the whole tree was 60 % of the
// launcher's CPU (perf, 200 ms of it per reload of 2 gunicorn workers).
// What that leaves out: a process of group pgid under another worker's
// main process, which only a setpgid(2) into a group of another worker in
// the launcher's session could make.
func (fs FS) Group(launcher, pgid int) ([]int, error) {
	return group(fs.proc(), launcher, pgid)
}

func group(p proc, launcher, pgid int) ([]int, error) {
	var out []int
	seen := map[int]bool{launcher: true}
	queue := []int{launcher}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		kids, err := children(p, pid)
		if err != nil {
			if pid != launcher && gone(err) {
				continue
			}
			return nil, err
		}
		for _, k := range kids {
			if seen[k] {
				continue
			}
			seen[k] = true
			b, err := p.readFile(strconv.Itoa(k) + "/stat")
			if err != nil {
				if gone(err) {
					continue
				}
				return nil, err
			}
			st, err := parseStat(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.path(strconv.Itoa(k)+"/stat"), err)
			}
			if st.State == 'Z' || st.State == 'X' {
				continue // a zombie has no children and holds nothing
			}
			if st.PGID == pgid {
				out = append(out, k)
			}
			if pid == launcher && st.PGID == k && k != pgid {
				continue // another worker's main process
			}
			queue = append(queue, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// children lists the children of every thread of pid.
func children(p proc, pid int) ([]int, error) {
	tids, err := p.readDir(strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, tid := range tids {
		b, err := p.readFile(strconv.Itoa(pid) + "/task/" + tid + "/children")
		if err != nil {
			if gone(err) {
				continue
			}
			return nil, err
		}
		for _, f := range bytes.Fields(b) {
			k, err := strconv.Atoi(string(f))
			if err != nil {
				return nil, fmt.Errorf("%s: bad pid %q", p.path(strconv.Itoa(pid)+"/task/"+tid+"/children"), f)
			}
			kids = append(kids, k)
		}
	}
	return kids, nil
}

func sortInts(s []int) { slices.Sort(s) }
