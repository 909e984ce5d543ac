package stream_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/stream/streamtest"
	"github.com/tether-ssm/tether/internal/wire"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  stream.Config
		ok   bool
	}{
		{"zero role", stream.Config{}, false},
		{"defaults", stream.Config{Role: stream.RoleClient}, true},
		{"interop max payload", stream.Config{Role: stream.RoleAgent, MaxPayload: 1025}, false},
		{"interop cumulative", stream.Config{Role: stream.RoleAgent, CumulativeAck: true}, false},
		{"interop no digest", stream.Config{Role: stream.RoleAgent, OmitDigest: true}, false},
		{"fast extensions", stream.Config{Role: stream.RoleAgent, Mode: stream.ModeFast, CumulativeAck: true, OmitDigest: true, MaxPayload: 64 << 10}, true},
		{"negative window", stream.Config{Role: stream.RoleAgent, SendWindowBytes: -1}, false},
		{"default config", stream.DefaultConfig(stream.RoleClient, stream.ModeFast), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
			if err != nil && !errors.Is(err, stream.ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
		})
	}
}

// TestInteropWire checks the frames an agent-role endpoint exchanges with a
// peer that behaves as the plugin, field by field.
func TestInteropWire(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 10*time.Second)
	clk := streamtest.NewClock(epoch)
	ep := newEndpoint(t, stream.Config{Role: stream.RoleAgent, Clock: clk})
	a, b := streamtest.Pipe(64)
	if err := ep.Attach(a); err != nil {
		t.Fatal(err)
	}
	plugin := rawPeer{t, b}

	// Agent output: output_stream_data, seq 0 with SYN, then seq 1 without.
	if _, err := ep.Write(ctx, wire.PayloadOutput, bytes.Repeat([]byte("x"), 1500)); err != nil {
		t.Fatal(err)
	}
	m0, m1 := plugin.recv(ctx), plugin.recv(ctx)
	for i, tc := range []struct {
		m     wire.Message
		seq   int64
		flags uint64
		n     int
	}{{m0, 0, wire.FlagSYN, 1024}, {m1, 1, 0, 476}} {
		if tc.m.MessageType != wire.TypeOutputStreamData || tc.m.SequenceNumber != tc.seq || tc.m.Flags != tc.flags ||
			len(tc.m.Payload) != tc.n || tc.m.PayloadType != wire.PayloadOutput || tc.m.SchemaVersion != 1 ||
			tc.m.CreatedDate != wire.Millis(epoch) {
			t.Fatalf("message %d: %+v", i, tc.m)
		}
	}
	plugin.ack(ctx, m0)
	plugin.ack(ctx, m1)
	eventually(t, 5*time.Second, "acks processed", func() bool { return ep.Stats().Unacked == 0 })

	// Client input: the endpoint acks exactly as the agent does.
	in := wire.Message{MessageType: wire.TypeInputStreamData, SequenceNumber: 0, PayloadType: wire.PayloadSize,
		Payload: []byte(`{"cols":80,"rows":24}`), MessageID: wire.NewUUID()}
	plugin.send(ctx, in)
	ack := plugin.recv(ctx)
	wantAck := `{"AcknowledgedMessageType":"input_stream_data","AcknowledgedMessageId":"` + in.MessageID.String() +
		`","AcknowledgedMessageSequenceNumber":0,"IsSequentialMessage":true}`
	if ack.MessageType != wire.TypeAcknowledge || ack.Flags != 3 || ack.SequenceNumber != 0 ||
		ack.PayloadType != 0 || string(ack.Payload) != wantAck {
		t.Fatalf("ack = %+v %s", ack, ack.Payload)
	}
	p, err := ep.Read(ctx)
	if err != nil || p.Type != wire.PayloadSize || p.Seq != 0 || string(p.Data) != `{"cols":80,"rows":24}` {
		t.Fatalf("Read = %+v, %v", p, err)
	}

	// A duplicate is re-acked (the agent does; the plugin would not).
	plugin.send(ctx, in)
	if again := plugin.recv(ctx); again.MessageType != wire.TypeAcknowledge || string(again.Payload) != wantAck {
		t.Fatalf("re-ack = %s", again.Payload)
	}

	// Out of order: 2 then 1; both acked on receipt, read as 1, 2.
	m2 := wire.Message{MessageType: wire.TypeInputStreamData, SequenceNumber: 2, PayloadType: wire.PayloadOutput, Payload: []byte("two")}
	m1in := wire.Message{MessageType: wire.TypeInputStreamData, SequenceNumber: 1, PayloadType: wire.PayloadOutput, Payload: []byte("one")}
	plugin.send(ctx, m2)
	plugin.send(ctx, m1in)
	for _, want := range []int64{2, 1} {
		a := plugin.recv(ctx)
		got, err := wire.ParseAcknowledge(a.Payload)
		if err != nil || got.AcknowledgedMessageSequenceNumber != want {
			t.Fatalf("ack %v, %v; want seq %d", got, err, want)
		}
	}
	for _, want := range []string{"one", "two"} {
		p, err := ep.Read(ctx)
		if err != nil || string(p.Data) != want {
			t.Fatalf("Read = %q, %v; want %q", p.Data, err, want)
		}
	}
	if s := ep.Stats(); s.Duplicates != 1 || s.OutOfOrder != 1 || s.Delivered != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// TestRetransmit checks RTO-driven resends: byte-identical, after the RTO of
