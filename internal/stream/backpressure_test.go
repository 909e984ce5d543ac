package stream_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/stream/streamtest"
	"github.com/tether-ssm/tether/internal/wire"
)

// TestBackpressure: a reader that stops reading makes the writer block once
// the sender's window and the receiver's buffer are full, memory stays
// bounded while time passes and retransmission timers run, and everything
// arrives, in order, once the reader reads again.
func TestBackpressure(t *testing.T) {
	const (
		window = 64 << 10
		buffer = 32 << 10
		chunk  = 1024
	)
	ctx := testContext(t, 10*time.Second)
	clk := streamtest.NewClock(epoch)
	cfg := func(r stream.Role) stream.Config {
		return stream.Config{Role: r, Clock: clk,
			SendWindowBytes: window, SendWindowMessages: window / chunk,
			RecvBufferBytes: buffer, RecvBufferMessages: buffer / chunk}
	}
	client := newEndpoint(t, cfg(stream.RoleClient))
	agent := newEndpoint(t, cfg(stream.RoleAgent))
	a, b := streamtest.Pipe(16)
	_ = client.Attach(a)
	_ = agent.Attach(b)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	// The writer writes until it blocks; the agent's application reads nothing.
	var mu sync.Mutex
	written := 0
	writerDone := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for i := 0; ; i++ {
			buf[0], buf[1] = byte(i), byte(i>>8)
			if _, err := client.Write(ctx, wire.PayloadOutput, buf); err != nil {
				writerDone <- err
				return
			}
			mu.Lock()
			written += chunk
			mu.Unlock()
		}
	}()
	// It gets exactly the window plus the receiver's buffers through: the
	// inbox and, parked behind it, as much again (the receiver keeps reading
	// its transport so that acks of its own writes are never stuck).
	const bound = window + 2*buffer
	eventually(t, 10*time.Second, "window and buffers full", func() bool {
		mu.Lock()
		n := written
		mu.Unlock()
		return n == bound && client.Stats().UnackedBytes == window && agent.Stats().BufferedBytes == 2*buffer
	})
	// Time passes, retransmission timers fire; nothing grows. (The client's
	// sender is itself blocked in Send on the full pipe.)
	for range 50 {
		clk.Advance(time.Second)
	}
	mu.Lock()
	got := written
	mu.Unlock()
	if got != bound {
		t.Fatalf("writer got %d bytes through, bound is %d", got, bound)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	n, err := client.Write(short, wire.PayloadOutput, make([]byte, chunk))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || n != 0 {
		t.Fatalf("Write on a full window = %d, %v; want it to block", n, err)
	}
	cs, as := client.Stats(), agent.Stats()
	if cs.UnackedBytes > window || cs.Unacked > window/chunk || as.BufferedBytes > 2*buffer || as.Buffered > 2*buffer/chunk {
		t.Fatalf("bounds exceeded: client %+v agent %+v", cs, as)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Fatalf("heap grew by %d bytes while blocked", grew)
	}

	// The reader comes back: everything arrives in order. Messages the full
	// receiver dropped come back when their retransmission timer fires, so
	// fake time moves on whenever the reader waits.
	read := func() (stream.Payload, error) {
		for {
			short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
			p, err := agent.Read(short)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				return p, err
			}
			clk.Advance(100 * time.Millisecond)
		}
	}
	for i := 0; ; i++ {
		p, err := read()
		if err != nil {
			t.Fatalf("read %d: %v\nclient %s\nagent %s", i, err, client.StateForTest(), agent.StateForTest())
		}
		if p.Seq != int64(i) || p.Data[0] != byte(i) || p.Data[1] != byte(i>>8) || len(p.Data) != chunk {
			t.Fatalf("message %d: seq %d data %x", i, p.Seq, p.Data[:2])
		}
		if i == 3*bound/chunk {
			break // the writer got well past the old bound
		}
	}
	// The reader stops again; abort: the blocked writer gets ErrClosed.
	aborted, cancelAbort := context.WithCancel(ctx)
	cancelAbort()
	if err := client.Close(aborted); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want it to report unacknowledged data", err)
	}
	if err := <-writerDone; !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("writer ended with %v", err)
	}
}

// pluginPeer emulates the real plugin's receive rules (protocol.md §4.3):
// in-order data is processed and acked, data ahead is buffered and acked, and
// duplicates are dropped silently: never re-acked.
type pluginPeer struct {
	rawPeer
	expected int64
	ahead    map[int64][]byte
	got      [][]byte
}

func (p *pluginPeer) handle(ctx context.Context, m wire.Message, ack bool) {
	switch {
	case m.SequenceNumber < p.expected:
		return // the quirk
	case m.SequenceNumber > p.expected:
		p.ahead[m.SequenceNumber] = m.Payload
	default:
		p.got = append(p.got, m.Payload)
		p.expected++
		for d, ok := p.ahead[p.expected]; ok; d, ok = p.ahead[p.expected] {
			delete(p.ahead, p.expected)
			p.got = append(p.got, d)
			p.expected++
		}
	}
	if ack {
		p.ack(ctx, m)
	}
}

