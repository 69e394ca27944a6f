package units

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// Listener is one parsed --listen address.
type Listener struct {
	Label  string // FileDescriptorName= (NAME=ADDR), "" for unnamed
	Raw    string // as written
	Stream string // value for ListenStream=
	Unix   bool   // a unix socket path (or @abstract name)
	key    string // for duplicate detection
	port   int    // TCP port; 0 for unix
	wild   bool   // TCP wildcard host
}

// ParseListen parses one --listen value: host:port, :port, [::]:port,
// unix:/path, unix:@abstract, each optionally prefixed by LABEL=.
func ParseListen(s string) (Listener, error) {
	l := Listener{Raw: s}
	addr := s
	if i := strings.IndexByte(s, '='); i >= 0 && !strings.ContainsAny(s[:i], ":/[@") {
		l.Label, addr = s[:i], s[i+1:]
		if err := validLabel(l.Label); err != nil {
			return l, fmt.Errorf("listen address %q: %w", s, err)
		}
	}
	if err := checkText(addr); err != nil {
		return l, fmt.Errorf("listen address %q: %w", s, err)
	}
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		switch {
		case strings.HasPrefix(p, "@") && len(p) > 1:
		case filepath.IsAbs(p) && filepath.Clean(p) == p && p != "/":
		default:
			return l, fmt.Errorf("listen address %q: a unix socket needs an absolute, clean path (unix:/run/app.sock) or an abstract name (unix:@name)", s)
		}
		if len(p) > 107 {
			return l, fmt.Errorf("listen address %q: unix socket path longer than 107 bytes", s)
		}
		if strings.ContainsAny(p, " \t") {
			return l, fmt.Errorf("listen address %q: whitespace in a socket path", s)
		}
		l.Unix, l.Stream, l.key = true, p, "unix:"+p
		return l, nil
	}
	host, portStr, err := splitHostPort(addr)
	if err != nil {
		return l, fmt.Errorf("listen address %q: %w", s, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 || portStr != strconv.Itoa(port) {
		return l, fmt.Errorf("listen address %q: port %q out of range 1-65535", s, portStr)
	}
	l.port = port
	switch host {
	case "", "*", "::", "0.0.0.0":
		// systemd reads a bare port as "all addresses, IPv4 and IPv6"
		// (BindIPv6Only=default), which is what ":8000" means to Go.
		// 0.0.0.0 stays IPv4-only as written.
		if host == "0.0.0.0" {
			l.Stream = "0.0.0.0:" + portStr
		} else {
			l.Stream = portStr
		}
		l.wild = true
		l.key = "tcp:*:" + portStr
		if host == "0.0.0.0" {
			l.key = "tcp:0.0.0.0:" + portStr
		}
		return l, nil
	case "localhost":
		// systemd does not resolve names; localhost means the IPv4 loopback,
		// as Go's net.Listen picks it first.
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return l, fmt.Errorf("listen address %q: host %q is not an IP address (systemd does not resolve names)", s, host)
	}
	ap := netip.AddrPortFrom(ip, uint16(port))
	l.Stream = ap.String()
	l.key = "tcp:" + ap.String()
	return l, nil
}

func splitHostPort(addr string) (host, port string, err error) {
	if !strings.Contains(addr, ":") {
		// a bare port, as systemd itself accepts
		return "", addr, nil
	}
	if strings.HasPrefix(addr, "[") {
		end := strings.Index(addr, "]")
		if end < 0 || end+1 >= len(addr) || addr[end+1] != ':' {
			return "", "", fmt.Errorf("want [IPv6]:port")
		}
		return addr[1:end], addr[end+2:], nil
	}
	i := strings.LastIndexByte(addr, ':')
	host, port = addr[:i], addr[i+1:]
	if strings.Contains(host, ":") {
		return "", "", fmt.Errorf("IPv6 addresses need brackets: [%s]:%s", host, port)
	}
	return host, port, nil
}

// validLabel checks a FileDescriptorName that also becomes part of a unit
// name (NAME-LABEL.socket).
func validLabel(s string) error {
	if s == "" {
		return fmt.Errorf("empty socket name before '='")
	}
	if len(s) > 64 {
		return fmt.Errorf("socket name %q longer than 64 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("socket name %q: only letters, digits, '_', '-' and '.' are allowed", s)
		}
	}
	return nil
}

// conflicts reports whether two listeners cannot both be bound.
func (l Listener) conflicts(o Listener) bool {
	if l.key == o.key {
		return true
	}
	if l.Unix || o.Unix || l.port != o.port {
		return false
	}
	// A wildcard bind on a port blocks every other bind on that port
	// (systemd does not set SO_REUSEPORT for us).
	return l.wild || o.wild
}

// SocketGroup is one socket unit: the listeners sharing a label.
type SocketGroup struct {
	Unit      string // NAME.socket or NAME-LABEL.socket
	Label     string
	Listeners []Listener
}

// ParseListeners parses and checks all --listen values and groups them into
// socket units, unnamed first, then labels in order of first appearance.
func ParseListeners(name string, raw []string) ([]SocketGroup, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("no --listen address: the app needs at least one socket")
	}
	var all []Listener
	for _, s := range raw {
		l, err := ParseListen(s)
		if err != nil {
			return nil, err
		}
		for _, o := range all {
			if l.conflicts(o) {
				if l.key == o.key {
					return nil, fmt.Errorf("listen address %q: duplicate of %q", s, o.Raw)
				}
				return nil, fmt.Errorf("listen address %q: conflicts with %q (same port)", s, o.Raw)
			}
		}
		all = append(all, l)
	}
	var groups []SocketGroup
	index := map[string]int{}
	for _, l := range all {
		if l.Label != "" {
			continue
		}
		if _, ok := index[""]; !ok {
			index[""] = len(groups)
			groups = append(groups, SocketGroup{Unit: name + ".socket"})
		}
		groups[index[""]].Listeners = append(groups[index[""]].Listeners, l)
	}
	for _, l := range all {
		if l.Label == "" {
			continue
		}
		i, ok := index[l.Label]
		if !ok {
			i = len(groups)
			index[l.Label] = i
			groups = append(groups, SocketGroup{Unit: name + "-" + l.Label + ".socket", Label: l.Label})
		}
		groups[i].Listeners = append(groups[i].Listeners, l)
	}
	for _, g := range groups {
		if err := validUnitName(g.Unit); err != nil {
			return nil, err
		}
	}
	return groups, nil
}
