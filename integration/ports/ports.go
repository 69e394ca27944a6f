// Package ports picks TCP ports for tests that hand a port to something
// that binds it later (systemd, a launcher): free a moment ago, and outside
// the kernel's ephemeral range. An outgoing connection of a package tested
// beside (every load generator runs on loopback) takes its own port from
// that range, and may take the chosen one between the check and the bind,
// which then fails with EADDRINUSE (CI: lcstatus.socket on 127.0.0.1:41782).
// Port 0 picks from that range too. Each caller takes a range of its own.
package ports

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Free returns a port in [lo, hi], outside the ephemeral range, that
// 127.0.0.1 could bind a moment ago, starting from a random one.
func Free(lo, hi int) (int, error) {
	elo, ehi := Ephemeral()
	var b [4]byte
	_, _ = rand.Read(b[:])
	start := int(binary.LittleEndian.Uint32(b[:]) % uint32(hi-lo+1))
	for i := 0; i <= hi-lo; i++ {
		p := lo + (start+i)%(hi-lo+1)
		if p >= elo && p <= ehi {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			_ = l.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in %d-%d outside the ephemeral range %d-%d", lo, hi, elo, ehi)
}

// Ephemeral is net.ipv4.ip_local_port_range (Linux's default where it
// cannot be read).
func Ephemeral() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.Atoi(f[0])
			h, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				return l, h
			}
		}
	}
	return 32768, 60999
}
