package observe

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FS is a view of a /proc tree: "/proc" for the live system, or DIR/proc
// of a fixture written by Snapshot (DIR/meta.json names its arch,
// launcher, group and listeners). A fixture stores link targets (fd/N) as
// regular files holding the target text and the memory that poll/select
// arguments point to as PID/mem.txt; FS reads either form, so the same code
// runs over both.
type FS struct {
	Root string // "/proc" when empty
	// Arch is the GOARCH whose syscall numbers /proc/PID/task/TID/syscall
	// shows; runtime.GOARCH when empty (fixtures name the arch they were
	// recorded on).
	Arch string
}

// Live is the running system's /proc.
func Live() FS { return FS{Root: "/proc"} }

func (fs FS) root() string {
	if fs.Root == "" {
		return "/proc"
	}
	return fs.Root
}

func (fs FS) arch() string {
	if fs.Arch == "" {
		return runtime.GOARCH
	}
	return fs.Arch
}

func (fs FS) proc() proc { return dirProc{root: fs.root()} }

// proc is what the observer reads: paths are relative to the /proc root
// ("42/task/43/syscall"). Errors carry the full path.
type proc interface {
	readFile(rel string) ([]byte, error)
	readlink(rel string) (string, error)
	readDir(rel string) ([]string, error) // names, numeric ones sorted numerically
	readMem(pid int, addr uint64, n int) ([]byte, error)
	path(rel string) string
}

type dirProc struct{ root string }

func (d dirProc) path(rel string) string { return d.root + "/" + rel }

// readFile reads a small proc file with open/read/close and nothing else
// (os.ReadFile adds two fstat calls per file).
func (d dirProc) readFile(rel string) ([]byte, error) {
	p := d.path(rel)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// readlink reads a symlink, or, in a fixture, the regular file that holds
// the link's target.
func (d dirProc) readlink(rel string) (string, error) {
	p := d.path(rel)
	var buf [256]byte
	n, err := unix.Readlink(p, buf[:])
	if err == nil {
		return string(buf[:n]), nil
	}
	if err == unix.EINVAL { // not a symlink: a fixture's stored target
		b, ferr := d.readFile(rel)
		if ferr != nil {
			return "", ferr
		}
		return strings.TrimSuffix(string(b), "\n"), nil
	}
	return "", &os.PathError{Op: "readlink", Path: p, Err: err}
}

func (d dirProc) readDir(rel string) ([]string, error) {
	f, err := os.Open(d.path(rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sortNumeric(names)
	return names, nil
}

// readMem reads n bytes at addr of pid's memory: /proc/PID/mem, or a
// fixture's PID/mem.txt ("ADDR HEXBYTES" lines, ADDR in hex).
func (d dirProc) readMem(pid int, addr uint64, n int) ([]byte, error) {
	p := d.path(strconv.Itoa(pid) + "/mem")
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		if _, serr := os.Stat(d.path(strconv.Itoa(pid) + "/mem.txt")); serr == nil {
			return d.fixtureMem(pid, addr, n)
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, n)
	got := 0
	for got < n {
		m, err := unix.Pread(fd, buf[got:], int64(addr)+int64(got))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: fmt.Sprintf("read %d bytes at %#x of", n, addr), Path: p, Err: err}
		}
		if m == 0 {
			return nil, &os.PathError{Op: fmt.Sprintf("read %d bytes at %#x of", n, addr), Path: p, Err: unix.EIO}
		}
		got += m
	}
	return buf, nil
}

func (d dirProc) fixtureMem(pid int, addr uint64, n int) ([]byte, error) {
	p := d.path(strconv.Itoa(pid) + "/mem.txt")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		a, h, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		start, err := strconv.ParseUint(a, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad address %q", p, a)
		}
		data, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("%s: bad bytes at %s: %w", p, a, err)
		}
		if addr >= start && addr+uint64(n) <= start+uint64(len(data)) {
			return data[addr-start : addr-start+uint64(n)], nil
		}
	}
	return nil, &os.PathError{Op: fmt.Sprintf("read %d bytes at %#x of", n, addr), Path: p, Err: unix.EIO}
}

// sortNumeric sorts names numerically where both are numbers, numbers first.
func sortNumeric(names []string) {
	slices.SortFunc(names, func(a, b string) int {
		x, errA := strconv.Atoi(a)
		y, errB := strconv.Atoi(b)
		switch {
		case errA == nil && errB == nil:
			return x - y
		case errA == nil:
			return -1
		case errB == nil:
			return 1
		}
		return strings.Compare(a, b)
	})
}

// gone reports whether err means the process or thread no longer exists
// (or the fd was closed) between listing and reading it.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

// recordingProc copies everything read through it under dir, in the form
// dirProc reads back (see Snapshot).
type recordingProc struct {
	proc
	dir  string
	errs *[]error
}

func (r recordingProc) keep(rel string, data []byte) {
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		*r.errs = append(*r.errs, err)
		return
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		*r.errs = append(*r.errs, err)
	}
}

func (r recordingProc) readFile(rel string) ([]byte, error) {
	b, err := r.proc.readFile(rel)
	if err == nil {
		r.keep(rel, b)
	}
	return b, err
}

func (r recordingProc) readlink(rel string) (string, error) {
	s, err := r.proc.readlink(rel)
	if err == nil {
		r.keep(rel, []byte(s+"\n"))
	}
	return s, err
}

func (r recordingProc) readDir(rel string) ([]string, error) {
	names, err := r.proc.readDir(rel)
	if err == nil {
		if merr := os.MkdirAll(filepath.Join(r.dir, rel), 0o755); merr != nil {
			*r.errs = append(*r.errs, merr)
		}
	}
	return names, err
}

func (r recordingProc) readMem(pid int, addr uint64, n int) ([]byte, error) {
	b, err := r.proc.readMem(pid, addr, n)
	if err != nil {
		return b, err
	}
	p := filepath.Join(r.dir, strconv.Itoa(pid), "mem.txt")
	if merr := os.MkdirAll(filepath.Dir(p), 0o755); merr != nil {
		*r.errs = append(*r.errs, merr)
		return b, err
	}
	f, ferr := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if ferr != nil {
		*r.errs = append(*r.errs, ferr)
		return b, err
	}
	if _, werr := fmt.Fprintf(f, "%x %x\n", addr, b); werr != nil {
		*r.errs = append(*r.errs, werr)
	}
	if cerr := f.Close(); cerr != nil {
		*r.errs = append(*r.errs, cerr)
	}
	return b, err
}
