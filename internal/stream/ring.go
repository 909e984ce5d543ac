package stream

import "time"

// entry is one sent-but-unacknowledged message.
type entry struct {
	frame    []byte    // the encoded message, resent byte for byte; nil once acked
	plen     int       // payload bytes, for the window
	lastSent time.Time // zero: not yet sent on any transport
	resends  int       // timer-driven resends
	acked    bool
}

// ring holds the entries of consecutive sequence numbers in a fixed array.
type ring struct {
	buf  []entry
	head int
}

func newRing(n int) ring { return ring{buf: make([]entry, n)} }

func (r *ring) cap() int { return len(r.buf) }

// at returns the i-th entry from the head.
func (r *ring) at(i int) *entry { return &r.buf[(r.head+i)%len(r.buf)] }

// pop discards the head entry.
func (r *ring) pop() {
	r.buf[r.head] = entry{}
	r.head = (r.head + 1) % len(r.buf)
}
