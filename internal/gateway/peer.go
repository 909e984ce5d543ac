package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/wire"
)

// peer is one authenticated websocket: a client or agent data channel, or
// an agent control channel. Writes are safe from any goroutine; one reader
// goroutine (the HTTP handler's) owns reads.
type peer struct {
	conn   *websocket.Conn
	kind   string // "client", "agent" or "control"
	remote string
	log    *slog.Logger

	ctx    context.Context // done when the peer is closed
	cancel context.CancelFunc
	once   sync.Once
	reason string // why it was closed; set once
}

func newPeer(conn *websocket.Conn, kind, remote string, log *slog.Logger) *peer {
	ctx, cancel := context.WithCancel(context.Background())
	return &peer{conn: conn, kind: kind, remote: remote, log: log, ctx: ctx, cancel: cancel}
}

// send writes one binary frame, blocking while the peer's socket is full
// (backpressure) until the peer is closed.
func (p *peer) send(b []byte) error {
	return p.conn.Write(p.ctx, websocket.MessageBinary, b)
}

// sendMessage encodes and sends a gateway-generated message.
func (p *peer) sendMessage(m *wire.Message) error {
	b, err := wire.Encode(m)
	if err != nil {
		return err
	}
	return p.send(b)
}

// close closes the socket once, recording why.
func (p *peer) close(reason string) {
	p.once.Do(func() {
		p.reason = reason
		p.log.Debug("socket closed", "kind", p.kind, "remote_addr", p.remote, "reason", reason)
		p.cancel()
		p.conn.Close(websocket.StatusNormalClosure, truncate(reason, 120))
	})
}

func (p *peer) closed() bool { return p.ctx.Err() != nil }

// keepalive pings the peer every interval and closes it when a pong does
// not come back within timeout. It returns when the peer is closed.
func (p *peer) keepalive(interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(p.ctx, timeout)
			err := p.conn.Ping(ctx)
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				p.close("no answer to ping")
				return
			}
		}
	}
}

// controlMessage builds a gateway-generated, non-stream message.
func controlMessage(typ string, payload []byte, now time.Time) *wire.Message {
	return &wire.Message{
		MessageType: typ, SchemaVersion: wire.SchemaVersion, CreatedDate: wire.Millis(now),
		Flags: wire.FlagsAck, MessageID: wire.NewUUID(), Payload: payload,
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
