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
		{"localhost:8000", "", "tcp", "127.0.0.1:8000", "127.0.0.1", 8000},
		{":8000", "", "tcp", ":8000", "", 8000},
		{"8000", "", "tcp", ":8000", "", 8000},
		{"*:8000", "", "tcp", ":8000", "", 8000},
		{"[::]:443", "", "tcp", ":443", "", 443},
		{"[::1]:1", "", "tcp", "[::1]:1", "::1", 1},
		{"web=0.0.0.0:65535", "web", "tcp", "0.0.0.0:65535", "0.0.0.0", 65535},
		{"unix:/run/app.sock", "", "unix", "/run/app.sock", "", 0},
		{"unix:/run/a=b.sock", "", "unix", "/run/a=b.sock", "", 0},
		{"admin=unix:/run/admin.sock", "admin", "unix", "/run/admin.sock", "", 0},
		{"unix:@app", "", "unix", "@app", "", 0},
		{"my.api-2_x=unix:@app", "my.api-2_x", "unix", "@app", "", 0},
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
	bad := []string{"", ":0", ":65536", "127.0.0.1:99999", ":-1", ":+80", ":080", "127.0.0.1:http", "example.com:8000", "::1:80",
		"[::1:80", "[::1]", "[127.0.0.1]:80", "[fe80::1%eth0]:80", "fe80::1%eth0:80",
		"unix:relative.sock", "unix:/", "unix:/a/../b", "unix:/run/x y", "unix:/run/x\\", "unix:@", "unix:/" + strings.Repeat("x", 120),
		"=:80", "we b=:80", "a+b=:80", strings.Repeat("n", 65) + "=:80", "127.0.0.1:80\n", "x\x00:1", ":80\xff"}
	for _, in := range bad {
		if sp, err := ParseAddr(in); err == nil {
			t.Errorf("ParseAddr(%q) = %+v, want an error", in, sp)
		} else if !strings.Contains(err.Error(), "listen address") {
			t.Errorf("ParseAddr(%q) error %q does not name the value", in, err)
		}
	}
}

func TestParseAddrsConflicts(t *testing.T) {
	for _, set := range [][]string{
		{":80", "[::]:80"},
		{"127.0.0.1:80", "localhost:80"},
		{":80", "127.0.0.1:80"},
		{"*:80", "[::1]:80"},
		{"0.0.0.0:80", "127.0.0.1:80"},
		{"unix:/run/a", "x=unix:/run/a"},
		{"unix:@a", "unix:@a"},
		{"0.0.0.0:80", "0.0.0.0:80"},
	} {
		if _, err := ParseAddrs(set); err == nil || !strings.Contains(err.Error(), set[1]) {
			t.Errorf("ParseAddrs(%q) = %v, want a conflict naming %q", set, err, set[1])
		}
	}
	for _, set := range [][]string{
		{"127.0.0.1:80", "127.0.0.2:80", "[::1]:80"},
		{"0.0.0.0:80", "[::1]:80"},
		{":80", ":81", "unix:/run/a", "unix:@a"},
	} {
		if _, err := ParseAddrs(set); err != nil {
			t.Errorf("ParseAddrs(%q): %v", set, err)
		}
	}
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8000", ":80", "[::]:443", "unix:/a", "unix:@a", "n=:1", "8000", "localhost:1", "*:2"} {
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
