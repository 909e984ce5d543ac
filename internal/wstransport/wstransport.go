// Package wstransport adapts a websocket connection (coder/websocket) to
// stream.Transport: one binary websocket message per wire frame. Text
// frames after the first (the OpenDataChannelInput, written by the caller
// before wrapping) are ignored, as the real agent ignores them.
package wstransport

import (
	"context"
	"sync"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/stream"
)

// Transport is a stream.Transport over a websocket.
type Transport struct {
	conn *websocket.Conn
	once sync.Once
}

var _ stream.Transport = (*Transport)(nil)

// New wraps conn; the Transport owns it from now on.
func New(conn *websocket.Conn) *Transport { return &Transport{conn: conn} }

// Conn returns the underlying websocket.
func (t *Transport) Conn() *websocket.Conn { return t.conn }

// Send writes frame as one binary message.
func (t *Transport) Send(ctx context.Context, frame []byte) error {
	return t.conn.Write(ctx, websocket.MessageBinary, frame)
}

// Recv returns the next binary message.
func (t *Transport) Recv(ctx context.Context) ([]byte, error) {
	for {
		typ, b, err := t.conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ == websocket.MessageBinary {
			return b, nil
		}
	}
}

// Close closes the websocket at once.
func (t *Transport) Close() error {
	t.once.Do(func() { t.conn.CloseNow() })
	return nil
}
