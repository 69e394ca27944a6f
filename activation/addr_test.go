package activation

import (
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	good := []struct {
		in            string
		name, network string
		addr, host    string
		port          int
	}{
		{"127.0.0.1:8000", "", "tcp", "127.0.0.1:8000", "127.0.0.1", 8000},
		{":8000", "", "tcp", ":8000", "", 8000},
		{"8000", "", "tcp", ":8000", "", 8000},
		{"[::]:443", "", "tcp", "[::]:443", "::", 443},
		{"[::1]:1", "", "tcp", "[::1]:1", "::1", 1},
		{"web=0.0.0.0:65535", "web", "tcp", "0.0.0.0:65535", "0.0.0.0", 65535},
		{"unix:/run/app.sock", "", "unix", "/run/app.sock", "", 0},
		{"admin=unix:/run/admin.sock", "admin", "unix", "/run/admin.sock", "", 0},
	}
	for _, g := range good {
		sp, err := ParseAddr(g.in)
		if err != nil {
			t.Errorf("ParseAddr(%q): %v", g.in, err)
			continue
		}
		if sp.Name != g.name || sp.Network != g.network || sp.Address != g.addr || sp.Host != g.host || sp.Port != g.port {
			t.Errorf("ParseAddr(%q) = %+v", g.in, sp)
		}
	}
	bad := []string{"", ":0", ":65536", "127.0.0.1:http", "localhost:8000", "::1:80", "[::1:80", "[127.0.0.1]:80",
		"unix:relative.sock", "unix:/" + strings.Repeat("x", 120), "=:80", "a:b=:80", "we b=:80", "127.0.0.1:80\n", "x\x00:1"}
	for _, in := range bad {
		if sp, err := ParseAddr(in); err == nil {
			t.Errorf("ParseAddr(%q) = %+v, want an error", in, sp)
		} else if !strings.Contains(err.Error(), "listen address") && !strings.Contains(err.Error(), "socket name") {
			t.Errorf("ParseAddr(%q) error %q does not name what is wrong", in, err)
		}
	}
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8000", ":80", "[::]:443", "unix:/a", "n=:1", "8000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseAddr(s)
		if err != nil {
			return
		}
		// What parses must render back to something that parses the same.
		again, err := ParseAddr(sp.String())
		if err != nil || again != sp {
			t.Fatalf("ParseAddr(%q) = %+v, but its String %q parses to %+v, %v", s, sp, sp.String(), again, err)
		}
	})
}
