package stream_test

import (
	"context"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/stream/streamtest"
	"github.com/tether-ssm/tether/internal/wire"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testContext returns a context that ends with the test or after d.
func testContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newEndpoint builds an endpoint and closes it (abruptly) at cleanup.
func newEndpoint(t testing.TB, cfg stream.Config) *stream.Endpoint {
	t.Helper()
	ep, err := stream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = ep.Close(ctx)
	})
	return ep
}

// rawPeer is the far end of a pipe driven by hand, speaking wire frames.
type rawPeer struct {
	t   testing.TB
	end *streamtest.PipeEnd
}

func (p rawPeer) recv(ctx context.Context) wire.Message {
	p.t.Helper()
	f, err := p.end.Recv(ctx)
	if err != nil {
		p.t.Fatalf("raw peer recv: %v", err)
	}
	m, err := wire.Decode(f)
	if err != nil {
		p.t.Fatalf("raw peer decode: %v", err)
	}
	return m
}

func (p rawPeer) recvRaw(ctx context.Context) []byte {
	p.t.Helper()
	f, err := p.end.Recv(ctx)
	if err != nil {
		p.t.Fatalf("raw peer recv: %v", err)
	}
	return f
}

func (p rawPeer) send(ctx context.Context, m wire.Message) {
	p.t.Helper()
	if m.CreatedDate == 0 {
		m.CreatedDate = wire.Millis(epoch)
	}
	if m.SchemaVersion == 0 {
		m.SchemaVersion = 1
	}
	if m.MessageID.IsZero() {
		m.MessageID = wire.NewUUID()
	}
	f, err := wire.Encode(&m)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.end.Send(ctx, f); err != nil {
		p.t.Fatalf("raw peer send: %v", err)
	}
}

// ack sends the plugin's/agent's acknowledge of m.
func (p rawPeer) ack(ctx context.Context, m wire.Message) {
	p.t.Helper()
	p.send(ctx, wire.Message{
		MessageType: wire.TypeAcknowledge,
		Flags:       wire.FlagsAck,
		Payload:     wire.AppendAcknowledge(nil, wire.AckOf(&m)),
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval only; correctness never depends on it
	}
}
