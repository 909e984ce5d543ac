package stream

import (
	"time"

	"github.com/tether-ssm/tether/internal/wire"
)

// oooEntry is a message received ahead of a gap.
type oooEntry struct {
	p  Payload
	id wire.UUID
}

// recvLoop is the receive goroutine of one attached transport (generation
// gen). It exits when the transport fails or is replaced, or the endpoint
// shuts down.
func (e *Endpoint) recvLoop(t Transport, gen uint64) {
	defer e.wg.Done()
	for {
		f, err := t.Recv(e.ctx)
		if err != nil {
			e.transportFailed(gen, err)
			return
		}
		if !e.handleFrame(f, gen) {
			return
		}
	}
}

// handleFrame processes one received frame; false means stop receiving.
func (e *Endpoint) handleFrame(f []byte, gen uint64) bool {
	m, err := wire.Decode(f)
	if err != nil {
		e.mu.Lock()
		e.stats.BadFrames++
		e.mu.Unlock()
		return true
	}
	switch m.MessageType {
	case e.recvType:
		return e.handleData(&m, gen)
	case wire.TypeAcknowledge:
		e.handleAck(&m, gen)
		return true
	case e.sendType: // our own direction coming back: not for us
		return true
	case wire.TypePausePublication:
		e.mu.Lock()
		e.paused = true
		e.mu.Unlock()
	case wire.TypeStartPublication:
		// The gateway says the peer is (back) there. What was sent while it
		// was away was dropped by the gateway: send everything
		// unacknowledged again now, as after Attach, instead of waiting
		// for retransmission timers.
		e.mu.Lock()
		e.nextSend = e.headSeqLocked()
		e.paused = false
		e.kickLocked()
		e.mu.Unlock()
	}
	if cb := e.cfg.OnControl; cb != nil {
		cb(&m)
	}
	return true
}

func (e *Endpoint) unpauseLocked() {
	if e.paused {
		e.paused = false
		e.kickLocked()
	}
}

// handleAck releases acknowledged messages. Acks match by sequence number
// only (protocol.md §4.2); an ack for an unknown sequence number is ignored.
func (e *Endpoint) handleAck(m *wire.Message, gen uint64) {
	a, err := wire.ParseAcknowledge(m.Payload)
	now := e.clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.stats.BadFrames++
		return
	}
	e.stats.AcksReceived++
	e.unpauseLocked() // as the agent does: any acknowledge resumes publication
	seq := a.AcknowledgedMessageSequenceNumber
	if a.Cumulative {
		for e.out.len() > 0 && e.out.at(0).seq <= seq {
			e.ackEntryLocked(e.out.at(0), now, e.out.at(0).seq == seq)
		}
	} else if en := e.out.find(seq); en != nil {
		e.ackEntryLocked(en, now, true)
	}
	if e.cfg.PresumeDeliveredAfter > 0 {
		e.noteEvidenceLocked(seq, gen)
	}
	if e.nextSend < e.headSeqLocked() {
		e.nextSend = e.headSeqLocked()
	}
}

// ackEntryLocked marks en acknowledged, feeding the RTT estimator if sample.
func (e *Endpoint) ackEntryLocked(en *entry, now time.Time, sample bool) {
	if en.acked {
		return
	}
	if sample && !en.lastSent.IsZero() {
		e.rtt.sample(now.Sub(en.lastSent))
	}
	if len(e.freed) < cap(e.framePool) {
		e.freed = append(e.freed, en.frame)
	}
	en.acked, en.frame = true, nil
	e.outBytes -= en.plen
	e.outCount--
	e.out.acked() // en may move: do not use it after this
	notify(&e.writeWait)
	if e.outCount == 0 {
		notify(&e.drainWait)
	}
}

// noteEvidenceLocked: an ack for seq arrived on transport gen. Every older
// unacked message last sent on that same transport was sent before it (the
// endpoint sends in order after each Attach), so the peer has received it:
// if the peer never acknowledges it, it is a duplicate the peer dropped.
func (e *Endpoint) noteEvidenceLocked(seq int64, gen uint64) {
	for i := 0; i < e.out.len(); i++ {
		en := e.out.at(i)
		if en.seq >= seq {
			return
		}
		if !en.acked && !en.evidence && en.sentGen == gen {
			en.evidence, en.chances = true, 0
		}
	}
}

