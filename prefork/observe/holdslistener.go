package observe

// HoldsListener reports whether a process of pids holds a descriptor of one
// of the listening sockets ls: it may still accept from them, whatever it
// is doing at the moment. (A saturated sync server goes from one
// connection to the next without a wait, so a look between two requests
// sees it neither waiting nor holding a connection.) A process that exits
// during the look is skipped.
func (fs FS) HoldsListener(pids []int, ls []Listener) (bool, error) {
	want := make(map[uint64]bool, len(ls))
	for _, l := range ls {
		want[l.Inode] = true
	}
	p := fs.proc()
	for _, pid := range pids {
		t, err := readFDs(p, pid)
		if err != nil {
			if gone(err) {
				continue
			}
			return false, err
		}
		for _, ino := range t.sock {
			if want[ino] {
				return true, nil
			}
		}
	}
	return false, nil
}
