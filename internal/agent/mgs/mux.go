package mgs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/chanmux"
	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/wire"
	"github.com/tether-ssm/tether/internal/wstransport"
)

// muxRetryAfter is how long a gateway that has no multiplexed endpoint is
// served with one websocket per session before the agent asks again (the
// gateway may have been upgraded).
const muxRetryAfter = 10 * time.Minute

// muxRetryFailed is how long sessions use their own websockets after the
// multiplexed connection could not be dialed for another reason.
const muxRetryFailed = 30 * time.Second

// muxKeepalive is the ping interval and pong timeout of the multiplexed
// connection (as the control channel's).
const muxKeepalive = 15 * time.Second

// muxState is the node's multiplexed data-channel connection. The zero
// value has none.
type muxState struct {
	mu          sync.Mutex    // guards the following fields
	conn        *chanmux.Conn // the live connection, or nil
	dialing     chan struct{} // closed when the dial in progress ends; nil if none
	unsupported time.Time     // the gateway has no mux endpoint: per-session sockets until then
}

// OpenDataChannel opens the agent's data channel of sessionID and sends
// open (the OpenDataChannelInput, with the token from CreateDataChannel).
// Unless DisableMux is set it is a channel of the node's one multiplexed
// connection to a Tether gateway (GET /v1/mux-channel/<node-id>, dialed
// on first use and again after it fails); a gateway without that endpoint
// (any other SSM-compatible one) gets its own websocket per session, as
// DialDataChannel. Either way the result is the session's stream
// transport; a cut of the multiplexed connection fails every channel on it,
// and each reconnects through here.
func (c *Client) OpenDataChannel(ctx context.Context, sessionID string, open wire.AgentOpenDataChannelInput) (stream.Transport, error) {
	b, err := json.Marshal(open)
	if err != nil {
		return nil, err
	}
	if !c.DisableMux {
		m, err := c.muxConn(ctx, open.ClientInstanceID)
		if err != nil {
			return nil, err
		}
		if m != nil {
			ch, err := m.Open(ctx, sessionID, b)
			if err != nil {
				return nil, fmt.Errorf("open data channel %s: %w", sessionID, err)
			}
			return ch, nil
		}
	}
	conn, err := c.DialDataChannel(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("open data channel: %w", err)
	}
	return wstransport.New(conn), nil
}

// muxConn returns the node's live multiplexed connection, dialing it if
// needed (one dial at a time), or nil when the gateway has none.
func (c *Client) muxConn(ctx context.Context, nodeID string) (*chanmux.Conn, error) {
	for {
		c.mux.mu.Lock()
		if m := c.mux.conn; m != nil && m.Err() == nil {
			c.mux.mu.Unlock()
			return m, nil
		}
		if time.Now().Before(c.mux.unsupported) {
			c.mux.mu.Unlock()
			return nil, nil
		}
		if wait := c.mux.dialing; wait != nil {
			c.mux.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		c.mux.dialing = done
		c.mux.mu.Unlock()
		m, err := c.dialMux(ctx, nodeID)
		c.mux.mu.Lock()
		c.mux.dialing = nil
		switch {
		case err == nil:
			c.mux.conn = m
		case errors.Is(err, errNoMux):
			c.mux.unsupported = time.Now().Add(muxRetryAfter)
			err = nil
		case ctx.Err() == nil && !errors.Is(err, ErrAccessDenied):
			// Something between here and the gateway may refuse the mux
			// path (a proxy answering other than 404): use a websocket per
			// session for a while rather than fail the session. If the
			// network is down, that dial fails too.
			c.mux.unsupported = time.Now().Add(muxRetryFailed)
			err = nil
		}
		c.mux.mu.Unlock()
		close(done)
		return m, err
	}
}

// errNoMux means the gateway does not offer the multiplexed endpoint.
var errNoMux = errors.New("gateway has no multiplexed data channels")

// dialMux opens the multiplexed connection of nodeID and keeps it alive.
func (c *Client) dialMux(ctx context.Context, nodeID string) (*chanmux.Conn, error) {
	u := strings.TrimSuffix(c.Endpoint, "/") + "/v1/mux-channel/" + url.PathEscape(nodeID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial mux channel: %w", err)
	}
	if err := c.sign(ctx, req, nil); err != nil {
		return nil, err
	}
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(u, "http"), &websocket.DialOptions{
		HTTPClient: c.upgradeClient(), HTTPHeader: req.Header, CompressionMode: websocket.CompressionDisabled,
		Subprotocols: []string{chanmux.Subprotocol},
	})
	if err != nil {
		switch {
		case resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed):
			return nil, errNoMux
		case resp != nil && resp.StatusCode == http.StatusForbidden:
			return nil, fmt.Errorf("dial mux channel: %w", ErrAccessDenied)
		}
		return nil, fmt.Errorf("dial mux channel: %w", err)
	}
	if conn.Subprotocol() != chanmux.Subprotocol {
		conn.CloseNow()
		return nil, errNoMux
	}
	conn.SetReadLimit(16<<20 + 64)
	m := chanmux.Client(wstransport.New(conn), chanmux.Config{})
	go muxKeepaliveLoop(m, conn)
	return m, nil
}

// muxKeepaliveLoop pings the gateway until m ends; a missing pong fails m
// (and so every channel on it, which then reconnect).
func muxKeepaliveLoop(m *chanmux.Conn, conn *websocket.Conn) {
	t := time.NewTicker(muxKeepalive)
	defer t.Stop()
	for {
		select {
		case <-m.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), muxKeepalive)
			err := conn.Ping(ctx)
			cancel()
			if err != nil {
				m.Close()
				return
			}
		}
	}
}
