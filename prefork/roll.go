package prefork

import "time"

// reply answers one control request (reload-wait's verdict, a status).
type reply func(answer string)

// roll is a reload in progress: generation gen replaces the slots' workers
// batch by batch.
type roll struct {
	gen     int
	pending []int // slots not yet in a batch
	batch   []int // slots whose successors are booting
	waiters []reply
	started time.Time
}

// rolls is the reload state: the roll in progress, a reload queued behind
// it (the code on disk may have changed again since it began), and why the
// last roll was rolled back.
type rolls struct {
	cur      *roll
	want     bool    // a reload is queued
	queued   []reply // its waiters
	failNote string
}

// reporter is what systemd has been told and when to tell it again.
type reporter struct {
	readySent  bool
	status     string // last STATUS= sent outside a roll
	failing    bool   // the last datagram to systemd could not be sent
	nextPing   time.Time
	quorumLost time.Time // zero: the quorum holds
	triggered  bool      // WATCHDOG=trigger sent for this loss of quorum
	lastExtend time.Time
	progress   bool // a worker moved towards readiness since lastExtend
}
