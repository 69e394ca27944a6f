//go:build !amd64

package main

import "golang.org/x/sys/unix"

// Architectures without the legacy syscalls use their successors.

func rawSelect(nfd int, r *unix.FdSet) error {
	_, err := unix.Pselect(nfd, r, nil, nil, nil, nil)
	return err
}

func rawEpollWait(ep int, evs []unix.EpollEvent) error {
	_, err := unix.EpollWait(ep, evs, -1)
	return err
}

func rawPoll(fds []unix.PollFd) error {
	_, err := unix.Ppoll(fds, nil, nil)
	return err
}

func rawPause() { unix.Ppoll(nil, nil, nil) }