// handleData applies the receive rules of protocol.md §4.3 (with duplicates
// re-acked, as the agent does). It never blocks: the transport is always
// read, so acknowledgements of this endpoint's own writes get through even
// while the application is not reading (a PTY whose input is full cannot
// drain its output otherwise). In-order data that does not fit the inbox
// waits with the out-of-order messages, acked, and Read moves it up; when
// that buffer is full too, the message is dropped unacknowledged and the
// peer resends it. It reports false when the receiver must stop.
func (e *Endpoint) handleData(m *wire.Message, gen uint64) bool {
	n := len(m.Payload)
	s := m.SequenceNumber
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unpauseLocked()
	if e.closed || gen != e.gen {
		return false
	}
	if _, parked := e.ooo[s]; parked {
		e.stats.Duplicates++
		e.queueAckLocked(s, m.MessageID, false)
		return true
	}
	switch {
	case s < e.expected:
		e.stats.Duplicates++
		e.queueAckLocked(s, m.MessageID, true)
	case s == e.expected && e.inboxRoomLocked(n) && len(e.ooo) == 0:
		e.deliverLocked(Payload{Type: m.PayloadType, Data: m.Payload, Seq: s})
		if e.cfg.CumulativeAck {
			e.queueAckLocked(e.expected-1, m.MessageID, true)
		} else {
			e.queueAckLocked(s, m.MessageID, false)
		}
		notify(&e.readWait)
	case s == e.expected && e.inboxRoomLocked(n):
		e.deliverLocked(Payload{Type: m.PayloadType, Data: m.Payload, Seq: s})
		id := e.drainOOOLocked(m.MessageID)
		if e.cfg.CumulativeAck {
			e.queueAckLocked(e.expected-1, id, true)
		} else {
			e.queueAckLocked(s, m.MessageID, false)
		}
		notify(&e.readWait)
	default: // ahead of a gap, or in order while the inbox is full
		if len(e.ooo) >= e.cfg.RecvBufferMessages || e.oooBytes+n > e.cfg.RecvBufferBytes {
			e.stats.Dropped++ // not acked: the peer resends it
			return true
		}
		e.ooo[s] = oooEntry{Payload{Type: m.PayloadType, Data: m.Payload, Seq: s}, m.MessageID}
		e.oooBytes += n
		if s > e.expected {
			e.stats.OutOfOrder++
		}
		e.queueAckLocked(s, m.MessageID, false)
	}
	return true
}

// drainRoomLocked moves parked in-order messages to the inbox while they
// fit; Read calls it as it makes room. They were acked when parked.
func (e *Endpoint) drainRoomLocked() {
	for {
		o, ok := e.ooo[e.expected]
		if !ok || !e.inboxRoomLocked(len(o.p.Data)) {
			return
		}
		delete(e.ooo, e.expected)
		e.oooBytes -= len(o.p.Data)
		e.deliverLocked(o.p)
	}
}

// inboxRoomLocked reports whether n more bytes fit the inbox. An empty inbox
// takes any message.
func (e *Endpoint) inboxRoomLocked(n int) bool {
	q := len(e.inbox) - e.inboxHead
	return q == 0 || (q < e.cfg.RecvBufferMessages && e.inboxBytes+n <= e.cfg.RecvBufferBytes)
}

func (e *Endpoint) deliverLocked(p Payload) {
	if e.inboxHead > 64 && e.inboxHead > len(e.inbox)/2 {
		k := copy(e.inbox, e.inbox[e.inboxHead:])
		clear(e.inbox[k:])
		e.inbox, e.inboxHead = e.inbox[:k], 0
	}
	e.inbox = append(e.inbox, p)
	e.inboxBytes += len(p.Data)
	e.expected++
	e.stats.Delivered++
}

// drainOOOLocked delivers buffered messages that are now in order (they were
// acked when buffered, so they are not acked again) and returns the id of
// the last message delivered.
func (e *Endpoint) drainOOOLocked(id wire.UUID) wire.UUID {
	for {
		o, ok := e.ooo[e.expected]
		if !ok {
			return id
		}
		delete(e.ooo, e.expected)
		e.oooBytes -= len(o.p.Data)
		e.deliverLocked(o.p)
		id = o.id
	}
}

// queueAckLocked queues an ack of seq for the sender. A cumulative ack
// replaces any pending one; individual acks beyond Config.AckQueue are
// dropped (the peer resends and is acked again).
func (e *Endpoint) queueAckLocked(seq int64, id wire.UUID, cumulativeOK bool) {
	switch {
	case e.cfg.CumulativeAck && cumulativeOK && seq <= e.expected-1:
		e.cum = ackItem{seq: e.expected - 1, id: id, cumulative: true}
		e.cumSet = true
	case len(e.acks) < e.cfg.AckQueue:
		e.acks = append(e.acks, ackItem{seq: seq, id: id})
	default:
		e.stats.AcksDropped++
		return
	}
	e.kickLocked()
}
