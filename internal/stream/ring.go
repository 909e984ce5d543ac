package stream

import (
	"sort"
	"time"
)

// entry is one sent-but-unacknowledged message.
type entry struct {
	seq      int64
	frame    []byte    // the encoded message, resent byte for byte; nil once acked
	plen     int       // payload bytes, for the window
	lastSent time.Time // zero: not yet sent on any transport
	sentGen  uint64    // transport generation of the latest transmission
	resends  int       // timer-driven resends
	acked    bool
	// evidence: an ack for a later message arrived on a transport this
	// message had been sent on (PresumeDeliveredAfter); chances counts the
	// transmissions since.
	evidence bool
	chances  int
}

// outbox holds the entries of the send window in sequence order. Acked
// entries behind an unacked one stay as tombstones until the head is acked
// or they outnumber the live entries, so memory stays proportional to what
// is unacknowledged even when the head never is.
type outbox struct {
	e     []entry // sorted by seq; e[:start] are gone
	start int
	dead  int // acked entries in e[start:]
}

func (o *outbox) len() int { return len(o.e) - o.start }

// at returns the i-th entry from the oldest.
func (o *outbox) at(i int) *entry { return &o.e[o.start+i] }

// search returns the index of the first entry with seq >= s.
func (o *outbox) search(s int64) int {
	return sort.Search(o.len(), func(i int) bool { return o.at(i).seq >= s })
}

// find returns the entry for seq s, or nil.
func (o *outbox) find(s int64) *entry {
	if i := o.search(s); i < o.len() && o.at(i).seq == s {
		return o.at(i)
	}
	return nil
}

func (o *outbox) push(en entry) { o.e = append(o.e, en) }

// acked records that one more entry became a tombstone, then drops the
// tombstones at the front and compacts the rest when they dominate.
func (o *outbox) acked() {
	o.dead++
	for o.start < len(o.e) && o.e[o.start].acked {
		o.e[o.start] = entry{}
		o.start++
		o.dead--
	}
	live := o.len() - o.dead
	switch {
	case o.start == len(o.e):
		o.e, o.start = o.e[:0], 0
	case o.dead > 64 && o.dead > live:
		k := 0
		for i := o.start; i < len(o.e); i++ {
			if !o.e[i].acked {
				o.e[k] = o.e[i]
				k++
			}
		}
		clear(o.e[k:])
		o.e, o.start, o.dead = o.e[:k], 0, 0
	case o.start > 1024 && o.start > len(o.e)/2:
		k := copy(o.e, o.e[o.start:])
		clear(o.e[k:])
		o.e, o.start = o.e[:k], 0
	}
}
