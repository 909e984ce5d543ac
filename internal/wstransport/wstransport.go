// Package wstransport adapts a websocket connection (coder/websocket) to
// stream.Transport: one binary websocket message per wire frame. Text
// frames after the first (the OpenDataChannelInput, written by the caller
// before wrapping) are ignored, as the real agent ignores them.
package wstransport

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/stream"
)

// Transport is a stream.Transport over a websocket.
type Transport struct {
	conn *websocket.Conn
	once sync.Once

	// watch is registered once, for the first context given to Send or
	// Recv (the stream endpoint's, for the transport's whole life): it
	// closes the transport when that context ends. Calls with that context
	// then hand the websocket a context that is never done, so the library
	// does not register a context.AfterFunc per frame (a measurable share
	// of the CPU at tens of thousands of frames a second).
	watchOnce sync.Once
	watched   context.Context
	mu        sync.Mutex
	stopWatch func() bool
}

var _ stream.Transport = (*Transport)(nil)

// New wraps conn; the Transport owns it from now on.
func New(conn *websocket.Conn) *Transport { return &Transport{conn: conn} }

// Conn returns the underlying websocket.
func (t *Transport) Conn() *websocket.Conn { return t.conn }

// ioContext returns the context to give the websocket for a call with ctx.
func (t *Transport) ioContext(ctx context.Context) context.Context {
	t.watchOnce.Do(func() {
		t.watched = ctx
		if ctx.Done() != nil {
			stop := context.AfterFunc(ctx, func() { t.Close() })
			t.mu.Lock()
			t.stopWatch = stop
			t.mu.Unlock()
		}
	})
	if ctx != t.watched || ctx.Err() != nil {
		return ctx // another context, or already done: the library handles it
	}
	return context.Background()
}

// Send writes frame as one binary message.
func (t *Transport) Send(ctx context.Context, frame []byte) error {
	return t.conn.Write(t.ioContext(ctx), websocket.MessageBinary, frame)
}

// Recv returns the next binary message, in a new slice of its exact size
// (the caller may keep it).
func (t *Transport) Recv(ctx context.Context) ([]byte, error) {
	for {
		typ, r, err := t.conn.Reader(t.ioContext(ctx))
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageBinary {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return nil, err
			}
			continue
		}
		return ReadMessage(r)
	}
}

// scratchSize is the size of the pooled read buffers: a fast-mode frame
// (64 KiB payload and header) fits.
const scratchSize = 80 << 10

// scratch holds read buffers shared by all transports: a transport holds
// none while it waits for a message, so idle sessions cost nothing.
var scratch = sync.Pool{New: func() any { b := make([]byte, scratchSize); return &b }}

// ReadMessage reads r to its end into a pooled buffer and returns a copy of
// exactly the message's size: one allocation and one copy, where
// io.ReadAll grows its slice a dozen times for a 32 KiB frame.
func ReadMessage(r io.Reader) ([]byte, error) {
	m, err := ReadPooled(r)
	defer m.Release()
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(m.Data))
	copy(out, m.Data)
	return out, nil
}

// Pooled is a message read into a pooled buffer: Data is valid until
// Release. The zero Pooled (or one wrapping a caller's slice) releases
// nothing.
type Pooled struct {
	Data []byte
	buf  *[]byte // the pool's buffer; nil when Data is not from the pool
}

// Release gives the buffer back to the pool.
func (p Pooled) Release() {
	if p.buf != nil {
		scratch.Put(p.buf)
	}
}

// ReadPooled reads r to its end into a pooled buffer. It allocates nothing
// for a message that fits the pool's buffers, so a relay that forwards each
// frame before reading the next needs no copy. Release the result, also
// after an error.
func ReadPooled(r io.Reader) (Pooled, error) {
	bp := scratch.Get().(*[]byte)
	b := *bp
	n := 0
	for {
		if n == len(b) {
			// Larger than the buffer: finish with io.ReadAll-style growth.
			rest, err := io.ReadAll(r)
			out := make([]byte, n+len(rest))
			copy(out, b[:n])
			copy(out[n:], rest)
			scratch.Put(bp)
			return Pooled{Data: out}, err
		}
		k, err := r.Read(b[n:])
		n += k
		if errors.Is(err, io.EOF) {
			return Pooled{Data: b[:n], buf: bp}, nil
		}
		if err != nil {
			scratch.Put(bp)
			return Pooled{}, err
		}
	}
}

// Close closes the websocket at once.
func (t *Transport) Close() error {
	t.once.Do(func() {
		t.conn.CloseNow()
		t.mu.Lock()
		if t.stopWatch != nil {
			t.stopWatch()
		}
		t.mu.Unlock()
	})
	return nil
}
