package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/token"
	"github.com/tether-ssm/tether/internal/wire"
)

// relay joins the client and agent data channels of one session.
type relay struct {
	id string
	// client and agent are the current sockets (nil while absent); a newer
	// authenticated socket for a role replaces the older one.
	client, agent *peer
	// terminating is set when the agent reported Terminating.
	terminating bool
}

// peersLocked returns the relay's sockets; g.mu must be held.
func (r *relay) peersLocked() []*peer {
	var ps []*peer
	for _, p := range []*peer{r.client, r.agent} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// relayLocked returns the relay of session id, creating it; g.mu held.
func (g *Gateway) relayLocked(id string) *relay {
	r := g.relays[id]
	if r == nil {
		r = &relay{id: id}
		g.relays[id] = r
	}
	return r
}

// serveDataSocket accepts a data-channel websocket, authenticates its first
// frame, and relays until the socket closes.
func (g *Gateway) serveDataSocket(w http.ResponseWriter, r *http.Request, sessionID string) {
	conn, err := acceptSocket(w, r, g.cfg.SocketBufferSize)
	if err != nil {
		return
	}
	open, err := g.readOpen(r.Context(), conn)
	if err != nil {
		g.log.Info("data channel refused", "session_id", sessionID, "remote_addr", r.RemoteAddr, "err", err)
		conn.Close(websocket.StatusPolicyViolation, "authentication failed")
		return
	}
	kind := "client"
	if open.IsAgent() {
		kind = "agent"
	}
	p := newPeer(wsLink{conn}, kind, r.RemoteAddr, g.log)
	if err := g.authenticateData(r.Context(), sessionID, open); err != nil {
		g.log.Info("data channel refused", "session_id", sessionID, "role", kind, "remote_addr", r.RemoteAddr, "err", err)
		conn.Close(websocket.StatusPolicyViolation, truncate("authentication failed: "+err.Error(), 120))
		return
	}
	if !g.attach(r.Context(), sessionID, p) {
		return
	}
	unwatch := g.watch(conn, p.close)
	// The relay runs on its own goroutine (counted in g.wg by attach) and
	// the handler returns, so the request, its buffers and the handler's
	// stack are not kept for the life of an idle session (the websocket is
	// hijacked and lives on).
	go func() {
		defer g.wg.Done()
		defer unwatch()
		g.relayPeer(sessionID, p)
	}()
}

// relayPeer forwards p's frames until it closes, then detaches it.
func (g *Gateway) relayPeer(sessionID string, p *peer) {
	ctx := context.Background()
	g.pump(ctx, sessionID, p)
	g.detach(ctx, sessionID, p)
}

// readOpen reads the first frame: the OpenDataChannelInput JSON text.
func (g *Gateway) readOpen(ctx context.Context, conn *websocket.Conn) (wire.OpenDataChannel, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.AuthTimeout)
	defer cancel()
	typ, b, err := conn.Read(ctx)
	if err != nil {
		return wire.OpenDataChannel{}, fmt.Errorf("read first frame: %w", err)
	}
	if typ != websocket.MessageText {
		return wire.OpenDataChannel{}, errors.New("first frame is not text")
	}
	return wire.ParseOpenDataChannel(b)
}

// authenticateData checks a data-channel token against the session.
func (g *Gateway) authenticateData(ctx context.Context, sessionID string, open wire.OpenDataChannel) error {
	sess, err := g.store.GetSession(ctx, sessionID)
	if err != nil {
		return fmt.Errorf("session %s: %w", sessionID, err)
	}
	if sess.Status.Ended() {
		return fmt.Errorf("session %s is %s", sessionID, sess.Status)
	}
	role, gen := token.RoleClient, sess.ClientGeneration
	if open.IsAgent() {
		role, gen = token.RoleAgent, 0
		if open.ClientInstanceID != sess.Target {
			return fmt.Errorf("agent %s does not serve session %s", open.ClientInstanceID, sessionID)
		}
	}
	cl, err := g.tokens.Verify(open.TokenValue, role, gen)
	if err != nil {
		return err
	}
	if cl.SessionID != sessionID {
		return fmt.Errorf("token is for session %s", cl.SessionID)
	}
	return nil
}

