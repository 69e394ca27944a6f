package activation

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A standalone launcher that stops has nobody to hand its sockets to: a
// connection still in a listen queue when the last worker exits is reset,
// one that arrives while the workers drain waits for nobody. So a stop
// takes three steps on the sockets the launcher bound itself (never on
// systemd's, which systemd keeps for the next start):
//
//  1. StopAdmitting: new connection attempts (a TCP SYN) are dropped by a
//     socket filter, while handshakes already under way complete and the
//     queue can still be accepted from;
//  2. the workers accept and serve what is queued (Queued says how much);
//  3. Release: once every worker had its stop signal the launcher closes
//     its own copy, so that the socket is gone, and a connection refused,
//     as soon as the last worker lets go of it. Not shutdown(2): the
//     socket is shared, and a draining app still blocked in accept would
//     see an error instead of its own orderly close (a Go server's Serve
//     then returns something other than ErrServerClosed, and the usual
//     log.Fatal cuts its requests in progress).
//
// The filter drops pure SYNs: TCP flags (byte 13 of the TCP header, where
// a TCP socket filter's data starts) with SYN set and ACK clear.
var dropSYN = [...]unix.SockFilter{
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 13},
	{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: 0x12}, // SYN|ACK
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0x02, Jt: 0, Jf: 1},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0},          // SYN alone: drop
	{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff}, // the rest: keep
}

func (s *Socket) tcp() bool {
	if s.fd < 0 {
		return false
	}
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		return false
	}
	switch sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		return true
	}
	return false
}

// StopAdmitting makes a TCP socket the launcher bound drop new connection
// attempts while what is queued can still be accepted. It does nothing to
// an inherited socket, or to a unix one (whose connects no filter sees).
func (s *Socket) StopAdmitting() error {
	if !s.bound || !s.tcp() {
		return nil
	}
	prog := dropSYN
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(s.fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		uintptr(unsafe.Pointer(&fp)), unsafe.Sizeof(fp), 0)
	if errno != 0 {
		return fmt.Errorf("%s: stop admitting connections: SO_ATTACH_FILTER: %w", s, errno)
	}
	return nil
}

// Queued is how many connections wait in the listen queue of a TCP socket
// the launcher bound (TCP_INFO of a listener reports its accept queue in
// tcpi_unacked); 0 for any other socket.
func (s *Socket) Queued() int {
	if !s.bound || !s.tcp() {
		return 0
	}
	ti, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0
	}
	return int(ti.Unacked)
}

// Release closes the launcher's copy of a socket it bound; an inherited
// one stays open for systemd.
func (s *Socket) Release() error {
	if !s.bound {
		return nil
	}
	return s.Close()
}
