package activation

import (
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// A worker's listen(2) on the shared socket sets the backlog for everyone;
// Relisten reads that and sets it back.
func TestRelistenSetsBackTheBacklogAWorkerChanged(t *testing.T) {
	socks, err := Bind([]Spec{mustParse(t, "127.0.0.1:"+strconv.Itoa(freePort(t)))}, Backlog)
	if err != nil {
		t.Fatal(err)
	}
	s := socks[0]
	defer s.Close()
	want, ok := s.listenBacklog()
	if !ok || want < 128 {
		t.Fatalf("the bound socket's backlog reads %d (%v)", want, ok)
	}
	if was, err := s.Relisten(Backlog); was != 0 || err != nil {
		t.Fatalf("Relisten of an unchanged socket: %d, %v", was, err)
	}
	// What gunicorn does on the socket it inherited, from its own copy.
	dup, err := unix.Dup(s.FD())
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	if err := unix.Listen(dup, 16); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.listenBacklog(); got != 16 {
		t.Fatalf("after a worker's listen(16) the backlog reads %d", got)
	}
	was, err := s.Relisten(Backlog)
	if err != nil || was != 16 {
		t.Fatalf("Relisten: was %d, %v; want 16", was, err)
	}
	if got, _ := s.listenBacklog(); got != want {
		t.Errorf("after Relisten the backlog is %d, want %d", got, want)
	}
	if was, err := s.Relisten(Backlog); was != 0 || err != nil {
		t.Errorf("a second Relisten: %d, %v", was, err)
	}
}

// A unix socket's backlog cannot be read back: it is set, and nothing is
// reported.
func TestRelistenOfAUnixSocketSetsItSilently(t *testing.T) {
	socks, err := Bind([]Spec{mustParse(t, "unix:"+filepath.Join(t.TempDir(), "s"))}, Backlog)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(socks)
	if was, err := socks[0].Relisten(Backlog); was != 0 || err != nil {
		t.Fatalf("Relisten: %d, %v", was, err)
	}
}