// attach makes p the session's socket for its role, replacing an older one,
// and updates the session's state. It reports false if the gateway is
// closed; on true it has counted the caller's relay goroutine in g.wg.
func (g *Gateway) attach(ctx context.Context, sessionID string, p *peer) bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		p.close("gateway shutting down")
		return false
	}
	g.wg.Add(1)
	r := g.relayLocked(sessionID)
	var old *peer
	if p.kind == "client" {
		old, r.client = r.client, p
	} else {
		old, r.agent = r.agent, p
	}
	client, agent := r.client, r.agent
	g.mu.Unlock()
	if old != nil {
		old.close("replaced by a newer connection")
	}
	g.log.Info("data channel attached", "session_id", sessionID, "role", p.kind, "remote_addr", p.remote)
	// The agent publishes only while a client is there to receive.
	if agent != nil {
		typ := wire.TypePausePublication
		if client != nil {
			typ = wire.TypeStartPublication
		}
		agent.sendMessage(controlMessage(typ, nil, g.now()))
	}
	status := store.StatusConnecting
	if client != nil && agent != nil {
		status = store.StatusConnected
	} else if client == nil {
		status = store.StatusDisconnected
	}
	g.setStatus(ctx, sessionID, status)
	return true
}

// detach forgets p if it is still the session's socket for its role.
func (g *Gateway) detach(ctx context.Context, sessionID string, p *peer) {
	p.close("connection ended")
	g.mu.Lock()
	r := g.relays[sessionID]
	if r == nil {
		g.mu.Unlock()
		return
	}
	current := false
	if p.kind == "client" && r.client == p {
		r.client, current = nil, true
	}
	if p.kind == "agent" && r.agent == p {
		r.agent, current = nil, true
	}
	client, agent, terminating := r.client, r.agent, r.terminating
	if client == nil && agent == nil {
		delete(g.relays, sessionID)
	}
	g.mu.Unlock()
	if !current {
		return // replaced: the newer socket owns the state
	}
	g.log.Info("data channel detached", "session_id", sessionID, "role", p.kind, "reason", p.reason)
	switch {
	case p.kind == "agent" && terminating:
		// The session ended on the node and its agent has gone.
		g.endSession(ctx, sessionID, store.StatusTerminated, "")
	case p.kind == "client":
		if agent != nil {
			agent.sendMessage(controlMessage(wire.TypePausePublication, nil, g.now()))
		}
		g.setStatus(ctx, sessionID, store.StatusDisconnected)
	}
}

// pump reads p's frames and forwards them to the other end, in order.
func (g *Gateway) pump(ctx context.Context, sessionID string, p *peer) {
	for {
		f, err := p.readFrame()
		if err != nil {
			return
		}
		g.relayFrame(ctx, sessionID, p, f.Data) // keeps nothing of it
		f.Release()
	}
}

// relayFrame handles one frame read from p: forwarded to the other end
// (blocking while it is slow: backpressure to the sender), consumed, or
// dropped.
func (g *Gateway) relayFrame(ctx context.Context, sessionID string, p *peer, b []byte) {
	m, err := wire.Decode(b)
	if err != nil {
		// Never forward what would break the other end (protocol.md §3.7).
		g.log.Debug("dropped invalid frame", "session_id", sessionID, "role", p.kind, "err", err)
		return
	}
	if p.kind == "agent" && m.MessageType == wire.TypeAgentSessionState {
		g.agentState(ctx, sessionID, m.Payload)
		return
	}
	if !forwardable(p.kind, m.MessageType) {
		return
	}
	if to := g.other(sessionID, p); to != nil {
		// An error means the receiver went away; the frame is dropped and
		// its sender retransmits it to the receiver's successor.
		to.send(b)
	}
}

// forwardable reports whether a frame of typ from kind may be relayed.
func forwardable(kind, typ string) bool {
	switch typ {
	case wire.TypeAcknowledge:
		return true
	case wire.TypeInputStreamData:
		return kind == "client"
	case wire.TypeOutputStreamData:
		return kind == "agent"
	}
	return false
}

