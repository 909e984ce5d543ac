package stream

import (
	mrand "math/rand/v2"
	"time"

	"github.com/tether-ssm/tether/internal/wire"
)

// maxFramePool bounds the recycled frame buffers an endpoint keeps (also
// bounded by SendWindowMessages: the pool at most doubles the window's
// memory).
const maxFramePool = 256

// maxBatch bounds the data frames taken per lock acquisition, so that acks
// are interleaved with a long run of data.
const maxBatch = 64

// batch is the sender goroutine's work taken from the endpoint in one go.
type batch struct {
	tr      Transport
	gen     uint64
	acks    []ackItem
	control []*wire.Message
	frames  [][]byte
	free    [][]byte // buffers to recycle
}

func (b *batch) empty() bool { return len(b.acks)+len(b.control)+len(b.frames) == 0 }

// sendLoop is the endpoint's one sender goroutine: it sends acks, control
// messages, retransmissions and new data on the current transport. It owns
// rng and its scratch buffers; it stops when the endpoint shuts down.
func (e *Endpoint) sendLoop(rng *mrand.ChaCha8) {
	defer e.wg.Done()
	s := sender{e: e, rng: rng}
	timer := e.clock.NewTimer(e.cfg.ResendInterval)
	defer timer.Stop()
	armed, resendDue := true, false
	for {
		select {
		case <-e.done:
			return
		case <-e.kick:
		case <-timer.C():
			armed, resendDue = false, true
		}
		for {
			e.mu.Lock()
			e.takeWorkLocked(&s.b, resendDue)
			resendDue = false
			needTimer := e.outCount > 0 && !e.closed
			e.mu.Unlock()
			if needTimer && !armed {
				timer.Reset(e.cfg.ResendInterval)
				armed = true
			}
			s.recycle()
			if s.b.empty() {
				break
			}
			s.send()
		}
	}
}

// takeWorkLocked moves pending acks and control messages into b, and the data
// frames due now: timer resends first (oldest first), then frames not yet
// sent on this transport, in order. Nothing is taken without a working
// transport; while paused, no data is taken.
//
// Buffers of frames acknowledged since the previous batch move to b.free: the
// previous batch has been sent, and an acknowledged frame is never taken
// again, so nothing references them any more.
func (e *Endpoint) takeWorkLocked(b *batch, resendDue bool) {
	b.acks, b.control, b.frames = b.acks[:0], b.control[:0], b.frames[:0]
	b.free = append(b.free[:0], e.freed...)
	clear(e.freed)
	e.freed = e.freed[:0]
	if e.closed || e.tr == nil || e.trDown {
		return
	}
	b.tr, b.gen = e.tr, e.gen
	b.acks = append(b.acks, e.acks...)
	e.acks = e.acks[:0]
	if e.cumSet {
		b.acks = append(b.acks, e.cum)
		e.cumSet = false
	}
	b.control = append(b.control, e.control...)
	clear(e.control)
	e.control = e.control[:0]
	if e.paused {
		return
	}
	now := e.clock.Now()
	if resendDue {
		e.collectResendsLocked(b, now)
	}
	i := e.out.search(e.nextSend)
	for ; i < e.out.len() && len(b.frames) < maxBatch; i++ {
		en := e.out.at(i)
		e.nextSend = en.seq + 1
		if en.acked {
			continue
		}
		if en.lastSent.IsZero() {
			e.stats.Sent++
		} else {
			e.stats.Resent++
		}
		e.transmitLocked(en, now)
		b.frames = append(b.frames, en.frame)
	}
	if i == e.out.len() {
		e.nextSend = e.nextSeq
	}
}

// transmitLocked records that en is being sent now on the current transport.
func (e *Endpoint) transmitLocked(en *entry, now time.Time) {
	en.lastSent, en.sentGen = now, e.gen
	if en.evidence {
		en.chances++
	}
}

// collectResendsLocked takes every message sent on this transport whose RTO
// has expired. Unlike the plugin and agent, which resend only the oldest, it
// resends them all, so that losses in a window recover in one RTO.
func (e *Endpoint) collectResendsLocked(b *batch, now time.Time) {
	rto := e.rtt.rto
	var presumed []int64
	for i := 0; i < e.out.len(); i++ {
		en := e.out.at(i)
		if en.seq >= e.nextSend {
			break
		}
		if en.acked || now.Sub(en.lastSent) < rto {
			continue
		}
		if p := e.cfg.PresumeDeliveredAfter; p > 0 && en.evidence && en.chances >= p {
			presumed = append(presumed, en.seq)
			continue
		}
		en.resends++
		e.stats.Resent++
		e.transmitLocked(en, now)
		b.frames = append(b.frames, en.frame)
	}
	for _, seq := range presumed {
		if en := e.out.find(seq); en != nil {
			e.log.Warn("message presumed delivered: the peer received it and never acknowledged it", "seq", seq, "resends", en.resends)
			e.stats.Presumed++
			e.ackEntryLocked(en, now, false)
		}
	}
}

// sender is the state owned by the sender goroutine.
type sender struct {
	e      *Endpoint
	rng    *mrand.ChaCha8
	b      batch
	ackBuf []byte // scratch for an ack payload
	frame  []byte // scratch for an ack frame (Transport.Send does not retain it)
	nAcks  int64
}

// recycle offers the freed frame buffers to writers.
func (s *sender) recycle() {
	for i, f := range s.b.free {
		select {
		case s.e.framePool <- f:
		default:
		}
		s.b.free[i] = nil
	}
	s.b.free = s.b.free[:0]
}

// send writes the batch to its transport, outside the endpoint lock.
func (s *sender) send() {
	e := s.e
	var err error
	for _, a := range s.b.acks {
		f, ok := s.encodeAck(a)
		if !ok {
			continue
		}
		if err = s.b.tr.Send(e.ctx, f); err != nil {
			break
		}
		s.nAcks++
	}
	for i := 0; err == nil && i < len(s.b.control); i++ {
		var f []byte
		if f, err = wire.Encode(s.b.control[i]); err == nil {
			err = s.b.tr.Send(e.ctx, f)
		}
	}
	for i := 0; err == nil && i < len(s.b.frames); i++ {
		err = s.b.tr.Send(e.ctx, s.b.frames[i])
	}
	clear(s.b.frames) // drop references to frames that may be acked soon
	clear(s.b.control)
	e.mu.Lock()
	e.stats.AcksSent += s.nAcks
	s.nAcks = 0
	e.mu.Unlock()
	if err != nil {
		e.transportFailed(s.b.gen, err)
	}
}

// encodeAck returns the ack frame in a scratch buffer; false only if the
// clock reads the Unix epoch (CreatedDate would be 0).
func (s *sender) encodeAck(a ackItem) ([]byte, bool) {
	e := s.e
	s.ackBuf = wire.AppendAck(s.ackBuf[:0], e.recvType, a.id, a.seq, a.cumulative)
	m := wire.Message{
		MessageType:   wire.TypeAcknowledge,
		SchemaVersion: wire.SchemaVersion,
		CreatedDate:   wire.Millis(e.clock.Now()),
		Flags:         wire.FlagsAck,
		MessageID:     randomUUID(s.rng),
		PayloadType:   wire.PayloadNone,
		Payload:       s.ackBuf,
	}
	f, err := wire.AppendEncode(s.frame[:0], &m)
	if err != nil {
		return nil, false
	}
	s.frame = f
	return f, true
}
