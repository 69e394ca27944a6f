package activation

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Spec is a parsed --listen address. It is the one grammar of --listen:
// `sdlaunch run` binds what it describes, and the unit generator derives
// ListenStream= from it, so both commands accept the same spellings.
type Spec struct {
	Name    string // FileDescriptorName (LISTEN_FDNAMES entry); "" when unnamed
	Network string // "tcp" or "unix"
	// Address is "127.0.0.1:8000", "[::1]:8000", "0.0.0.0:8000" (every
	// IPv4 address) or ":8000" (every address, IPv4 and IPv6) for tcp, and
	// a path or "@name" (an abstract socket) for unix.
	Address string
	Host    string // tcp: the IP literal, "" for every address (IPv4 and IPv6)
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

// Abstract reports whether s is an abstract unix socket (no file).
func (s Spec) Abstract() bool { return s.Network == "unix" && strings.HasPrefix(s.Address, "@") }

// maxUnixPath is sun_path's size minus its terminating NUL.
const maxUnixPath = 107

// ParseAddr parses one --listen value:
//
//	host:port     host is an IP address, localhost (127.0.0.1), or * (every address)
//	:port, port   every address, IPv4 and IPv6
//	[v6]:port     an IPv6 address; [::]:port is every address, like :port
//	unix:/path    a unix socket file (absolute, clean path)
//	unix:@name    an abstract unix socket
//
// each optionally prefixed by NAME= to name the socket (FileDescriptorName=;
// the generated units put it in a unit name, NAME-LABEL.socket). Names are
// not resolved: systemd does not resolve them either.
func ParseAddr(raw string) (Spec, error) {
	var sp Spec
	s := raw
	if i := strings.IndexByte(s, '='); i >= 0 && !strings.ContainsAny(s[:i], ":/[@") {
		sp.Name, s = s[:i], s[i+1:]
		if err := validName(sp.Name); err != nil {
			return Spec{}, fmt.Errorf("listen address %q: %w", raw, err)
		}
	}
	if s == "" {
		return Spec{}, fmt.Errorf("listen address %q: empty", raw)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return Spec{}, fmt.Errorf("listen address %q: contains a control character or invalid UTF-8", raw)
	}
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if err := checkUnixPath(path); err != nil {
			return Spec{}, fmt.Errorf("listen address %q: %w", raw, err)
		}
		sp.Network, sp.Address = "unix", path
		return sp, nil
	}
	host, portStr, err := splitHostPort(s)
	if err != nil {
		return Spec{}, fmt.Errorf("listen address %q: %w", raw, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 || portStr != strconv.Itoa(port) {
		return Spec{}, fmt.Errorf("listen address %q: port %q is not a number from 1 to 65535", raw, portStr)
	}
	sp.Network, sp.Port = "tcp", port
	switch host {
	case "", "*", "::":
		// Every address, IPv4 and IPv6, as ":8000" means to Go and a bare
		// port to systemd (BindIPv6Only=default).
		sp.Address = ":" + portStr
		return sp, nil
	case "localhost":
		// Names are not resolved; localhost is the IPv4 loopback, which
		// Go's net.Listen picks first.
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return Spec{}, fmt.Errorf("listen address %q: host %q is not an IP address, localhost or * (names are not resolved)", raw, host)
	}
	sp.Host = ip.String()
	sp.Address = netip.AddrPortFrom(ip, uint16(port)).String()
	return sp, nil
}

// splitHostPort takes "host:port", "[v6]:port" or a bare port apart,
// refusing IPv6 addresses without brackets and IPv4 ones within them.
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return "", "", fmt.Errorf("want [IPv6]:port")
		}
		host = s[1:end]
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return "", "", fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
		return host, s[end+2:], nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", s, nil // a bare port, as systemd accepts it
	}
	host, port = s[:i], s[i+1:]
	if strings.ContainsAny(host, ":[]") {
		return "", "", fmt.Errorf("write IPv6 addresses in brackets, like [%s]:%s", host, port)
	}
	return host, port, nil
}

func checkUnixPath(p string) error {
	switch {
	case strings.HasPrefix(p, "@"):
		if len(p) == 1 {
			return fmt.Errorf("an abstract socket needs a name after @")
		}
	case !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/":
		return fmt.Errorf("a unix socket needs an absolute, clean path (unix:/run/app.sock) or an abstract name (unix:@name)")
	}
	if len(p) > maxUnixPath {
		return fmt.Errorf("unix socket path longer than %d bytes", maxUnixPath)
	}
	if strings.ContainsFunc(p, unicode.IsSpace) || strings.Contains(p, `\`) {
		return fmt.Errorf("whitespace or a backslash in a socket path")
	}
	return nil
}

// validName checks a socket name: it is a LISTEN_FDNAMES entry and, in the
// generated units, part of a unit name (NAME-LABEL.socket).
func validName(s string) error {
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

// Conflicts reports whether s and o cannot both be bound: the same address,
// or the same port where one of them is a wildcard covering the other (no
// SO_REUSEPORT is set, by the launcher or by systemd).
func (s Spec) Conflicts(o Spec) bool {
	if s.Network != o.Network {
		return false
	}
	if s.Network == "unix" || s.Port != o.Port {
		return s.Address == o.Address
	}
	if s.Host == "" || o.Host == "" || s.Host == o.Host {
		return true
	}
	is4 := func(h string) bool { ip, _ := netip.ParseAddr(h); return ip.Is4() }
	return s.Host == "0.0.0.0" && is4(o.Host) || o.Host == "0.0.0.0" && is4(s.Host)
}

// ParseAddrs parses every --listen value and refuses duplicates and
// addresses that could not be bound together.
func ParseAddrs(raw []string) ([]Spec, error) {
	specs := make([]Spec, 0, len(raw))
	for _, r := range raw {
		sp, err := ParseAddr(r)
		if err != nil {
			return nil, err
		}
		for j, o := range specs {
			if !sp.Conflicts(o) {
				continue
			}
			if sp.Network == o.Network && sp.Address == o.Address {
				return nil, fmt.Errorf("listen address %q: duplicate of %q", r, raw[j])
			}
			return nil, fmt.Errorf("listen address %q: conflicts with %q (same port)", r, raw[j])
		}
		specs = append(specs, sp)
	}
	return specs, nil
}
