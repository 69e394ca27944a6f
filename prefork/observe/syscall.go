package observe

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// sysLine is /proc/PID/task/TID/syscall: "running", "-1 SP PC" (blocked
// outside a syscall, e.g. stopped), or "NR A0 A1 A2 A3 A4 A5 SP PC".
type sysLine struct {
	running bool
	nr      int // -1: not in a syscall
	args    [6]uint64
}

func parseSyscall(b []byte) (sysLine, error) {
	f := bytes.Fields(b)
	if len(f) == 1 && string(f[0]) == "running" {
		return sysLine{running: true, nr: -1}, nil
	}
	if len(f) == 0 {
		return sysLine{}, fmt.Errorf("empty")
	}
	nr, err := strconv.Atoi(string(f[0]))
	if err != nil {
		return sysLine{}, fmt.Errorf("bad syscall number %q", f[0])
	}
	l := sysLine{nr: nr}
	if nr < 0 {
		return l, nil
	}
	if len(f) < 7 {
		return sysLine{}, fmt.Errorf("%d fields, want 9", len(f))
	}
	for i := range l.args {
		s := strings.TrimPrefix(string(f[1+i]), "0x")
		v, err := strconv.ParseUint(s, 16, 64)
		if err != nil {
			return sysLine{}, fmt.Errorf("bad argument %q", f[1+i])
		}
		l.args[i] = v
	}
	return l, nil
}

// fdTable is what a process's descriptors point at, as far as the observer
// cares: sockets by inode and epoll instances.
type fdTable struct {
	sock  map[int]uint64
	epoll map[int]bool
}

func readFDs(p proc, pid int) (fdTable, error) {
	dir := strconv.Itoa(pid) + "/fd"
	names, err := p.readDir(dir)
	if err != nil {
		return fdTable{}, err
	}
	t := fdTable{sock: map[int]uint64{}, epoll: map[int]bool{}}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		target, err := p.readlink(dir + "/" + n)
		if err != nil {
			if gone(err) {
				continue // closed since the listing
			}
			return fdTable{}, err
		}
		if ino, ok := socketInode(target); ok {
			t.sock[fd] = ino
		} else if target == "anon_inode:[eventpoll]" {
			t.epoll[fd] = true
		}
	}
	return t, nil
}

// socketInode parses "socket:[12345]".
func socketInode(target string) (uint64, bool) {
	s, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}
