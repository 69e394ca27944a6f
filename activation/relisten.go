package activation

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The listen(2) backlog belongs to the socket, not to a descriptor: a
// worker that calls listen(2) on the socket it inherited sets it for every
// process that shares it, systemd's included. gunicorn does so at every
// boot with its own --backlog (2048), uvicorn too (2048), hypercorn (100),
// Node (511): the socket unit's Backlog=4096 is then gone until something
// sets it again, and a restart's queue overflows at half of it (the
// bench, 3 systemctl restarts 10 s apart at 1,745 req/s, open loop: 1,144
// SYNs dropped, none once the launcher sets it back).

// Relisten sets the backlog of a listening socket back to backlog. For a
// TCP socket it first reads the backlog (TCP_INFO of a listener reports it
// in tcpi_sacked, which needs no netlink socket) and returns what a worker
// had set it to, 0 if nobody changed it; a unix socket's cannot be read, so
// it is set every time and reported as 0. A socket that does not listen
// (a datagram one) is left alone.
func (s *Socket) Relisten(backlog int) (was int, err error) {
	if s.fd < 0 {
		return 0, nil
	}
	if on, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on == 0 {
		return 0, nil
	}
	cur, readable := s.listenBacklog()
	if readable && s.kept != 0 && cur == s.kept {
		return 0, nil
	}
	if err := unix.Listen(s.fd, backlog); err != nil {
		return 0, fmt.Errorf("%s: listen(2) with backlog %d: %w", s, backlog, err)
	}
	if !readable {
		return 0, nil
	}
	// The kernel caps backlog at net.core.somaxconn: what it kept is what
	// the next call compares with.
	s.kept, _ = s.listenBacklog()
	if cur == s.kept {
		return 0, nil
	}
	return cur, nil
}

// listenBacklog is a listening TCP socket's backlog; false for any other.
func (s *Socket) listenBacklog() (int, bool) {
	if !s.tcp() {
		return 0, false
	}
	ti, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil || ti.State != unix.BPF_TCP_LISTEN {
		return 0, false
	}
	return int(ti.Sacked), true
}
