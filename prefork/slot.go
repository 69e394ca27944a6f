package prefork

import "time"

// incarnation is one position of a slot: its current worker, or the
// successor that a reload roll or a recycle wants in its place. It carries
// the boot bookkeeping of the workers started for it, which survives each
// worker: consecutive failures, the next backoff and when to start again.
type incarnation struct {
	gen     int
	w       *worker // nil until started, and again after it exited
	fails   int     // consecutive boot failures
	delay   time.Duration
	startAt time.Time
}

func newIncarnation(gen int, at time.Time) *incarnation {
	return &incarnation{gen: gen, delay: initialBackoff, startAt: at}
}

// slot is one of the --workers positions, SDLAUNCH_WORKER=idx.
type slot struct {
	idx       int
	cur       *incarnation
	next      *incarnation // nil: no successor wanted
	recycling bool         // next replaces cur past --max-lifetime (not a roll)
}

func newSlot(idx, gen int, at time.Time) *slot {
	return &slot{idx: idx, cur: newIncarnation(gen, at)}
}

// pool is the workers: the slots, every live worker by pid (including
// those being retired, which no slot holds any more), the generations and
// the restart count.
type pool struct {
	slots []*slot
	byPID map[int]*worker
	// leftovers are workers whose main process exited while the rest of
	// their process group lives on (a wrapper shell's child, a forking
	// server's children): stopped like any worker, until the group is empty.
	leftovers []*worker
	blindNote string // why readiness could not be observed, once noticed
	refused   bool   // a stop turned the launcher's own sockets away
	servGen   int    // generation the slots run (last successful roll)
	lastGen   int    // highest generation number handed out
	restarts  int
	lastEvent string
}

// find returns the slot and incarnation holding w (nil, nil for a worker
// being retired).
func (p *pool) find(w *worker) (*slot, *incarnation) {
	for _, s := range p.slots {
		if s.cur.w == w {
			return s, s.cur
		}
		if s.next != nil && s.next.w == w {
			return s, s.next
		}
	}
	return nil, nil
}

// readyCount counts the slots whose current worker serves.
func (p *pool) readyCount() int {
	n := 0
	for _, s := range p.slots {
		if s.cur.w != nil && s.cur.w.state == wReady {
			n++
		}
	}
	return n
}
