package chanmux

import (
	"context"
	"fmt"
	"sync"
)

// ClosedError is the error of a channel that was closed, by this end
// (Close) or by the peer (a CLOSE frame); Reason is the closer's text.
type ClosedError struct {
	Reason string
	ByPeer bool
}

func (e *ClosedError) Error() string {
	who := "locally"
	if e.ByPeer {
		who = "by the peer"
	}
	if e.Reason == "" {
		return "chanmux: channel closed " + who
	}
	return fmt.Sprintf("chanmux: channel closed %s: %s", who, e.Reason)
}

// Channel is one multiplexed channel: whole frames, in order, in both
// directions, with its own flow control. It is a stream.Transport. Send
// and Recv may be called from several goroutines; Close at any time.
type Channel struct {
	c    *Conn
	id   uint32
	name string
	data []byte

	readable chan struct{} // signalled when a frame is queued
	writable chan struct{} // signalled when credit arrives
	closed   chan struct{} // closed when the channel ends (either side)

	mu       sync.Mutex // guards the following fields
	queue    [][]byte   // received, not yet read
	buffered int64      // cost of queue
	unacked  int64      // cost read but not yet granted back
	credit   int64      // what this end may still send
	err      error      // why the channel ended; nil while open
	local    bool       // ended by this end (queue dropped)
	onReady  func()     // see OnReady
}

// Name returns the channel's name (the OPEN frame's).
func (ch *Channel) Name() string { return ch.name }

// OpenData returns the data the opener sent with the OPEN frame.
func (ch *Channel) OpenData() []byte { return ch.data }

// Done is closed when the channel has ended.
func (ch *Channel) Done() <-chan struct{} { return ch.closed }

// Err returns why the channel ended, or nil while it is open.
func (ch *Channel) Err() error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.err
}

// Send writes frame as one message of the channel, waiting while the
// channel has no credit (its receiver is behind) or the link is busy. It
// does not retain frame. It fails once the channel or its Conn has ended.
func (ch *Channel) Send(ctx context.Context, frame []byte) error {
	n := cost(len(frame))
	if err := ch.takeCredit(ctx, n); err != nil {
		return err
	}
	msg := ch.c.dataMessage(ch.id, frame)
	err := ch.c.write(ctx, ch, *msg)
	ch.c.putMessage(msg) // the link does not retain what it was given
	if err != nil {
		ch.grant(n) // not sent: the credit is still ours
		return err
	}
	return nil
}

