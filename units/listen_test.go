package units

import (
	"strings"
	"testing"
)

func TestParseListen(t *testing.T) {
	cases := []struct {
		in, stream, label string
		unix              bool
	}{
		{":8000", "8000", "", false},
		{"8000", "8000", "", false},
		{"[::]:8000", "8000", "", false},
		{"*:8000", "8000", "", false},
		{"0.0.0.0:8000", "0.0.0.0:8000", "", false},
		{"127.0.0.1:80", "127.0.0.1:80", "", false},
		{"localhost:80", "127.0.0.1:80", "", false},
		{"[::1]:443", "[::1]:443", "", false},
		{"http=127.0.0.1:80", "127.0.0.1:80", "http", false},
		{"unix:/run/app.sock", "/run/app.sock", "", true},
		{"admin=unix:/run/app/admin.sock", "/run/app/admin.sock", "admin", true},
		{"unix:@abstract", "@abstract", "", true},
	}
	for _, c := range cases {
		l, err := ParseListen(c.in)
		if err != nil {
			t.Errorf("ParseListen(%q): %v", c.in, err)
			continue
		}
		if l.Stream != c.stream || l.Label() != c.label || l.Unix() != c.unix {
			t.Errorf("ParseListen(%q) = %+v, want stream %q label %q unix %v", c.in, l, c.stream, c.label, c.unix)
		}
	}
}

func TestParseListenRefuses(t *testing.T) {
	for _, in := range []string{
		":0", ":65536", "127.0.0.1:99999", ":-1", ":http", ":080", "example.com:80", "::1:80",
		"unix:relative.sock", "unix:/", "unix:/a/../b", "unix:/run/x y", "unix:/" + strings.Repeat("a", 120),
		"=:80", "bad name=:80", "a/b=:80", "[fe80::1%eth0]:80", ":80\n", "[::1", "",
	} {
		if l, err := ParseListen(in); err == nil {
			t.Errorf("ParseListen(%q) = %+v, want an error", in, l)
		} else if !strings.Contains(err.Error(), "listen address") {
			t.Errorf("ParseListen(%q): error %q does not name the value", in, err)
		}
	}
}

func TestParseListenersGroupsAndDuplicates(t *testing.T) {
	groups, err := ParseListeners("web", []string{"http=:80", ":8080", "admin=unix:/run/a.sock", "http=127.0.0.1:8081", "unix:/run/b.sock"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups {
		var streams []string
		for _, l := range g.Listeners {
			streams = append(streams, l.Stream)
		}
		got = append(got, g.Unit+"="+strings.Join(streams, ","))
	}
	want := "web.socket=8080,/run/b.sock web-http.socket=80,127.0.0.1:8081 web-admin.socket=/run/a.sock"
	if strings.Join(got, " ") != want {
		t.Errorf("groups %q, want %q", strings.Join(got, " "), want)
	}
	for _, dup := range [][]string{
		{":80", "[::]:80"},
		{"127.0.0.1:80", "localhost:80"},
		{":80", "127.0.0.1:80"},
		{"unix:/run/a", "x=unix:/run/a"},
		{"0.0.0.0:80", "0.0.0.0:80"},
	} {
		if _, err := ParseListeners("web", dup); err == nil {
			t.Errorf("ParseListeners(%q) accepted a duplicate", dup)
		}
	}
	if _, err := ParseListeners("web", nil); err == nil {
		t.Error("no --listen accepted")
	}
	if _, err := ParseListeners("web", []string{"127.0.0.1:80", "127.0.0.2:80", "[::1]:80"}); err != nil {
		t.Errorf("distinct hosts on one port refused: %v", err)
	}
}
