package stream

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/tether-ssm/tether/internal/wire"
)

// Payload is one stream message as the application sees it.
type Payload struct {
	Type wire.PayloadType
	// Data aliases the received frame; it belongs to the caller.
	Data []byte
	// Seq is the message's sequence number.
	Seq int64
}

// Endpoint is one side of the reliable stream. Create it with New, give it a
// transport with Attach, then Write and Read from any goroutines. See the
// package documentation for the guarantees and the goroutines it runs.
type Endpoint struct {
	cfg      Config
	clock    Clock
	log      *slog.Logger
	sendType string // message type this endpoint sends
	recvType string // message type this endpoint receives
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when the endpoint shuts down
	kick     chan struct{} // cap 1: wakes the sender goroutine
	wg       sync.WaitGroup

	// writeSem (capacity 1) serialises Write calls, so that one call's
	// chunks are contiguous; its holder alone advances nextSeq and uses
	// writeRand. A channel rather than a mutex, so that waiting for it
	// honours the caller's context.
	writeSem  chan struct{}
	writeRand *mrand.ChaCha8
	// framePool recycles the buffers of acknowledged frames for new ones
	// (Transport.Send does not retain frames). The sender goroutine fills
	// it, writers drain it.
	framePool chan []byte

	mu sync.Mutex // guards the fields below
	// Transport.
	tr     Transport
	gen    uint64 // incremented by every Attach
	trDown bool   // tr has failed; wait for Attach
	paused bool   // pause_publication received
	// Lifecycle.
	closing bool // Close called: no new writes
	closed  bool // shut down
	// Send side: the unacknowledged entries below nextSeq, in out.
	out      outbox
	nextSeq  int64 // next sequence number to assign
	nextSend int64 // next sequence number to send on the current transport
	outBytes int   // payload bytes not yet acknowledged (including reserved)
	outCount int   // messages not yet acknowledged
	rtt      rttEstimator
	freed    [][]byte // buffers of acked frames, recycled by the sender
	// Acks and control messages waiting for the sender.
	acks    []ackItem
	cum     ackItem // pending cumulative ack, valid when cumSet
	cumSet  bool
	control []*wire.Message
	// Receive side.
	expected   int64 // next sequence number to deliver
	inbox      []Payload
	inboxHead  int
	inboxBytes int
	ooo        map[int64]oooEntry
	oooBytes   int
	// Waiters, each a channel closed (and cleared) to wake them.
	writeWait chan struct{} // writers waiting for window space
	readWait  chan struct{} // readers waiting for data
	roomWait  chan struct{} // receive goroutine waiting for inbox room
	drainWait chan struct{} // Close waiting for every ack
	stats     Stats
}

// ackItem is one ack waiting to be sent.
type ackItem struct {
	seq        int64
	id         wire.UUID
	cumulative bool
}

// Stats are counters for tests and monitoring.
type Stats struct {
	Sent          int64 // data messages sent, first transmissions
	Resent        int64 // data messages sent again (timer or new transport)
	Delivered     int64 // data messages queued for Read, in order
	Duplicates    int64 // data messages received again (re-acked, dropped)
	OutOfOrder    int64 // data messages buffered ahead of a gap
	Dropped       int64 // out-of-order messages dropped for lack of room
	AcksSent      int64
	AcksDropped   int64 // acks not sent because the ack queue was full
	AcksReceived  int64
	BadFrames     int64 // frames Decode rejected
	Presumed      int64 // messages presumed delivered (PresumeDeliveredAfter)
	Attaches      int64
	Unacked       int // messages held for retransmission now
	UnackedBytes  int
	Readable      int // messages Read can return without waiting
	Buffered      int // messages received and not yet Read, plus out of order
	BufferedBytes int
	RTO           time.Duration
}