// protocol.md §4.4, and stopped by the ack.
func TestRetransmit(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 10*time.Second)
	clk := streamtest.NewClock(epoch)
	ep := newEndpoint(t, stream.Config{Role: stream.RoleClient, Clock: clk})
	a, b := streamtest.Pipe(64)
	if err := ep.Attach(a); err != nil {
		t.Fatal(err)
	}
	agent := rawPeer{t, b}
	if _, err := ep.Write(ctx, wire.PayloadOutput, []byte("ls\r")); err != nil {
		t.Fatal(err)
	}
	first := agent.recvRaw(ctx)
	m, _ := wire.Decode(first)
	if m.MessageType != wire.TypeInputStreamData || m.Flags != 0 {
		t.Fatalf("client message %+v", m)
	}
	// 100 ms: the scan runs, but the 200 ms RTO has not passed.
	eventually(t, 5*time.Second, "resend timer armed", func() bool { return clk.Armed() == 1 })
	clk.Advance(100 * time.Millisecond)
	eventually(t, 5*time.Second, "resend timer re-armed", func() bool { return clk.Armed() == 1 })
	if s := ep.Stats(); s.Resent != 0 {
		t.Fatalf("resent before the RTO: %+v", s)
	}
	clk.Advance(100 * time.Millisecond)
	again := agent.recvRaw(ctx)
	if !bytes.Equal(first, again) {
		t.Fatalf("resend differs:\n%x\n%x", first, again)
	}
	agent.ack(ctx, m)
	eventually(t, 5*time.Second, "ack processed", func() bool { return ep.Stats().Unacked == 0 })
	if rto := ep.Stats().RTO; rto < 10*time.Millisecond || rto > time.Second {
		t.Fatalf("RTO after one sample = %v", rto)
	}
}

// TestResumeResendsInOrder replaces the transport with messages unacked and
// checks they are all resent, in order, byte for byte, on the new one.
func TestResumeResendsInOrder(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 10*time.Second)
	clk := streamtest.NewClock(epoch)
	ep := newEndpoint(t, stream.Config{Role: stream.RoleAgent, Clock: clk})
	a1, b1 := streamtest.Pipe(64)
	if err := ep.Attach(a1); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b", "c"} {
		if _, err := ep.Write(ctx, wire.PayloadOutput, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	old := rawPeer{t, b1}
	var frames [][]byte
	for range 3 {
		frames = append(frames, old.recvRaw(ctx))
	}
	m1, _ := wire.Decode(frames[1])
	old.ack(ctx, m1) // only "b" is acknowledged
	eventually(t, 5*time.Second, "ack processed", func() bool { return ep.Stats().Unacked == 2 })
	b1.Sever() // half-open: the endpoint does not notice

	a2, b2 := streamtest.Pipe(64)
	if err := ep.Attach(a2); err != nil {
		t.Fatal(err)
	}
	peer := rawPeer{t, b2}
	for _, want := range [][]byte{frames[0], frames[2]} {
		if got := peer.recvRaw(ctx); !bytes.Equal(got, want) {
			t.Fatalf("after resume got %x, want %x", got, want)
		}
	}
}

