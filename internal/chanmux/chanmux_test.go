package chanmux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/wstransport"
)

// wsPair returns the two ends of a real websocket on loopback.
func wsPair(t *testing.T) (client, server Link) {
	t.Helper()
	srvc := make(chan *websocket.Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(16 << 20)
		srvc <- c
	}))
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cc.SetReadLimit(16 << 20)
	sc := <-srvc
	return wstransport.New(cc), wstransport.New(sc)
}

// muxPair starts a dialer and an acceptor over a real websocket; accepted
// channels arrive on the returned channel.
func muxPair(t *testing.T, cfg Config) (*Conn, *Conn, <-chan *Channel) {
	t.Helper()
	cl, sl := wsPair(t)
	accepted := make(chan *Channel, 64)
	srv := Server(sl, cfg, func(ch *Channel) { accepted <- ch })
	cli := Client(cl, cfg)
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
		cli.Wait()
		srv.Wait()
	})
	return cli, srv, accepted
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func receive(t *testing.T, c <-chan *Channel) *Channel {
	t.Helper()
	select {
	case ch := <-c:
		return ch
	case <-time.After(10 * time.Second):
		t.Fatal("no channel accepted")
		return nil
	}
}

func TestParseFrame(t *testing.T) {
	open, _ := openFrame(7, "sess-1", []byte(`{"a":1}`))
	tests := []struct {
		name    string
		in      []byte
		typ     byte
		id      uint32
		body    string
		wantErr bool
	}{
		{"data", append(appendHeader(nil, typeData, 3), "hello"...), typeData, 3, "hello", false},
		{"empty data", appendHeader(nil, typeData, 1), typeData, 1, "", false},
		{"open", open, typeOpen, 7, "\x00\x06sess-1{\"a\":1}", false},
		{"credit", creditFrame(9, 4096), typeCredit, 9, "\x00\x00\x10\x00", false},
		{"close", closeFrame(2, "bye"), typeClose, 2, "bye", false},
		{"short", []byte{0, 0, 0}, 0, 0, "", true},
		{"unknown type", appendHeader(nil, 9, 1), 0, 0, "", true},
		{"zero credit", append(appendHeader(nil, typeCredit, 1), 0, 0, 0, 0), 0, 0, "", true},
		{"short credit", append(appendHeader(nil, typeCredit, 1), 0, 1), 0, 0, "", true},
		{"open without name", append(appendHeader(nil, typeOpen, 1), 0, 0), 0, 0, "", true},
		{"open name past end", append(appendHeader(nil, typeOpen, 1), 0, 9, 'a'), 0, 0, "", true},
		{"open body too short", append(appendHeader(nil, typeOpen, 1), 0), 0, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseFrame(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.typ != tt.typ || f.id != tt.id || string(f.body) != tt.body {
				t.Fatalf("got %d/%d/%q, want %d/%d/%q", f.typ, f.id, f.body, tt.typ, tt.id, tt.body)
			}
		})
	}
}

func TestOpenFrameLimits(t *testing.T) {
	tests := []struct {
		name string
		id   string
		data int
		ok   bool
	}{
		{"ordinary", "s-1", 300, true},
		{"empty name", "", 0, false},
		{"long name", strings.Repeat("x", maxName+1), 0, false},
		{"longest name", strings.Repeat("x", maxName), 0, true},
		{"big data", "s", maxOpenData + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := openFrame(1, tt.id, make([]byte, tt.data))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				return
			}
			name, data, err := parseOpen(f[headerLen:])
			if err != nil || name != tt.id || len(data) != tt.data {
				t.Fatalf("parse: %q %d %v", name, len(data), err)
			}
		})
	}
}

