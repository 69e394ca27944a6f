package units

import (
	"fmt"
	"strconv"

	"github.com/sdlaunch/sdlaunch/activation"
)

// Listener is one --listen address as a socket unit needs it. The address
// is parsed by activation.ParseAddr, the grammar `sdlaunch run` binds with,
// so install accepts exactly the spellings run does.
type Listener struct {
	activation.Spec
	Raw    string // as written
	Stream string // value for ListenStream=
}

// Label is the socket's FileDescriptorName= ("" for unnamed).
func (l Listener) Label() string { return l.Name }

// Unix reports whether the listener is a unix socket (a path or @abstract).
func (l Listener) Unix() bool { return l.Network == "unix" }

// listener derives the ListenStream= text from a parsed address: a bare
// port for every address (systemd binds it dual-stack, as Go does ":8000"),
// host:port or [v6]:port, or the socket path or @name.
func listener(raw string, sp activation.Spec) Listener {
	l := Listener{Spec: sp, Raw: raw, Stream: sp.Address}
	if sp.Network == "tcp" && sp.Host == "" {
		l.Stream = strconv.Itoa(sp.Port)
	}
	return l
}

// ParseListen parses one --listen value (see activation.ParseAddr).
func ParseListen(s string) (Listener, error) {
	sp, err := activation.ParseAddr(s)
	if err != nil {
		return Listener{}, err
	}
	return listener(s, sp), nil
}

// SocketGroup is one socket unit: the listeners sharing a label.
type SocketGroup struct {
	Unit      string // NAME.socket or NAME-LABEL.socket
	Label     string
	Listeners []Listener
}

// ParseListeners parses and checks all --listen values (duplicates and
// addresses that cannot be bound together are refused, as `run` refuses
// them) and groups them into socket units, unnamed first, then labels in
// order of first appearance.
func ParseListeners(name string, raw []string) ([]SocketGroup, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("no --listen address: the app needs at least one socket")
	}
	specs, err := activation.ParseAddrs(raw)
	if err != nil {
		return nil, err
	}
	var groups []SocketGroup
	index := map[string]int{}
	add := func(l Listener) {
		i, ok := index[l.Name]
		if !ok {
			i = len(groups)
			index[l.Name] = i
			g := SocketGroup{Unit: name + ".socket", Label: l.Name}
			if l.Name != "" {
				g.Unit = name + "-" + l.Name + ".socket"
			}
			groups = append(groups, g)
		}
		groups[i].Listeners = append(groups[i].Listeners, l)
	}
	for i, sp := range specs {
		if sp.Name == "" {
			add(listener(raw[i], sp))
		}
	}
	for i, sp := range specs {
		if sp.Name != "" {
			add(listener(raw[i], sp))
		}
	}
	for _, g := range groups {
		if err := validUnitName(g.Unit); err != nil {
			return nil, err
		}
	}
	return groups, nil
}