// TestPublicationPause checks that pause_publication stops data (not acks)
// and start_publication resumes it.
func TestPublicationPause(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 10*time.Second)
	var controls []string
	ctrl := make(chan string, 8)
	ep := newEndpoint(t, stream.Config{Role: stream.RoleAgent, Clock: streamtest.NewClock(epoch),
		OnControl: func(m *wire.Message) { ctrl <- m.MessageType }})
	a, b := streamtest.Pipe(64)
	if err := ep.Attach(a); err != nil {
		t.Fatal(err)
	}
	gw := rawPeer{t, b}
	gw.send(ctx, wire.Message{MessageType: wire.TypePausePublication})
	controls = append(controls, <-ctrl)
	if _, err := ep.Write(ctx, wire.PayloadOutput, []byte("held")); err != nil {
		t.Fatal(err)
	}
	// Acks still flow while paused... but any input_stream_data also
	// resumes publication (as the agent does), so probe with a
	// channel_closed round trip instead: it arrives after any data the
	// endpoint might wrongly have sent.
	if err := ep.SendControl(wire.Message{MessageType: wire.TypeAgentSessionState,
		Flags: wire.FlagsAck, Payload: []byte(`{"SchemaVersion":1,"SessionState":"Connected","SessionId":"s"}`)}); err != nil {
		t.Fatal(err)
	}
	if m := gw.recv(ctx); m.MessageType != wire.TypeAgentSessionState {
		t.Fatalf("while paused got %s", m.MessageType)
	}
	gw.send(ctx, wire.Message{MessageType: wire.TypeStartPublication})
	controls = append(controls, <-ctrl)
	if m := gw.recv(ctx); m.MessageType != wire.TypeOutputStreamData || string(m.Payload) != "held" {
		t.Fatalf("after start got %+v", m)
	}
	if len(controls) != 2 || controls[0] != wire.TypePausePublication || controls[1] != wire.TypeStartPublication {
		t.Fatalf("OnControl saw %v", controls)
	}
}

func TestWriteLimits(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 10*time.Second)
	ep := newEndpoint(t, stream.Config{Role: stream.RoleClient, MaxControlPayload: 10})
	if n, err := ep.Write(ctx, wire.PayloadHandshakeResponse, make([]byte, 11)); !errors.Is(err, stream.ErrTooLarge) || n != 0 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if n, err := ep.Write(ctx, wire.PayloadOutput, nil); err != nil || n != 0 {
		t.Fatalf("empty Write = %d, %v", n, err)
	}
	if err := ep.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ep.Write(ctx, wire.PayloadOutput, []byte("x")); !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
	if _, err := ep.Read(ctx); !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
	a, _ := streamtest.Pipe(1)
	if err := ep.Attach(a); !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("Attach after Close = %v", err)
	}
}