// New returns an endpoint with no transport. cfg is validated and its zero
// fields take defaults.
func New(cfg Config) (*Endpoint, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	e := &Endpoint{
		cfg:       cfg,
		clock:     cfg.Clock,
		log:       cfg.Logger.With("role", cfg.Role.String()),
		done:      make(chan struct{}),
		kick:      make(chan struct{}, 1),
		writeSem:  make(chan struct{}, 1),
		framePool: make(chan []byte, min(cfg.SendWindowMessages, maxFramePool)),
		writeRand: mrand.NewChaCha8(seed),
		ooo:       make(map[int64]oooEntry),
		rtt:       newRTT(&cfg),
	}
	e.sendType, e.recvType = wire.TypeInputStreamData, wire.TypeOutputStreamData
	if cfg.Role == RoleAgent {
		e.sendType, e.recvType = e.recvType, e.sendType
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	seed[0] ^= 0xff // a different stream for the sender goroutine
	e.wg.Add(1)
	go e.sendLoop(mrand.NewChaCha8(seed))
	return e, nil
}

// Config returns the endpoint's configuration with defaults filled in (and
// any change made by EnableFast).
func (e *Endpoint) Config() Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// Attach makes t the endpoint's transport, replacing (and closing) the
// previous one, whatever its state. Everything not yet acknowledged is then
// sent again on t, in order, and the stream continues. It is safe to call
// at any moment, from any goroutine, including from OnTransportError. After
// Close it closes t and returns ErrClosed.
func (e *Endpoint) Attach(t Transport) error {
	if t == nil {
		return fmt.Errorf("attach: nil transport")
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = t.Close()
		return ErrClosed
	}
	old := e.tr
	e.tr, e.trDown, e.paused = t, false, false
	e.gen++
	e.nextSend = e.headSeqLocked()
	e.stats.Attaches++
	gen := e.gen
	e.wg.Add(1)
	go e.recvLoop(t, gen)
	notify(&e.roomWait) // a receive goroutine blocked on the old transport exits
	e.kickLocked()
	e.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	e.log.Debug("transport attached", "generation", gen)
	return nil
}

// transportFailed marks the transport of generation gen as failed, once.
func (e *Endpoint) transportFailed(gen uint64, err error) {
	e.mu.Lock()
	if gen != e.gen || e.trDown || e.closed {
		e.mu.Unlock()
		return
	}
	e.trDown = true
	t := e.tr
	cb := e.cfg.OnTransportError
	e.mu.Unlock()
	_ = t.Close()
	e.log.Debug("transport failed", "generation", gen, "err", err)
	if cb != nil {
		cb(t, err)
	}
}

// Write sends p as stream data of type pt, in order after everything written
// before. Output and StdErr are split into messages of at most MaxPayload
// bytes; other types go in one message of at most MaxControlPayload bytes
// (else ErrTooLarge). p is copied; the caller may reuse it on return.
//
// Write blocks while the send window is full, until acknowledgements make
// room, ctx is done (it returns ctx.Err() and how many bytes were queued),
// or the endpoint closes (ErrClosed). A nil or empty p sends nothing: the
// real plugin and agent never send an empty payload. Write does not wait for
// a transport: data written while disconnected is sent after Attach.
// Concurrent Writes are serialised.
func (e *Endpoint) Write(ctx context.Context, pt wire.PayloadType, p []byte) (int, error) {
	if err := e.lockWrite(ctx); err != nil {
		return 0, err
	}
	defer e.unlockWrite()
	limit := e.cfg.MaxPayload // changed only by EnableFast, which holds writeSem
	if !pt.IsData() {
		if len(p) > e.cfg.MaxControlPayload {
			return 0, fmt.Errorf("write %v payload of %d bytes: %w", pt, len(p), ErrTooLarge)
		}
		limit = len(p)
	}
	n := 0
	for n < len(p) {
		chunk := p[n:min(n+limit, len(p))]
		if err := e.writeMessage(ctx, pt, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
	}
	return n, nil
}

// lockWrite takes writeSem, honouring ctx.
func (e *Endpoint) lockWrite(ctx context.Context) error {
	select {
	case e.writeSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.done:
		return ErrClosed
	}
}

func (e *Endpoint) unlockWrite() { <-e.writeSem }

// FastOptions are the sending parameters EnableFast switches to. The zero
// value is the fastest: DefaultConfig's fast-mode sizes, cumulative acks and
// digest-free frames.
type FastOptions struct {
	MaxPayload      int  // zero: 64 KiB
	SendWindowBytes int  // zero: 8 MiB
	RecvBufferBytes int  // zero: 8 MiB
	AckEach         bool // one ack per message instead of cumulative acks
	Digest          bool // keep the SHA-256 of every payload
}

// EnableFast switches a running endpoint to fast mode, once the handshake
// has shown that the peer is Tether (see the package documentation on
// negotiation). It waits for a Write in progress to finish; messages already
// queued keep their form, later ones use the new payload size, window and
// extensions. SendWindowMessages and RecvBufferMessages stay as configured.
// Never call it when the peer may be the real plugin or agent.
func (e *Endpoint) EnableFast(ctx context.Context, o FastOptions) error {
	d := DefaultConfig(e.cfg.Role, ModeFast)
	if o.MaxPayload == 0 {
		o.MaxPayload = d.MaxPayload
	}
	if o.SendWindowBytes == 0 {
		o.SendWindowBytes = d.SendWindowBytes
	}
	if o.RecvBufferBytes == 0 {
		o.RecvBufferBytes = d.RecvBufferBytes
	}
	if o.MaxPayload < 0 || o.SendWindowBytes < 0 || o.RecvBufferBytes < 0 {
		return fmt.Errorf("%w: negative size", ErrConfig)
	}
	if err := e.lockWrite(ctx); err != nil {
		return err
	}
	defer e.unlockWrite()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.Mode = ModeFast
	e.cfg.MaxPayload = o.MaxPayload
	e.cfg.SendWindowBytes = o.SendWindowBytes
	e.cfg.RecvBufferBytes = o.RecvBufferBytes
	e.cfg.CumulativeAck = !o.AckEach
	e.cfg.OmitDigest = !o.Digest
	// A Tether peer re-acknowledges duplicates: nothing is ever presumed
	// delivered. (A message it dropped while its buffers were full, after
	// acknowledging a later one, must be resent until it is acknowledged.)
	e.cfg.PresumeDeliveredAfter = 0
	notify(&e.writeWait)
	notify(&e.roomWait)
	return nil
}

// writeMessage queues one message. Called holding writeSem.
func (e *Endpoint) writeMessage(ctx context.Context, pt wire.PayloadType, p []byte) error {
	e.mu.Lock()
	for !e.windowRoomLocked(len(p)) {
		if e.closing || e.closed {
			e.mu.Unlock()
			return ErrClosed
		}
		ch := waitChan(&e.writeWait)
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-e.done:
		}
		e.mu.Lock()
	}
	if e.closing || e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	seq := e.nextSeq
	e.outBytes += len(p) // reserve; the slot is ours because only we advance nextSeq
	e.mu.Unlock()

	frame, err := e.encodeData(seq, pt, p)
	if err != nil { // cannot happen for well-formed types; undo the reservation
		e.mu.Lock()
		e.outBytes -= len(p)
		e.mu.Unlock()
		return fmt.Errorf("encode message %d: %w", seq, err)
	}

	e.mu.Lock()
	e.out.push(entry{seq: seq, frame: frame, plen: len(p)})
	e.nextSeq++
	e.outCount++
	e.kickLocked()
	e.mu.Unlock()
	return nil
}

// windowRoomLocked reports whether a message of n bytes fits the window. A
// message always fits an empty window, however large.
func (e *Endpoint) windowRoomLocked(n int) bool {
	if e.outCount >= e.cfg.SendWindowMessages {
		return false
	}
	return e.outBytes == 0 || e.outBytes+n <= e.cfg.SendWindowBytes
}

// headSeqLocked is the oldest sequence number held for retransmission, or
// nextSeq when none is.
func (e *Endpoint) headSeqLocked() int64 {
	if e.out.len() == 0 {
		return e.nextSeq
	}
	return e.out.at(0).seq
}

func (e *Endpoint) encodeData(seq int64, pt wire.PayloadType, p []byte) ([]byte, error) {
	m := wire.Message{
		MessageType:    e.sendType,
		SchemaVersion:  wire.SchemaVersion,
		CreatedDate:    wire.Millis(e.clock.Now()),
		SequenceNumber: seq,
		MessageID:      randomUUID(e.writeRand),
		PayloadType:    pt,
		Payload:        p,
	}
	if e.cfg.Role == RoleAgent && seq == 0 {
		m.Flags = wire.FlagSYN // as the agent does (protocol.md §3.4)
	}
	var buf []byte
	select {
	case buf = <-e.framePool:
		if cap(buf) < m.EncodedLen() {
			buf = nil
		}
	default:
	}
	if buf == nil {
		buf = make([]byte, 0, m.EncodedLen())
	}
	if e.cfg.OmitDigest {
		return wire.AppendEncodeNoDigest(buf[:0], &m)
	}
	return wire.AppendEncode(buf[:0], &m)
}

// Read returns the next stream payload, in order, exactly once. It blocks
// until one is available, ctx is done, or the endpoint is closed
// (ErrClosed). Concurrent Reads each get different payloads.
func (e *Endpoint) Read(ctx context.Context) (Payload, error) {
	e.mu.Lock()
	for e.inboxHead == len(e.inbox) {
		if e.closed {
			e.mu.Unlock()
			return Payload{}, ErrClosed
		}
		ch := waitChan(&e.readWait)
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			return Payload{}, ctx.Err()
		case <-ch:
		case <-e.done:
		}
		e.mu.Lock()
	}
	p := e.inbox[e.inboxHead]
	e.inbox[e.inboxHead] = Payload{}
	e.inboxHead++
	if e.inboxHead == len(e.inbox) {
		e.inbox, e.inboxHead = e.inbox[:0], 0
	}
	e.inboxBytes -= len(p.Data)
	if len(e.ooo) > 0 {
		e.drainRoomLocked()
	}
	notify(&e.roomWait)
	e.mu.Unlock()
	return p, nil
}

