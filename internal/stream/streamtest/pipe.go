// Package streamtest provides in-memory transports, a fault-injecting
// transport and a fake clock for testing code built on package stream. It is
// for tests only.
package streamtest

import (
	"context"
	"errors"
	"sync"

	"github.com/tether-ssm/tether/internal/stream"
)

// ErrClosed is returned by a closed pipe.
var ErrClosed = errors.New("pipe closed")

// PipeEnd is one end of an in-memory, message-oriented, bounded, in-order
// pipe. It implements stream.Transport: Send copies the frame and blocks while
// the peer's queue is full.
type PipeEnd struct {
	in  <-chan []byte
	out chan<- []byte
	st  *pipeState
}

var _ stream.Transport = (*PipeEnd)(nil)

type pipeState struct {
	closeOnce, severOnce sync.Once
	closed, severed      chan struct{}
}

// Pipe returns the two ends of a pipe that holds up to capacity frames in
// each direction.
func Pipe(capacity int) (*PipeEnd, *PipeEnd) {
	ab, ba := make(chan []byte, capacity), make(chan []byte, capacity)
	st := &pipeState{closed: make(chan struct{}), severed: make(chan struct{})}
	return &PipeEnd{in: ba, out: ab, st: st}, &PipeEnd{in: ab, out: ba, st: st}
}

// Send queues a copy of frame for the peer.
func (p *PipeEnd) Send(ctx context.Context, frame []byte) error {
	select {
	case <-p.st.closed:
		return ErrClosed
	case <-p.st.severed:
		return nil // half-open: the frame vanishes
	default:
	}
	f := append([]byte(nil), frame...)
	select {
	case p.out <- f:
		return nil
	case <-p.st.closed:
		return ErrClosed
	case <-p.st.severed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recv returns the next frame from the peer.
func (p *PipeEnd) Recv(ctx context.Context) ([]byte, error) {
	select {
	case <-p.st.closed:
		return nil, ErrClosed
	case <-p.st.severed:
		return p.recvSevered(ctx)
	default:
	}
	select {
	case f := <-p.in:
		return f, nil
	case <-p.st.closed:
		return nil, ErrClosed
	case <-p.st.severed:
		return p.recvSevered(ctx)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// recvSevered blocks as a half-open connection does: nothing arrives.
func (p *PipeEnd) recvSevered(ctx context.Context) ([]byte, error) {
	select {
	case <-p.st.closed:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes both ends.
func (p *PipeEnd) Close() error {
	p.st.closeOnce.Do(func() { close(p.st.closed) })
	return nil
}

// Sever turns the pipe half-open in both directions without telling either
// end: sends succeed and vanish, receives block until Close.
func (p *PipeEnd) Sever() { p.st.severOnce.Do(func() { close(p.st.severed) }) }