// TestCloseWaitsForAcks: Close returns once the peer has acknowledged
// everything, and reports what is left when its context ends first.
func TestCloseWaitsForAcks(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 10*time.Second)
	ep := newEndpoint(t, stream.Config{Role: stream.RoleClient, Clock: streamtest.NewClock(epoch)})
	a, b := streamtest.Pipe(64)
	_ = ep.Attach(a)
	if _, err := ep.Write(ctx, wire.PayloadOutput, []byte("bye")); err != nil {
		t.Fatal(err)
	}
	peer := rawPeer{t, b}
	m := peer.recv(ctx)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := ep.Close(short); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close without ack = %v", err)
	}

	ep2 := newEndpoint(t, stream.Config{Role: stream.RoleClient, Clock: streamtest.NewClock(epoch)})
	a2, b2 := streamtest.Pipe(64)
	_ = ep2.Attach(a2)
	if _, err := ep2.Write(ctx, wire.PayloadOutput, []byte("bye")); err != nil {
		t.Fatal(err)
	}
	peer2 := rawPeer{t, b2}
	m = peer2.recv(ctx)
	done := make(chan error, 1)
	go func() { done <- ep2.Close(ctx) }()
	peer2.ack(ctx, m)
	if err := <-done; err != nil {
		t.Fatalf("Close after ack = %v", err)
	}
}

// TestEnableFast switches both endpoints to fast mode mid-stream, as the
// handshake negotiation does, and checks that data keeps flowing, now in
// large messages with cumulative acks and without digests.
func TestEnableFast(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 10*time.Second)
	client := newEndpoint(t, stream.Config{Role: stream.RoleClient})
	agent := newEndpoint(t, stream.Config{Role: stream.RoleAgent})
	a, b := streamtest.Pipe(64)
	_ = client.Attach(a)
	_ = agent.Attach(b)
	data := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	check := func(wantMax int) {
		t.Helper()
		go func() { _, _ = agent.Write(ctx, wire.PayloadOutput, data) }()
		var got []byte
		biggest := 0
		for len(got) < len(data) {
			p, err := client.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p.Data...)
			biggest = max(biggest, len(p.Data))
		}
		if !bytes.Equal(got, data) || biggest != wantMax {
			t.Fatalf("got %d bytes (equal %v), largest message %d, want %d", len(got), bytes.Equal(got, data), biggest, wantMax)
		}
	}
	check(1024)
	for _, ep := range []*stream.Endpoint{client, agent} {
		if err := ep.EnableFast(ctx, stream.FastOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	check(64 << 10)
	if err := agent.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c := agent.Config(); c.Mode != stream.ModeFast || !c.CumulativeAck || !c.OmitDigest || c.MaxPayload != 64<<10 {
		t.Fatalf("config after EnableFast: %+v", c)
	}
}

// TestTransportErrorResume: a failing transport is reported once through
// OnTransportError, which may re-attach at once; nothing written is lost.
func TestTransportErrorResume(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 10*time.Second)
	peerEnds := make(chan *streamtest.PipeEnd, 4)
	failures := make(chan error, 4)
	var ep *stream.Endpoint
	ep = newEndpoint(t, stream.Config{Role: stream.RoleClient, Clock: streamtest.NewClock(epoch),
		OnTransportError: func(_ stream.Transport, err error) {
			failures <- err
			a, b := streamtest.Pipe(64)
			peerEnds <- b
			if err := ep.Attach(a); err != nil {
				t.Error(err)
			}
		}})
	a, b := streamtest.Pipe(64)
	if err := ep.Attach(a); err != nil {
		t.Fatal(err)
	}
	if err := ep.Attach(nil); err == nil {
		t.Fatal("Attach(nil) accepted")
	}
	if _, err := ep.Write(ctx, wire.PayloadOutput, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if m := (rawPeer{t, b}).recv(ctx); string(m.Payload) != "first" {
		t.Fatalf("got %q", m.Payload)
	}
	_ = b.Close() // the connection drops; the ack never came
	if err := <-failures; !errors.Is(err, streamtest.ErrClosed) {
		t.Fatalf("OnTransportError got %v", err)
	}
	peer := rawPeer{t, <-peerEnds}
	m := peer.recv(ctx)
	if string(m.Payload) != "first" || m.SequenceNumber != 0 {
		t.Fatalf("after resume got seq %d %q", m.SequenceNumber, m.Payload)
	}
	peer.ack(ctx, m)
	if err := ep.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-failures:
		t.Fatalf("second failure reported: %v", err)
	default:
	}
}
