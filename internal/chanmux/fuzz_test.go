package chanmux

import (
	"context"
	"sync"
	"testing"
)

// memLink is an in-memory Link fed by a test: Recv returns the queued
// messages, then fails; Send discards.
type memLink struct {
	in     chan []byte
	closed chan struct{}
	once   sync.Once
}

func newMemLink(msgs [][]byte) *memLink {
	l := &memLink{in: make(chan []byte, len(msgs)), closed: make(chan struct{})}
	for _, m := range msgs {
		l.in <- m
	}
	close(l.in)
	return l
}

func (l *memLink) Send(ctx context.Context, msg []byte) error {
	select {
	case <-l.closed:
		return ErrConnClosed
	default:
		return nil
	}
}

func (l *memLink) Recv(ctx context.Context) ([]byte, error) {
	select {
	case m, ok := <-l.in:
		if !ok {
			return nil, ErrConnClosed
		}
		return m, nil
	case <-l.closed:
		return nil, ErrConnClosed
	}
}

func (l *memLink) Close() error { l.once.Do(func() { close(l.closed) }); return nil }

// FuzzServer feeds arbitrary message sequences (each prefixed by a length
// byte in the fuzz input) to an accepting Conn whose handler reads and
// closes channels: it must end with an error, never panic or hang, and
// leave no channel behind.
func FuzzServer(f *testing.F) {
	open, _ := openFrame(1, "s", []byte("{}"))
	seed := func(msgs ...[]byte) []byte {
		var b []byte
		for _, m := range msgs {
			b = append(append(b, byte(len(m))), m...)
		}
		return b
	}
	f.Add(seed(open, append(appendHeader(nil, typeData, 1), "hello"...), creditFrame(1, 100), closeFrame(1, "x")))
	f.Add(seed(open, open))
	f.Add(seed([]byte{2, 0, 0, 0, 1, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var msgs [][]byte
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			n = min(n, len(in))
			msgs = append(msgs, in[:n])
			in = in[n:]
		}
		c := Server(newMemLink(msgs), Config{Window: 512}, func(ch *Channel) {
			for i := 0; ; i++ { // ends when the channel or the Conn does
				if _, err := ch.Recv(context.Background()); err != nil {
					return
				}
				if i == 3 {
					ch.CloseWithReason("enough")
				}
			}
		})
		c.Wait()
		if c.Err() == nil {
			t.Fatal("reader ended without an error")
		}
		if c.Channels() != 0 {
			t.Fatalf("%d channels left", c.Channels())
		}
	})
}