// takeCredit waits until the channel has credit and takes n of it (the
// balance may go negative: a frame larger than the window still goes).
func (ch *Channel) takeCredit(ctx context.Context, n int64) error {
	for {
		ch.mu.Lock()
		if ch.err != nil {
			err := ch.err
			ch.mu.Unlock()
			return err
		}
		if ch.credit > 0 {
			ch.credit -= n
			more := ch.credit > 0
			ch.mu.Unlock()
			if more {
				signal(ch.writable) // pass the baton to another sender
			}
			return nil
		}
		ch.mu.Unlock()
		select {
		case <-ch.writable:
		case <-ch.closed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Recv returns the channel's next frame, waiting for one. Frames queued
// before the peer closed the channel are still returned; then Recv fails.
func (ch *Channel) Recv(ctx context.Context) ([]byte, error) {
	for {
		f, ok, err := ch.TryRecv()
		if ok || err != nil {
			return f, err
		}
		select {
		case <-ch.readable:
		case <-ch.closed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// OnReady makes the channel call fn whenever a frame is queued and when
// the channel ends, so that a caller can read with TryRecv on demand
// instead of keeping a goroutine blocked in Recv. fn runs on the goroutine
// that queued the frame (the connection's reader) or ended the channel, and
// must not block. Set it before reading starts; it is called at once if a
// frame is already queued or the channel has ended.
func (ch *Channel) OnReady(fn func()) {
	ch.mu.Lock()
	ch.onReady = fn
	now := len(ch.queue) > 0 || ch.err != nil
	ch.mu.Unlock()
	if now {
		fn()
	}
}

func (ch *Channel) ready() {
	ch.mu.Lock()
	fn := ch.onReady
	ch.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// TryRecv returns the next queued frame without waiting: ok is false when
// none is queued; err is set (and ok false) once the channel has ended and
// its queue is empty.
func (ch *Channel) TryRecv() (frame []byte, ok bool, err error) {
	ch.mu.Lock()
	if len(ch.queue) == 0 || ch.local {
		err := ch.err
		ch.mu.Unlock()
		return nil, false, err
	}
	f := ch.queue[0]
	ch.queue[0] = nil
	ch.queue = ch.queue[1:]
	more := len(ch.queue) > 0
	if !more {
		ch.queue = nil // an idle channel holds no buffer
	}
	n := cost(len(f))
	ch.buffered -= n
	ch.unacked += n
	var grant int64
	if ch.err == nil && ch.unacked >= int64(ch.c.cfg.Window)/4 {
		grant, ch.unacked = ch.unacked, 0
	}
	ch.mu.Unlock()
	if more {
		signal(ch.readable) // for another reader
	}
	if grant > 0 {
		ch.c.queueControl(creditFrame(ch.id, uint32(grant)))
	}
	return f, true, nil
}

// Close ends the channel with no reason.
func (ch *Channel) Close() error { return ch.CloseWithReason("") }

// CloseWithReason ends the channel: queued frames are dropped, Send and
// Recv fail, and the peer is told (with reason) unless it closed first.
// Closing an ended channel does nothing.
func (ch *Channel) CloseWithReason(reason string) error {
	ch.mu.Lock()
	if ch.err != nil {
		ch.local = true
		ch.queue, ch.buffered = nil, 0
		ch.mu.Unlock()
		return nil
	}
	ch.err = &ClosedError{Reason: reason}
	ch.local = true
	ch.queue, ch.buffered = nil, 0
	ch.mu.Unlock()
	close(ch.closed)
	ch.c.forget(ch)
	ch.c.queueControl(closeFrame(ch.id, reason))
	ch.ready()
	return nil
}

// deliver queues a frame from the peer. A peer that sends beyond the
// window it was granted fails the connection.
func (ch *Channel) deliver(f []byte) error {
	ch.mu.Lock()
	if ch.err != nil {
		ch.mu.Unlock()
		return nil // closed here: dropped
	}
	if ch.buffered >= int64(ch.c.cfg.Window) {
		ch.mu.Unlock()
		return fmt.Errorf("%w: channel %d sent beyond its window", ErrProtocol, ch.id)
	}
	ch.queue = append(ch.queue, f)
	ch.buffered += cost(len(f))
	ch.mu.Unlock()
	signal(ch.readable)
	ch.ready()
	return nil
}

// grant adds send credit.
func (ch *Channel) grant(n int64) {
	ch.mu.Lock()
	ch.credit += n
	ch.mu.Unlock()
	signal(ch.writable)
}

// peerClosed ends the channel at the peer's request; queued frames stay
// readable.
func (ch *Channel) peerClosed(reason string) {
	ch.end(&ClosedError{Reason: reason, ByPeer: true})
}

// fail ends the channel because its Conn ended; queued frames stay
// readable (the stream above discards what it cannot use).
func (ch *Channel) fail(err error) { ch.end(err) }

func (ch *Channel) end(err error) {
	ch.mu.Lock()
	if ch.err != nil {
		ch.mu.Unlock()
		return
	}
	ch.err = err
	ch.mu.Unlock()
	close(ch.closed)
	ch.c.forget(ch)
	ch.ready()
}

// signal wakes one waiter of s without blocking.
func signal(s chan struct{}) {
	select {
	case s <- struct{}{}:
	default:
	}
}
