package wstransport

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// pair returns the two ends of a real websocket over loopback.
func pair(t testing.TB) (client, server *websocket.Conn) {
	t.Helper()
	accepted := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		c.SetReadLimit(32 << 20)
		accepted <- c
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+strings.TrimPrefix(srv.URL, "http://"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(32 << 20)
	t.Cleanup(func() { c.CloseNow() })
	s := <-accepted
	t.Cleanup(func() { s.CloseNow() })
	return c, s
}

func TestRecvFrames(t *testing.T) {
	c, s := pair(t)
	tr := New(s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frames := [][]byte{
		[]byte("x"),
		bytes.Repeat([]byte("a"), 512),
		bytes.Repeat([]byte("b"), 32<<10),
		bytes.Repeat([]byte("c"), 3<<20), // beyond the pooled size
		{},
		bytes.Repeat([]byte("d"), 70<<10),
	}
	go func() {
		for i, f := range frames {
			if i == 2 { // text frames between binary ones are ignored
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"ignored":true}`))
			}
			if err := c.Write(ctx, websocket.MessageBinary, f); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var got [][]byte
	for range frames {
		b, err := tr.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
	}
	for i := range frames { // earlier frames are not overwritten by later reads
		if !bytes.Equal(got[i], frames[i]) {
			t.Errorf("frame %d: got %d bytes, want %d", i, len(got[i]), len(frames[i]))
		}
	}
	c.CloseNow()
	if _, err := tr.Recv(ctx); err == nil {
		t.Fatal("Recv after the peer closed: no error")
	}
}

// BenchmarkRecv compares Recv with the library's Conn.Read (io.ReadAll),
// which it replaced, on 32 KiB frames (fast mode's payload size), both
// given a cancellable context as the stream endpoint gives.
func BenchmarkRecv(b *testing.B) {
	for _, name := range []string{"Transport.Recv", "Conn.Read"} {
		b.Run(name, func(b *testing.B) {
			c, s := pair(b)
			tr := New(s)
			frame := bytes.Repeat([]byte("z"), 32<<10)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for range b.N {
					if c.Write(ctx, websocket.MessageBinary, frame) != nil {
						return
					}
				}
			}()
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for range b.N {
				var err error
				if name == "Conn.Read" {
					_, _, err = s.Read(ctx)
				} else {
					_, err = tr.Recv(ctx)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBlockedCallsEndWithContext: Recv and Send blocked on a transport
// return when the context they were given ends, though the websocket is
// handed a context that is never done (the transport watches ctx itself).
func TestBlockedCallsEndWithContext(t *testing.T) {
	_, s := pair(t)
	tr := New(s)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err := tr.Recv(ctx); errs <- err }()
	go func() { // nobody reads the other end: the socket fills, Send blocks
		big := make([]byte, 1<<20)
		for {
			if err := tr.Send(ctx, big); err != nil {
				errs <- err
				return
			}
		}
	}()
	cancel() // whether the calls have blocked yet or not, both must end
	for range 2 {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("a blocked call ended without an error")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a blocked call did not return after its context ended")
		}
	}
}

// chunked returns its data a few bytes per Read, as a websocket frame
// reader may.
type chunked struct{ b []byte }

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7000)], c.b)
	c.b = c.b[n:]
	return n, nil
}

func TestReadPooledAndMessage(t *testing.T) {
	for _, n := range []int{0, 1, 7000, scratchSize - 1, scratchSize, scratchSize + 1, 3 << 20} {
		want := bytes.Repeat([]byte{byte(n)}, n)
		m, err := ReadPooled(&chunked{want})
		if err != nil || !bytes.Equal(m.Data, want) {
			t.Fatalf("ReadPooled(%d bytes) = %d bytes, %v", n, len(m.Data), err)
		}
		m.Release()
		c, err := ReadMessage(&chunked{want})
		if err != nil || !bytes.Equal(c, want) {
			t.Fatalf("ReadMessage(%d bytes) = %d bytes, %v", n, len(c), err)
		}
	}
	msg := bytes.Repeat([]byte("x"), 64<<10)
	r := &chunked{}
	allocs := testing.AllocsPerRun(100, func() {
		r.b = msg
		m, _ := ReadPooled(r)
		m.Release()
	})
	if allocs > 0 {
		t.Errorf("ReadPooled of a 64 KiB message: %.0f allocations, want none", allocs)
	}
}
