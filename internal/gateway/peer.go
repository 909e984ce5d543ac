package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/chanmux"
	"github.com/tether-ssm/tether/internal/wire"
	"github.com/tether-ssm/tether/internal/wstransport"
)

// peer is one authenticated socket: a client or agent data channel (a
// websocket, or one channel of an agent's multiplexed connection), or an
// agent control channel. Writes are safe from any goroutine; one reader
// goroutine owns reads.
type peer struct {
	link   link
	kind   string // "client", "agent" or "control"
	remote string
	log    *slog.Logger

	ctx    context.Context // done when the peer is closed
	cancel context.CancelFunc
	once   sync.Once
	reason string // why it was closed; set once
}

// link is what a peer reads and writes.
type link interface {
	read(ctx context.Context) ([]byte, error) // the next frame
	// readFrame is read into a buffer the caller releases (pooled where
	// the link can: the relay forwards each frame before the next).
	readFrame(ctx context.Context) (wstransport.Pooled, error)
	write(ctx context.Context, b []byte) error // one binary frame
	close(reason string)
}

// wsLink is a peer on its own websocket. Its reads and writes ignore the
// context they are given and use one that is never done: with a cancellable
// context the websocket library registers and removes a context.AfterFunc
// on every frame (about 9 % of the server's CPU in the tunnel profile).
// newPeer closes the socket at once when the peer's context ends instead,
// which unblocks them the same way.
type wsLink struct{ conn *websocket.Conn }

func (l wsLink) read(context.Context) ([]byte, error) {
	_, r, err := l.conn.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	return wstransport.ReadMessage(r) // pooled: not io.ReadAll's dozen allocations
}

func (l wsLink) readFrame(context.Context) (wstransport.Pooled, error) {
	_, r, err := l.conn.Reader(context.Background())
	if err != nil {
		return wstransport.Pooled{}, err
	}
	return wstransport.ReadPooled(r)
}

func (l wsLink) write(_ context.Context, b []byte) error {
	return l.conn.Write(context.Background(), websocket.MessageBinary, b)
}

// close drops the socket at once, without a close handshake: Close would
// wait up to 5 s for a peer that may be gone (a half-open socket being
// replaced by the client's new one), and meanwhile the other end's relay,
// blocked writing to this socket, would stall the session. The reason is
// logged by the peer; both Tether and the real plugin treat any close as a
// drop to resume from.
func (l wsLink) close(string) {
	l.conn.CloseNow()
}

// chanLink is an agent data channel carried by the agent's multiplexed
// connection (mux.go).
type chanLink struct{ ch *chanmux.Channel }

func (l chanLink) read(ctx context.Context) ([]byte, error) { return l.ch.Recv(ctx) }
func (l chanLink) readFrame(ctx context.Context) (wstransport.Pooled, error) {
	b, err := l.ch.Recv(ctx)
	return wstransport.Pooled{Data: b}, err
}
func (l chanLink) write(ctx context.Context, b []byte) error { return l.ch.Send(ctx, b) }
func (l chanLink) close(reason string)                       { l.ch.CloseWithReason(truncate(reason, 120)) }

func newPeer(l link, kind, remote string, log *slog.Logger) *peer {
	ctx, cancel := context.WithCancel(context.Background())
	if ws, ok := l.(wsLink); ok {
		context.AfterFunc(ctx, func() { ws.conn.CloseNow() }) // see wsLink
	}
	return &peer{link: l, kind: kind, remote: remote, log: log, ctx: ctx, cancel: cancel}
}

// send writes one binary frame, blocking while the peer's socket is full
// (backpressure) until the peer is closed.
func (p *peer) send(b []byte) error {
	return p.link.write(p.ctx, b)
}

// readFrame returns the peer's next frame, valid until Release.
func (p *peer) readFrame() (wstransport.Pooled, error) { return p.link.readFrame(p.ctx) }

// read returns the peer's next frame.
func (p *peer) read() ([]byte, error) { return p.link.read(p.ctx) }

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
		p.link.close(reason)
	})
}

func (p *peer) closed() bool { return p.ctx.Err() != nil }

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
