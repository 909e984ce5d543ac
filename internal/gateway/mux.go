package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/chanmux"
	"github.com/tether-ssm/tether/internal/wire"
	"github.com/tether-ssm/tether/internal/wstransport"
)

// MuxSubprotocol is the websocket subprotocol of a Tether agent's
// multiplexed data-channel connection, GET /v1/mux-channel/<node-id>
// (SigV4-signed like the control channel). The agent asks for it; a gateway
// that does not know the path answers 404 and the agent falls back to one
// websocket per session (/v1/data-channel/<session-id>), which is also what
// the real amazon-ssm-agent uses.
//
// Each chanmux channel is one session's agent data channel: its name is
// the session id and its open data the agent's OpenDataChannelInput JSON
// (the first text frame of a per-session socket), authenticated the same
// way; its frames are the data channel's binary frames.
const MuxSubprotocol = chanmux.Subprotocol

// serveMuxSocket accepts a node's multiplexed data-channel connection.
func (g *Gateway) serveMuxSocket(w http.ResponseWriter, r *http.Request, nodeID string) {
	if _, err := g.verifyNode(r, nil, nodeID); err != nil {
		writeXMLError(w, err)
		return
	}
	conn, err := acceptSocket(w, r, 0, MuxSubprotocol)
	if err != nil {
		return
	}
	if conn.Subprotocol() != MuxSubprotocol {
		conn.Close(websocket.StatusPolicyViolation, "subprotocol "+MuxSubprotocol+" required")
		return
	}
	remote := r.RemoteAddr
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		conn.Close(websocket.StatusGoingAway, "gateway shutting down")
		return
	}
	g.wg.Add(1)
	m := chanmux.Server(wstransport.New(conn), g.cfg.Mux, func(ch *chanmux.Channel) {
		g.serveMuxChannel(nodeID, remote, ch)
	})
	g.muxes[m] = struct{}{}
	g.mu.Unlock()
	unwatch := g.watch(conn, func(string) { m.Close() })
	g.log.Info("mux connected", "node_id", nodeID, "remote_addr", remote)
	go func() {
		defer g.wg.Done()
		defer unwatch()
		m.Wait()
		g.mu.Lock()
		delete(g.muxes, m)
		g.mu.Unlock()
		g.log.Info("mux disconnected", "node_id", nodeID, "err", m.Err())
	}()
}

// serveMuxChannel authenticates one multiplexed agent data channel and
// relays it until it closes. It runs on the channel's own goroutine.
func (g *Gateway) serveMuxChannel(nodeID, remote string, ch *chanmux.Channel) {
	ctx := context.Background()
	sessionID := ch.Name()
	open, err := wire.ParseOpenDataChannel(ch.OpenData())
	if err == nil && open.ClientInstanceID != nodeID {
		err = fmt.Errorf("channel of %s on the connection of %s", open.ClientInstanceID, nodeID)
	}
	if err == nil {
		err = g.authenticateData(ctx, sessionID, open)
	}
	if err != nil {
		g.log.Info("data channel refused", "session_id", sessionID, "role", "agent", "remote_addr", remote, "err", err)
		ch.CloseWithReason(truncate("authentication failed: "+err.Error(), 120))
		return
	}
	p := newPeer(chanLink{ch}, "agent", remote, g.log)
	if !g.attach(ctx, sessionID, p) {
		return
	}
	// No goroutine waits on an idle channel: a drainer starts when frames
	// arrive and ends when they are relayed.
	d := &drainer{g: g, sessionID: sessionID, p: p, ch: ch}
	ch.OnReady(d.kick)
}

// drainer relays a mux channel's frames on demand, on a goroutine that
// lives only while there is something to relay (or the channel has ended
// and must be detached).
type drainer struct {
	g         *Gateway
	sessionID string
	p         *peer
	ch        *chanmux.Channel

	mu      sync.Mutex // guards the following fields
	running bool       // a drain goroutine is running
	again   bool       // kicked while running: look once more before leaving
	done    bool       // the channel ended and was detached
}

// kick is the channel's OnReady callback; it never blocks.
func (d *drainer) kick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.done:
	case d.running:
		d.again = true
	default:
		d.running = true
		go d.drain()
	}
}

// drain relays every queued frame, in order; when the channel has ended
// it detaches the peer (the end of what attach counted in g.wg).
func (d *drainer) drain() {
	ctx := context.Background()
	for {
		f, ok, err := d.ch.TryRecv()
		if ok {
			d.g.relayFrame(ctx, d.sessionID, d.p, f)
			continue
		}
		d.mu.Lock()
		if err != nil {
			d.done, d.running = true, false
			d.mu.Unlock()
			d.g.detach(ctx, d.sessionID, d.p)
			d.g.wg.Done()
			return
		}
		if d.again {
			d.again = false
			d.mu.Unlock()
			continue
		}
		d.running = false
		d.mu.Unlock()
		return
	}
}
