// Command record snapshots what package observe reads of a live process
// group into a fixture directory, so that tests can replay the look without
// the processes:
//
//	record -launcher PID -pgid PGID -fd 3[,4] -o DIR [-note TEXT]
//
// -fd names the launcher's listening descriptors (duplicated from it with
// pidfd_getfd to describe them). Run it as the launcher's user or root.
// It prints the verdict it recorded.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sdlaunch/sdlaunch/prefork/observe"
)

func main() {
	launcher := flag.Int("launcher", 0, "pid of the process that owns the listeners and is the group's ancestor")
	pgid := flag.Int("pgid", 0, "process group of the worker")
	fds := flag.String("fd", "", "the launcher's listening fds, comma-separated")
	out := flag.String("o", "", "fixture directory to create")
	note := flag.String("note", "", "what was recorded, kept in meta.json")
	flag.Parse()
	if *launcher <= 0 || *pgid <= 0 || *fds == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: record -launcher PID -pgid PGID -fd N[,N] -o DIR [-note TEXT]")
		os.Exit(2)
	}
	ls, err := listeners(*launcher, *fds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
	w, err := observe.Live().Snapshot(*out, *launcher, *pgid, ls, *note)
	if err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
	fmt.Printf("accepting=%v detail=%q unknown=%q\n", w.Accepting, w.Detail, w.Unknown)
}

func listeners(pid int, list string) ([]observe.Listener, error) {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pfd)
	var ls []observe.Listener
	for _, s := range strings.Split(list, ",") {
		fd, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("-fd %q: not a number", s)
		}
		dup, err := unix.PidfdGetfd(pfd, fd, 0)
		if err != nil {
			return nil, fmt.Errorf("pidfd_getfd %d fd %d: %w", pid, fd, err)
		}
		l, err := observe.Describe(dup)
		unix.Close(dup)
		if err != nil {
			return nil, fmt.Errorf("fd %d of pid %d: %w", fd, pid, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}