// TestRoundTrip sends frames both ways on several channels at once and
// checks each arrives whole, once, in order, on its own channel.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		window   int
		channels int
		frames   int
		size     int
	}{
		{"one channel small frames", 0, 1, 500, 100},
		{"many channels", 0, 20, 100, 1000},
		{"frames larger than the window", 4096, 4, 20, 20000},
		{"tiny window", 256, 3, 300, 10},
		{"empty frames", 0, 2, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			cli, _, accepted := muxPair(t, Config{Window: tt.window})
			var wg sync.WaitGroup
			errc := make(chan error, 4*tt.channels)
			for i := range tt.channels {
				name := fmt.Sprintf("s-%d", i)
				a, err := cli.Open(ctx, name, []byte("open "+name))
				if err != nil {
					t.Fatal(err)
				}
				b := receive(t, accepted)
				if b.Name() != name || string(b.OpenData()) != "open "+name {
					t.Fatalf("accepted %q %q", b.Name(), b.OpenData())
				}
				for _, pair := range [][2]*Channel{{a, b}, {b, a}} {
					wg.Add(2)
					go func() { defer wg.Done(); errc <- sendFrames(ctx, pair[0], name, tt.frames, tt.size) }()
					go func() { defer wg.Done(); errc <- recvFrames(ctx, pair[1], name, tt.frames, tt.size) }()
				}
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func frameBytes(name string, i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	p := fmt.Appendf(nil, "%s/%d/", name, i)
	if size >= len(p) {
		copy(b, p)
	}
	return b
}

func sendFrames(ctx context.Context, ch *Channel, name string, n, size int) error {
	for i := range n {
		if err := ch.Send(ctx, frameBytes(name, i, size)); err != nil {
			return fmt.Errorf("%s send %d: %w", name, i, err)
		}
	}
	return nil
}

func recvFrames(ctx context.Context, ch *Channel, name string, n, size int) error {
	for i := range n {
		f, err := ch.Recv(ctx)
		if err != nil {
			return fmt.Errorf("%s recv %d: %w", name, i, err)
		}
		if want := frameBytes(name, i, size); !bytes.Equal(f, want) {
			return fmt.Errorf("%s frame %d: got %d bytes %q…, want %q…", name, i, len(f), f[:min(len(f), 20)], want[:min(len(want), 20)])
		}
	}
	return nil
}

// TestStalledChannelDoesNotBlockOthers: one channel's receiver never
// reads; its sender stops at the window, and another channel on the same
// connection still carries many windows' worth, both ways.
func TestStalledChannelDoesNotBlockOthers(t *testing.T) {
	ctx := testCtx(t)
	const window = 8 << 10
	cli, srv, accepted := muxPair(t, Config{Window: window})
	stalledA, err := cli.Open(ctx, "stalled", nil)
	if err != nil {
		t.Fatal(err)
	}
	stalledB := receive(t, accepted)
	// Fill the stalled channel in both directions until its senders block.
	sent := make(chan int, 2)
	for _, ch := range []*Channel{stalledA, stalledB} {
		go func() {
			n := 0
			for ch.Send(ctx, make([]byte, 1000)) == nil {
				n++
			}
			sent <- n
		}()
	}
	waitFor(t, func() bool { return creditOf(stalledA) <= 0 && creditOf(stalledB) <= 0 }, "stalled senders to run out of credit")

	liveA, err := cli.Open(ctx, "live", nil)
	if err != nil {
		t.Fatal(err)
	}
	liveB := receive(t, accepted)
	const frames, size = 2000, 1000 // about 250 windows
	errc := make(chan error, 4)
	go func() { errc <- sendFrames(ctx, liveA, "live", frames, size) }()
	go func() { errc <- recvFrames(ctx, liveB, "live", frames, size) }()
	go func() { errc <- sendFrames(ctx, liveB, "live", frames, size) }()
	go func() { errc <- recvFrames(ctx, liveA, "live", frames, size) }()
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	// The stalled channel's buffers stayed bounded by its window.
	for _, ch := range []*Channel{stalledA, stalledB} {
		ch.mu.Lock()
		buffered := ch.buffered
		ch.mu.Unlock()
		if buffered > window+cost(1000) {
			t.Errorf("stalled channel buffers %d bytes, window %d", buffered, window)
		}
	}
	// Reading the stalled channel releases its senders, nothing lost.
	stalledA.Close()
	for range 2 {
		<-sent
	}
	waitFor(t, func() bool { return srv.Channels() == 1 && cli.Channels() == 1 }, "the stalled channel forgotten at both ends")
}

func creditOf(ch *Channel) int64 {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.credit
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestClose covers both ends closing a channel and the connection failing.
func TestClose(t *testing.T) {
	tests := []struct {
		name   string
		act    func(a, b *Channel, cli, srv *Conn) (other *Channel) // returns the end to check
		check  func(t *testing.T, err error)
		onBoth bool // the error reaches both channel ends
	}{
		{"acceptor refuses with a reason", func(a, b *Channel, _, _ *Conn) *Channel { b.CloseWithReason("authentication failed"); return a },
			func(t *testing.T, err error) {
				var ce *ClosedError
				if !errors.As(err, &ce) || !ce.ByPeer || ce.Reason != "authentication failed" {
					t.Fatalf("err = %v", err)
				}
			}, false},
		{"dialer closes", func(a, b *Channel, _, _ *Conn) *Channel { a.Close(); return b },
			func(t *testing.T, err error) {
				var ce *ClosedError
				if !errors.As(err, &ce) || !ce.ByPeer {
					t.Fatalf("err = %v", err)
				}
			}, false},
		{"connection cut", func(a, b *Channel, cli, _ *Conn) *Channel { cli.link.Close(); return b },
			func(t *testing.T, err error) {
				if err == nil {
					t.Fatal("no error")
				}
			}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			cli, srv, accepted := muxPair(t, Config{})
			a, err := cli.Open(ctx, "s", nil)
			if err != nil {
				t.Fatal(err)
			}
			b := receive(t, accepted)
			if err := b.Send(ctx, []byte("before")); err != nil {
				t.Fatal(err)
			}
			if f, err := a.Recv(ctx); err != nil || string(f) != "before" {
				t.Fatalf("recv %q %v", f, err)
			}
			// The other end sees the close; its Recv and Send fail.
			other := tt.act(a, b, cli, srv)
			_, err = other.Recv(ctx)
			tt.check(t, err)
			if err := other.Send(ctx, []byte("after")); err == nil {
				t.Fatal("send after close succeeded")
			}
			if tt.onBoth {
				for _, ch := range []*Channel{a, b} {
					<-ch.Done()
				}
			}
		})
	}
}

// TestQueuedFramesSurvivePeerClose: frames sent before CLOSE are read.
func TestQueuedFramesSurvivePeerClose(t *testing.T) {
	ctx := testCtx(t)
	cli, _, accepted := muxPair(t, Config{})
	a, err := cli.Open(ctx, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := receive(t, accepted)
	if err := sendFrames(ctx, a, "s", 10, 50); err != nil {
		t.Fatal(err)
	}
	a.CloseWithReason("done")
	<-b.Done()
	if err := recvFrames(ctx, b, "s", 10, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Recv(ctx); err == nil {
		t.Fatal("recv after the queued frames succeeded")
	}
}

// TestPeerBeyondWindow: a peer that ignores flow control fails the
// connection instead of growing the receiver's buffers.
func TestPeerBeyondWindow(t *testing.T) {
	ctx := testCtx(t)
	cl, sl := wsPair(t)
	accepted := make(chan *Channel, 1)
	srv := Server(sl, Config{Window: 4096}, func(ch *Channel) { accepted <- ch })
	defer srv.Close()
	open, _ := openFrame(1, "s", nil)
	if err := cl.Send(ctx, open); err != nil {
		t.Fatal(err)
	}
	receive(t, accepted) // never read
	for i := 0; i < 100 && srv.Err() == nil; i++ {
		cl.Send(ctx, append(appendHeader(nil, typeData, 1), make([]byte, 1000)...))
	}
	srv.Wait()
	if !errors.Is(srv.Err(), ErrProtocol) {
		t.Fatalf("err = %v, want ErrProtocol", srv.Err())
	}
}

// TestProtocolErrors: frames a dialer or acceptor must not receive.
func TestProtocolErrors(t *testing.T) {
	open1, _ := openFrame(1, "s", nil)
	tests := []struct {
		name     string
		acceptor bool
		frames   [][]byte
	}{
		{"open sent to the dialer", false, [][]byte{open1}},
		{"reused channel id", true, [][]byte{open1, open1}},
		{"garbage", true, [][]byte{{1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			cl, sl := wsPair(t)
			var c *Conn
			if tt.acceptor {
				c = Server(sl, Config{}, func(ch *Channel) {})
			} else {
				c = Client(sl, Config{})
			}
			defer c.Close()
			for _, f := range tt.frames {
				cl.Send(ctx, f)
			}
			c.Wait()
			if !errors.Is(c.Err(), ErrProtocol) {
				t.Fatalf("err = %v, want ErrProtocol", c.Err())
			}
		})
	}
}

// TestUnknownChannelFramesDropped: data, credit and close for channels that
// do not exist (closed here, crossing on the wire) are ignored.
func TestUnknownChannelFramesDropped(t *testing.T) {
	ctx := testCtx(t)
	cl, sl := wsPair(t)
	accepted := make(chan *Channel, 1)
	srv := Server(sl, Config{}, func(ch *Channel) { accepted <- ch })
	defer srv.Close()
	for _, f := range [][]byte{
		append(appendHeader(nil, typeData, 5), "x"...), creditFrame(5, 10), closeFrame(5, "gone"),
	} {
		if err := cl.Send(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	open, _ := openFrame(6, "s", nil)
	cl.Send(ctx, open)
	b := receive(t, accepted)
	if b.Name() != "s" || srv.Err() != nil {
		t.Fatalf("after unknown frames: %q %v", b.Name(), srv.Err())
	}
}

func FuzzParseFrame(f *testing.F) {
	open, _ := openFrame(7, "sess-1", []byte(`{"a":1}`))
	for _, s := range [][]byte{open, creditFrame(1, 5), closeFrame(3, "bye"), append(appendHeader(nil, typeData, 2), "x"...), {}, {3}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseFrame(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error does not wrap ErrProtocol: %v", err)
			}
			return
		}
		// What parses re-encodes to the same bytes.
		var re []byte
		switch fr.typ {
		case typeOpen:
			name, data, err := parseOpen(fr.body)
			if err != nil {
				t.Fatal(err)
			}
			if re, err = openFrame(fr.id, name, data); err != nil {
				t.Fatal(err)
			}
		default:
			re = append(appendHeader(nil, fr.typ, fr.id), fr.body...)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoded %x, want %x", re, b)
		}
	})
}

// TestConcurrentOpens: channels opened from many goroutines at once all
// reach the acceptor (ids arrive in order).
func TestConcurrentOpens(t *testing.T) {
	ctx := testCtx(t)
	cli, srv, accepted := muxPair(t, Config{})
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cli.Open(ctx, fmt.Sprintf("s-%d", i), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for range n {
		seen[receive(t, accepted).Name()] = true
	}
	if len(seen) != n || srv.Err() != nil {
		t.Fatalf("accepted %d distinct channels, err %v", len(seen), srv.Err())
	}
}

// TestOnReadyTryRecv reads a channel on demand: the callback fires for
// queued frames and for the end, and TryRecv returns every frame in order
// and then the end.
func TestOnReadyTryRecv(t *testing.T) {
	ctx := testCtx(t)
	cli, _, accepted := muxPair(t, Config{Window: 4096})
	a, err := cli.Open(ctx, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := receive(t, accepted)
	kicks := make(chan struct{}, 1)
	b.OnReady(func() { signal(kicks) })
	const n = 300
	go sendFrames(ctx, a, "s", n, 100) // beyond the window: needs TryRecv to grant credit
	got := 0
	for got < n {
		select {
		case <-kicks:
		case <-ctx.Done():
			t.Fatalf("after %d frames: %v", got, ctx.Err())
		}
		for {
			f, ok, err := b.TryRecv()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if want := frameBytes("s", got, 100); !bytes.Equal(f, want) {
				t.Fatalf("frame %d: %q", got, f[:20])
			}
			got++
		}
	}
	a.CloseWithReason("bye")
	for {
		<-kicks
		if _, ok, err := b.TryRecv(); !ok && err != nil {
			break
		}
	}
}

// BenchmarkChannel moves 32 KiB frames one way through one channel over a
// loopback websocket, and through several channels at once.
func BenchmarkChannel(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("channels=%d", n), func(b *testing.B) {
			cl, sl := wsPairB(b)
			accepted := make(chan *Channel, n)
			srv := Server(sl, Config{}, func(ch *Channel) { accepted <- ch })
			cli := Client(cl, Config{})
			defer func() { cli.Close(); srv.Close(); cli.Wait(); srv.Wait() }()
			ctx := context.Background()
			frame := make([]byte, 32<<10)
			b.SetBytes(int64(len(frame)))
			var wg sync.WaitGroup
			per := b.N/n + 1
			b.ResetTimer()
			for i := range n {
				a, err := cli.Open(ctx, fmt.Sprint(i), nil)
				if err != nil {
					b.Fatal(err)
				}
				r := <-accepted
				wg.Add(2)
				go func() {
					defer wg.Done()
					for range per {
						if a.Send(ctx, frame) != nil {
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					for range per {
						if _, err := r.Recv(ctx); err != nil {
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

func wsPairB(b *testing.B) (Link, Link) {
	srvc := make(chan *websocket.Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(16 << 20)
		srvc <- c
	}))
	b.Cleanup(hs.Close)
	cc, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	cc.SetReadLimit(16 << 20)
	return wstransport.New(cc), wstransport.New(<-srvc)
}

// BenchmarkRawLink is BenchmarkChannel's baseline: the same frames on the
// bare websocket.
func BenchmarkRawLink(b *testing.B) {
	cl, sl := wsPairB(b)
	defer cl.Close()
	defer sl.Close()
	ctx := context.Background()
	frame := make([]byte, 32<<10)
	b.SetBytes(int64(len(frame)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range b.N {
			if _, err := sl.Recv(ctx); err != nil {
				return
			}
		}
	}()
	for range b.N {
		if err := cl.Send(ctx, frame); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}

// TestDifferentWindows: each end grants its own window; ends configured
// differently still carry everything both ways.
func TestDifferentWindows(t *testing.T) {
	ctx := testCtx(t)
	cl, sl := wsPair(t)
	accepted := make(chan *Channel, 1)
	srv := Server(sl, Config{Window: 64 << 10}, func(ch *Channel) { accepted <- ch })
	cli := Client(cl, Config{Window: 2048})
	defer func() { cli.Close(); srv.Close(); cli.Wait(); srv.Wait() }()
	a, err := cli.Open(ctx, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := receive(t, accepted)
	errc := make(chan error, 4)
	go func() { errc <- sendFrames(ctx, a, "s", 300, 3000) }()
	go func() { errc <- recvFrames(ctx, b, "s", 300, 3000) }()
	go func() { errc <- sendFrames(ctx, b, "s", 300, 3000) }()
	go func() { errc <- recvFrames(ctx, a, "s", 300, 3000) }()
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if srv.Err() != nil || cli.Err() != nil {
		t.Fatalf("errors: %v / %v", srv.Err(), cli.Err())
	}
}