// other returns the socket at the other end of p's session, if any.
func (g *Gateway) other(sessionID string, p *peer) *peer {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.relays[sessionID]
	if r == nil {
		return nil
	}
	if p.kind == "client" {
		return r.agent
	}
	return r.client
}

// agentState consumes agent_session_state.
func (g *Gateway) agentState(ctx context.Context, sessionID string, payload []byte) {
	var st wire.AgentSessionState
	if err := wire.ParsePayload(payload, &st); err != nil {
		return
	}
	if st.SessionState != wire.SessionStateTerminating {
		return
	}
	g.mu.Lock()
	if r := g.relays[sessionID]; r != nil {
		r.terminating = true
	}
	g.mu.Unlock()
	g.setStatus(ctx, sessionID, store.StatusTerminating)
}

// setStatus records a live status change (never reviving an ended session).
func (g *Gateway) setStatus(ctx context.Context, sessionID string, status store.SessionStatus) {
	now := g.now()
	_, err := g.store.UpdateSession(ctx, sessionID, func(s *store.Session) error {
		if s.Status.Ended() || s.Status == status || (s.Status == store.StatusTerminating && status != store.StatusTerminating) {
			return errUnchanged
		}
		s.Status, s.LastActivity = status, now
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		g.log.Warn("update session status", "session_id", sessionID, "status", status, "err", err)
	}
}

var errUnchanged = errors.New("unchanged")

// endSession marks the session ended and tells both ends with
// channel_closed (output is shown to the client when not empty). The
// client's socket is left for the client to close: the real plugin treats a
// close as a network drop and would try to resume.
func (g *Gateway) endSession(ctx context.Context, sessionID string, status store.SessionStatus, output string) {
	now := g.now()
	sess, err := g.store.UpdateSession(ctx, sessionID, func(s *store.Session) error {
		if s.Status.Ended() {
			return errUnchanged
		}
		s.Status, s.EndDate, s.LastActivity = status, now, now
		if output != "" {
			s.Details = output
		}
		return nil
	})
	if errors.Is(err, errUnchanged) || errors.Is(err, store.ErrNotFound) {
		sess, err = g.store.GetSession(ctx, sessionID)
	}
	if err != nil {
		g.log.Warn("end session", "session_id", sessionID, "err", err)
		return
	}
	g.log.Info("session ended", "session_id", sessionID, "status", sess.Status, "output", output)
	g.mu.Lock()
	r := g.relays[sessionID]
	delete(g.relays, sessionID)
	var client, agent *peer
	if r != nil {
		client, agent = r.client, r.agent
	}
	ctrl := g.nodes[sess.Target]
	g.mu.Unlock()
	msg := closedMessage(sess, output, now)
	if agent != nil {
		agent.sendMessage(msg)
		agent.close("session ended")
	} else if ctrl != nil {
		ctrl.peer.sendMessage(msg) // the agent's data channel is away: tell it on the control channel
	}
	if client != nil {
		client.sendMessage(msg)
		go func() { // give the client time to read channel_closed and leave
			select {
			case <-client.ctx.Done():
			case <-time.After(10 * time.Second):
				client.close("session ended")
			}
		}()
	}
}

// closedMessage builds channel_closed for sess.
func closedMessage(sess store.Session, output string, now time.Time) *wire.Message {
	id := wire.NewUUID()
	payload, _ := json.Marshal(wire.ChannelClosed{
		MessageID: id.String(), CreatedDate: strconv.FormatInt(now.UnixMilli(), 10),
		DestinationID: sess.Target, SessionID: sess.ID, MessageType: wire.TypeChannelClosed,
		SchemaVersion: 1, Output: output,
	})
	m := controlMessage(wire.TypeChannelClosed, payload, now)
	m.MessageID = id
	return m
}

// Terminate ends a session at the request of the API (TerminateSession):
// both ends get channel_closed and the session becomes Terminated.
func (g *Gateway) Terminate(ctx context.Context, sessionID, output string) {
	g.endSession(ctx, sessionID, store.StatusTerminated, output)
}
