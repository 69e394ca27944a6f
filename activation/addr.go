package activation

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Spec is a parsed listen address.
type Spec struct {
	Name    string // FileDescriptorName (LISTEN_FDNAMES entry); "" when unnamed
	Network string // "tcp" or "unix"
	Address string // "127.0.0.1:8000", "[::]:8000", ":8000" or a unix socket path
	Host    string // tcp: the IP literal, "" for all addresses
	Port    int    // tcp only
}

func (s Spec) String() string {
	a := s.Address
	if s.Network == "unix" {
		a = "unix:" + a
	}
	if s.Name != "" {
		return s.Name + "=" + a
	}
	return a
}

// ParseAddr parses host:port, :port, PORT, [::]:port, unix:/path, each
// optionally prefixed with NAME= to name the socket.
func ParseAddr(raw string) (Spec, error) {
	var sp Spec
	s := raw
	if i := strings.IndexByte(s, '='); i >= 0 {
		sp.Name = s[:i]
		s = s[i+1:]
		if err := ValidFDName(sp.Name); err != nil {
			return Spec{}, fmt.Errorf("listen address %q: %w", raw, err)
		}
	}
	if strings.ContainsAny(s, "\x00\n") || s == "" {
		return Spec{}, fmt.Errorf("listen address %q: empty or contains a control character", raw)
	}
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if !strings.HasPrefix(path, "/") {
			return Spec{}, fmt.Errorf("listen address %q: unix socket path must be absolute", raw)
		}
		if len(path) > 107 {
			return Spec{}, fmt.Errorf("listen address %q: unix socket path longer than 107 bytes", raw)
		}
		sp.Network, sp.Address = "unix", path
		return sp, nil
	}
	host, portStr := "", s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, portStr = s[:i], s[i+1:]
		if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") {
			return Spec{}, fmt.Errorf("listen address %q: unbalanced brackets", raw)
		}
		if strings.HasPrefix(host, "[") {
			host = host[1 : len(host)-1]
			if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
				return Spec{}, fmt.Errorf("listen address %q: %q is not an IPv6 address", raw, host)
			}
		} else if host != "" {
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return Spec{}, fmt.Errorf("listen address %q: host must be an IP address (systemd does not resolve names), got %q", raw, host)
			}
			if ip.Is6() {
				return Spec{}, fmt.Errorf("listen address %q: write IPv6 addresses in brackets, like [%s]:%s", raw, host, portStr)
			}
		}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return Spec{}, fmt.Errorf("listen address %q: port %q is not a number from 1 to 65535", raw, portStr)
	}
	sp.Network, sp.Host, sp.Port = "tcp", host, port
	if strings.Contains(host, ":") {
		sp.Address = "[" + host + "]:" + portStr
	} else {
		sp.Address = host + ":" + portStr
	}
	return sp, nil
}

// ValidFDName reports whether name is acceptable as a systemd
// FileDescriptorName: 1-255 printable ASCII characters, no colon.
func ValidFDName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("socket name %q must be 1 to 255 characters", name)
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == ':' {
			return fmt.Errorf("socket name %q may hold only printable ASCII without spaces or ':'", name)
		}
	}
	return nil
}
