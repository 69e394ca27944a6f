package observe

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestHoldsListener(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	l, err := Describe(fd)
	if err != nil {
		t.Fatal(err)
	}
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
