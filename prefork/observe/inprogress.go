package observe

import (
	"fmt"
	"time"
)

// freshConn is how long a connection on which the client has sent nothing
// yet counts as "request not arrived yet" rather than idle.
const freshConn = time.Second

// InProgress says whether connection c may have a request in progress, given
// what the previous look saw of the same connections (by socket inode; nil
// at the first look). It is conservative: "busy" unless the kernel shows an
// idle keep-alive connection, one whose last response went out, where
// nothing arrived since and nothing moved between two looks.
//
// TCP, in ESTABLISHED or CLOSE_WAIT (other states: the app already closed or
// shut down its side, not busy):
//   - unread bytes in the receive queue: a request not read yet;
//   - nothing ever received and connected less than a second ago: a request
//     not arrived yet (older, with nothing from the client, is idle);
//   - nothing ever written (acknowledged or queued): its first request is
//     not answered, whatever the timestamps say;
//   - data received more recently than data was last sent: a request read
//     and not answered; received in the same jiffy as last sent (4 ms at
//     HZ=250), which is ambiguous, for a second: a server that answers
//     within a jiffy leaves most idle keep-alive connections tied forever
//     (34 of 50 for Node here), while a request that arrived in the jiffy
//     its predecessor's answer left and is still unanswered without a byte
//     moving a second later is the rarer loss;
//   - bytes written and not sent yet;
//   - not seen by the previous look, or bytes received (not counting the
//     client's FIN, which tcpi_bytes_received counts as one), or
//     acknowledged plus queued, changed since: still moving.
//
// Unix stream: the kernel keeps no traffic timestamps, so a held accepted
// connection is always busy.
// Idle says whether an InProgress verdict of "not busy" for c rests on the
// kernel's traffic times (an idle keep-alive connection, or one on which
// nothing arrived for a second), rather than on a closed side: only then
// does it also need a thread waiting for its next request (AwaitsInput).
func Idle(c Conn) bool {
	s := c.Info
	return s.Network == "tcp" && (s.State == "ESTABLISHED" || s.State == "CLOSE_WAIT") && !s.Blind
}

func InProgress(prev map[uint64]SockInfo, c Conn) (busy bool, why string) {
	s := c.Info
	switch s.Network {
	case "unix":
		return true, "unix connection: the kernel keeps no traffic times, so it may be mid-request"
	case "tcp":
	default:
		return false, "not a stream connection"
	}
	if s.State != "ESTABLISHED" && s.State != "CLOSE_WAIT" {
		return false, "state " + s.State + ": the app has closed its side"
	}
	if s.Blind {
		return true, "held open, and without pidfd_getfd the kernel's traffic times cannot be read"
	}
	if s.RxQueue > 0 {
		return true, fmt.Sprintf("%d unread request bytes", s.RxQueue)
	}
	if s.BytesReceived == 0 {
		if s.LastRecv < freshConn {
			return true, fmt.Sprintf("connected %v ago, request not arrived yet", s.LastRecv)
		}
		return false, fmt.Sprintf("idle: connected %v ago, nothing received", s.LastRecv)
	}
	if s.BytesAcked+uint64(s.OutQueue) == 0 {
		// Nothing ever written: its first request is unanswered, however
		// long ago it came. (The timestamps cannot tell: a client that
		// sends at once lands its request in the jiffy the connection was
		// set up in, which is also the "last sent" time of a connection
		// that never sent, so the two tie for good.)
		return true, fmt.Sprintf("request read, not answered (nothing written yet; read %v ago)", s.LastRecv)
	}
	if s.LastRecv < s.LastSend || (s.LastRecv == s.LastSend && s.LastRecv < freshConn) {
		return true, fmt.Sprintf("request read, not answered (last received %v ago, last sent %v ago)", s.LastRecv, s.LastSend)
	}
	if s.NotSent > 0 {
		return true, fmt.Sprintf("%d response bytes not sent yet", s.NotSent)
	}
	p, ok := prev[c.Inode]
	if !ok {
		return true, "first look: cannot tell yet whether it moves"
	}
	moved := s.BytesReceived - p.BytesReceived
	if s.State == "CLOSE_WAIT" && p.State == "ESTABLISHED" && moved > 0 {
		moved-- // the client's FIN counts as one byte in tcpi_bytes_received
	}
	if moved != 0 {
		return true, fmt.Sprintf("received %d bytes since the last look", moved)
	}
	if p.BytesAcked+uint64(p.OutQueue) != s.BytesAcked+uint64(s.OutQueue) {
		return true, "sent data since the last look"
	}
	return false, fmt.Sprintf("idle keep-alive: last response sent %v ago, nothing received since", s.LastSend)
}