// SendControl sends m, a message outside the stream (agent_session_state,
// channel_closed, …), once, on the current transport, ahead of queued data.
// It fills in CreatedDate, SchemaVersion and MessageID when zero. It is not
// retransmitted: if no transport is up it is sent after the next Attach, and
// it is lost if that transport fails first. To send it after the data
// written so far has arrived (agent_session_state Terminating at the end of
// a session, as the agent does), call Flush first.
func (e *Endpoint) SendControl(m wire.Message) error {
	if m.SchemaVersion == 0 {
		m.SchemaVersion = wire.SchemaVersion
	}
	if m.CreatedDate == 0 {
		m.CreatedDate = wire.Millis(e.clock.Now())
	}
	if m.MessageID.IsZero() {
		m.MessageID = wire.NewUUID()
	}
	if _, err := wire.AppendEncode(nil, &m); err != nil {
		return fmt.Errorf("send %s: %w", m.MessageType, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	m.Payload = append([]byte(nil), m.Payload...)
	e.control = append(e.control, &m)
	e.kickLocked()
	return nil
}

// Flush waits until everything written so far has been acknowledged by the
// peer, ctx is done, or the endpoint closes. The endpoint keeps running: use
// it before Close when both sides must finish (each side's Close stops it
// from acknowledging the other's data). It returns an error naming the
// unacknowledged messages if ctx ended the wait.
func (e *Endpoint) Flush(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.flushLocked(ctx)
}

func (e *Endpoint) flushLocked(ctx context.Context) error {
	for e.outCount > 0 || e.outBytes > 0 {
		if e.closed {
			return ErrClosed
		}
		ch := waitChan(&e.drainWait)
		e.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-ch:
		case <-e.done:
		}
		e.mu.Lock()
		if err := ctx.Err(); err != nil && e.outCount > 0 {
			return fmt.Errorf("%d messages unacknowledged: %w", e.outCount, err)
		}
	}
	return nil
}

// Close stops new writes, waits (as Flush) until everything written has been
// acknowledged or ctx is done, then shuts the endpoint down: the transport
// is closed, blocked calls return ErrClosed, the peer's data is no longer
// acknowledged, and every goroutine has exited when Close returns. It
// returns Flush's error if ctx ended the wait. Pass a cancelled ctx to abort
// at once. Close is idempotent.
func (e *Endpoint) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closing = true
	notify(&e.writeWait)
	err := e.flushLocked(ctx)
	if err != nil {
		err = fmt.Errorf("close: %w", err)
	}
	e.closed = true
	t := e.tr
	e.tr = nil
	close(e.done)
	e.cancel()
	notify(&e.readWait)
	notify(&e.writeWait)
	notify(&e.roomWait)
	notify(&e.drainWait)
	e.mu.Unlock()
	if t != nil {
		_ = t.Close()
	}
	e.wg.Wait()
	return err
}

// Stats returns a snapshot of the endpoint's counters.
func (e *Endpoint) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Unacked, s.UnackedBytes = e.outCount, e.outBytes
	s.Readable = len(e.inbox) - e.inboxHead
	s.Buffered = s.Readable + len(e.ooo)
	s.BufferedBytes = e.inboxBytes + e.oooBytes
	s.RTO = e.rtt.rto
	return s
}

func (e *Endpoint) kickLocked() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// waitChan returns the channel that the next notify(ch) closes.
func waitChan(ch *chan struct{}) <-chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{})
	}
	return *ch
}

// notify wakes everyone waiting on *ch.
func notify(ch *chan struct{}) {
	if *ch != nil {
		close(*ch)
		*ch = nil
	}
}

func randomUUID(r *mrand.ChaCha8) wire.UUID {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], r.Uint64())
	binary.LittleEndian.PutUint64(b[8:], r.Uint64())
	return wire.UUIDFromBytes(b)
}
