package ports

import (
	"net"
	"strconv"
	"testing"
)

// Free never returns a port of the ephemeral range, nor one that is taken.
func TestFreeSkipsEphemeralAndTaken(t *testing.T) {
	elo, ehi := Ephemeral()
	if elo <= 0 || ehi < elo {
		t.Fatalf("ephemeral range %d-%d", elo, ehi)
	}
	if p, err := Free(elo, ehi); err == nil {
		t.Errorf("Free(%d, %d), the ephemeral range itself, = %d", elo, ehi, p)
	}
	p, err := Free(elo-2, elo+10) // only elo-2 and elo-1 qualify
	if err != nil {
		t.Skipf("%d-%d both taken: %v", elo-2, elo-1, err)
	}
	if p != elo-2 && p != elo-1 {
		t.Errorf("Free(%d, %d) = %d, inside the ephemeral range", elo-2, elo+10, p)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if q, err := Free(p, p); err == nil {
		t.Errorf("Free(%d, %d) = %d while it is bound", p, p, q)
	}
}