// TestPluginNeverReacks: messages the plugin processed but whose acks were
// lost with a transport are resent after resume and never acknowledged; with
// PresumeDeliveredAfter they are released once later messages keep being
// acknowledged, so the window does not fill with them, and the plugin saw
// every message exactly once.
func TestPluginNeverReacks(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	clk := streamtest.NewClock(epoch)
	const presume = 5
	ep := newEndpoint(t, stream.Config{Role: stream.RoleAgent, Clock: clk,
		SendWindowMessages: 8, PresumeDeliveredAfter: presume})
	a1, b1 := streamtest.Pipe(64)
	_ = ep.Attach(a1)
	plugin := &pluginPeer{rawPeer: rawPeer{t, b1}, ahead: map[int64][]byte{}}
	var want [][]byte
	write := func(s string) {
		t.Helper()
		want = append(want, []byte(s))
		if _, err := ep.Write(ctx, wire.PayloadOutput, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	// Four messages are processed but their acks are lost with the transport.
	for _, s := range []string{"z0", "z1", "z2", "z3"} {
		write(s)
		plugin.handle(ctx, plugin.recv(ctx), false)
	}
	a2, b2 := streamtest.Pipe(64)
	_ = ep.Attach(a2)
	plugin.rawPeer = rawPeer{t, b2}
	for range 4 { // resent after resume: duplicates, silently dropped
		plugin.handle(ctx, plugin.recv(ctx), true)
	}
	for i := 0; ep.Stats().Presumed < 4; i++ {
		if i > presume+2 {
			t.Fatalf("zombies not released after %d rounds: %+v\n%s", i, ep.Stats(), ep.StateForTest())
		}
		clk.Advance(time.Millisecond) // the ack below comes after the last resend
		write("live" + string(rune('a'+i)))
		plugin.handle(ctx, plugin.recv(ctx), true)
		eventually(t, 5*time.Second, "ack processed", func() bool { return ep.Stats().Unacked <= 4 })
		eventually(t, 5*time.Second, "timer armed", func() bool { return clk.Armed() == 1 })
		before := ep.Stats()
		clk.Advance(time.Second)
		eventually(t, 5*time.Second, "resend scan", func() bool {
			s := ep.Stats()
			return s.Resent > before.Resent || s.Presumed > before.Presumed
		})
		for range ep.Stats().Unacked {
			plugin.handle(ctx, plugin.recv(ctx), true)
		}
	}
	if err := ep.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(plugin.got) != len(want) {
		t.Fatalf("plugin got %d messages, want %d", len(plugin.got), len(want))
	}
	for i := range want {
		if !bytes.Equal(plugin.got[i], want[i]) {
			t.Fatalf("message %d = %q, want %q", i, plugin.got[i], want[i])
		}
	}
}

// TestFastModeNeverPresumes: after EnableFast the peer is Tether, which
// re-acknowledges duplicates, so a message it dropped (its buffers were
// full) while it acknowledged a later one is resent until it is
// acknowledged, however long that takes: the agent's PresumeDeliveredAfter
// (meant for the real plugin) must not release it. Releasing it lost the
// message and stalled the stream for good.
func TestFastModeNeverPresumes(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	clk := streamtest.NewClock(epoch)
	const presume = 2
	ep := newEndpoint(t, stream.Config{Role: stream.RoleAgent, Clock: clk, PresumeDeliveredAfter: presume})
	if err := ep.EnableFast(ctx, stream.FastOptions{}); err != nil {
		t.Fatal(err)
	}
	a, b := streamtest.Pipe(64)
	_ = ep.Attach(a)
	peer := rawPeer{t, b}
	for _, s := range []string{"m0", "m1"} {
		if _, err := ep.Write(ctx, wire.PayloadOutput, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	m0 := peer.recv(ctx) // dropped by the peer: no ack
	peer.ack(ctx, peer.recv(ctx))
	eventually(t, 5*time.Second, "ack of m1 processed", func() bool { return ep.Stats().Unacked == 1 })
	for round := range 3 * presume {
		eventually(t, 5*time.Second, "timer armed", func() bool { return clk.Armed() == 1 })
		clk.Advance(time.Second)
		if m := peer.recv(ctx); m.SequenceNumber != m0.SequenceNumber {
			t.Fatalf("round %d: resent seq %d, want %d", round, m.SequenceNumber, m0.SequenceNumber)
		}
		if s := ep.Stats(); s.Presumed != 0 || s.Unacked != 1 {
			t.Fatalf("round %d: m0 released without an ack: %+v", round, s)
		}
	}
	peer.ack(ctx, m0)
	if err := ep.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
