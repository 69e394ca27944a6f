package observe

import (
	"os"
	"testing"
)

func TestHoldsListener(t *testing.T) {
	_, l := tcpListener(t)
	self := []int{os.Getpid()}
	if held, err := Live().HoldsListener(self, []Listener{l}); err != nil || !held {
		t.Errorf("HoldsListener of the listener this process holds: %v, %v", held, err)
	}
	other := l
	other.Inode++ // a listener nobody here holds
	if held, err := Live().HoldsListener(self, []Listener{other}); err != nil || held {
		t.Errorf("HoldsListener of a listener this process does not hold: %v, %v", held, err)
	}
	if held, err := Live().HoldsListener([]int{1 << 22}, []Listener{l}); err != nil || held {
		t.Errorf("HoldsListener of a pid that does not exist: %v, %v", held, err)
	}
}
