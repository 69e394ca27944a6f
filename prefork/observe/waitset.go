package observe

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

const (
	pollIn      = 0x1  // POLLIN
	pollRdNorm  = 0x40 // POLLRDNORM
	epollIn     = 0x1  // EPOLLIN
	maxPollFDs  = 4096 // pollfd entries read from a poll/ppoll set
	maxSelectFD = 1 << 16
	maxNesting  = 4 // epoll instances followed inside one another
)

// pollSet returns the fds of a poll/ppoll array (a0, a1) that wait for input.
func pollSet(p proc, pid int, addr, nfds uint64) ([]int, error) {
	if nfds == 0 || addr == 0 {
		return nil, nil
	}
	if nfds > maxPollFDs {
		return nil, fmt.Errorf("poll set of %d entries is larger than the %d read", nfds, maxPollFDs)
	}
	b, err := p.readMem(pid, addr, int(nfds)*8)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := 0; i+8 <= len(b); i += 8 {
		fd := int32(binary.LittleEndian.Uint32(b[i:]))
		ev := binary.LittleEndian.Uint16(b[i+4:])
		if fd >= 0 && ev&(pollIn|pollRdNorm) != 0 {
			fds = append(fds, int(fd))
		}
	}
	return fds, nil
}

// selectSet reports which of want are set in a select/pselect6 read set
// (a0 = nfds, a1 = readfds). fd_set is a little-endian bitmap of longs, so
// fd N is bit N%8 of byte N/8.
func selectSet(p proc, pid int, nfds, addr uint64, want []int) ([]int, error) {
	if addr == 0 || nfds == 0 {
		return nil, nil
	}
	if nfds > maxSelectFD {
		return nil, fmt.Errorf("select nfds %d is larger than %d", nfds, maxSelectFD)
	}
	b, err := p.readMem(pid, addr, int((nfds+7)/8))
	if err != nil {
		return nil, err
	}
	var set []int
	for _, fd := range want {
		if fd >= 0 && uint64(fd) < nfds && b[fd/8]&(1<<(fd%8)) != 0 {
			set = append(set, fd)
		}
	}
	return set, nil
}

// epollEntry is one "tfd:" line of an epoll fd's fdinfo.
type epollEntry struct {
	tfd    int
	events uint64
	ino    uint64
}

// parseEpollInfo reads the registrations from /proc/PID/fdinfo/EPFD:
// "tfd:        3 events:       19 data:  ... pos:0 ino:2a31 sdev:8".
// events and ino are hex.
func parseEpollInfo(b []byte) ([]epollEntry, error) {
	var out []epollEntry
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "tfd:") {
			continue
		}
		f := strings.Fields(line)
		var e epollEntry
		var haveTfd, haveEv, haveIno bool
		for i := 0; i < len(f); i++ {
			k, v, _ := strings.Cut(f[i], ":")
			if v == "" && i+1 < len(f) && !strings.Contains(f[i+1], ":") {
				v = f[i+1]
				i++
			}
			var err error
			switch k {
			case "tfd":
				e.tfd, err = strconv.Atoi(v)
				haveTfd = true
			case "events":
				e.events, err = strconv.ParseUint(v, 16, 64)
				haveEv = true
			case "ino":
				e.ino, err = strconv.ParseUint(v, 16, 64)
				haveIno = true
			}
			if err != nil {
				return nil, fmt.Errorf("fdinfo line %q: %s: %w", line, k, err)
			}
		}
		if !haveTfd || !haveEv || !haveIno {
			return nil, fmt.Errorf("fdinfo line %q: want tfd, events and ino", line)
		}
		out = append(out, e)
	}
	return out, nil
}

// epollHit is a listener found in an epoll instance.
type epollHit struct {
	listener int
	tfd      int
	via      []int // nested epoll fds followed, outermost first
}

// epollWatch looks for a listener registered for input in epoll fd epfd of
// pid, following nested epoll instances registered for input.
func epollWatch(p proc, pid, epfd int, fds fdTable, byIno map[uint64]int, depth int) (*epollHit, error) {
	b, err := p.readFile(strconv.Itoa(pid) + "/fdinfo/" + strconv.Itoa(epfd))
	if err != nil {
		return nil, err
	}
	entries, err := parseEpollInfo(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.path(strconv.Itoa(pid)+"/fdinfo/"+strconv.Itoa(epfd)), err)
	}
	for _, e := range entries {
		if e.events&epollIn == 0 {
			continue // not for input, or an EPOLLONESHOT that already fired
		}
		if li, ok := byIno[e.ino]; ok {
			return &epollHit{listener: li, tfd: e.tfd}, nil
		}
	}
	if depth >= maxNesting {
		return nil, nil
	}
	for _, e := range entries {
		// Every anon inode shares one inode number, so a nested epoll
		// instance is recognised by its fd in this process (tfd is the
		// fd number at registration time).
		if e.events&epollIn == 0 || !fds.epoll[e.tfd] || e.tfd == epfd {
			continue
		}
		h, err := epollWatch(p, pid, e.tfd, fds, byIno, depth+1)
		if err != nil {
			return nil, err
		}
		if h != nil {
			h.via = append([]int{e.tfd}, h.via...)
			return h, nil
		}
	}
	return nil, nil
}
