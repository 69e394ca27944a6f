package prefork

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// notifier sends sd_notify datagrams to systemd. A nil *notifier is valid
// and sends nothing (the launcher was not started by systemd).
type notifier struct {
	fd   int
	addr *unix.SockaddrUnix
}

func newNotifier(socket string) (*notifier, error) {
	if socket == "" {
		return nil, nil
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q: not an absolute path or abstract socket", socket)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	// x/sys/unix maps a leading '@' to the abstract namespace.
	return &notifier{fd: fd, addr: &unix.SockaddrUnix{Name: socket}}, nil
}

// send delivers one datagram; several KEY=VALUE lines in one call arrive
// together (RELOADING=1 with MONOTONIC_USEC=, READY=1 with STATUS=).
func (n *notifier) send(lines ...string) error {
	if n == nil {
		return nil
	}
	msg := strings.Join(lines, "\n")
	if err := unix.Sendto(n.fd, []byte(msg), 0, n.addr); err != nil {
		return fmt.Errorf("sd_notify %q: %w", msg, err)
	}
	return nil
}

func (n *notifier) close() {
	if n != nil {
		unix.Close(n.fd)
	}
}

// notify sends one datagram to systemd. A failure is logged when it starts
// and when it ends, not for every message: systemd waiting for a READY=1
// that cannot arrive must not be a silent mystery.
func (s *supervisor) notify(lines ...string) {
	err := s.env.notify(lines...)
	switch {
	case err != nil && !s.rep.failing:
		s.rep.failing = true
		cause := err
		if u := errors.Unwrap(err); u != nil {
			cause = u
		}
		s.env.log.Logf(prioErr, "cannot reach systemd's NOTIFY_SOCKET %s (%v): systemd will not see readiness, status or watchdog pings", s.sdSocket, cause)
	case err == nil && s.rep.failing:
		s.rep.failing = false
		s.env.log.Logf(prioNotice, "systemd's NOTIFY_SOCKET reachable again")
	}
}
