package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/controlchannel"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/wire"
)

// controlConn is a node's live control channel.
type controlConn struct {
	nodeID string
	peer   *peer
}

// ErrNotConnected is returned by StartSession when the node has no live
// control channel.
var ErrNotConnected = errors.New("target is not connected")

// Connected reports whether nodeID has a live control channel.
func (g *Gateway) Connected(nodeID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.nodes[nodeID]
	return c != nil && !c.peer.closed()
}

// StartSession sends interactive_shell to the node, asking its agent to
// open the session's data channel and run the document.
func (g *Gateway) StartSession(ctx context.Context, nodeID string, task controlchannel.TaskPayload) error {
	g.mu.Lock()
	c := g.nodes[nodeID]
	g.mu.Unlock()
	if c == nil || c.peer.closed() {
		return ErrNotConnected
	}
	payload, err := controlchannel.NewInteractiveShell(task)
	if err != nil {
		return err
	}
	m := controlMessage(wire.TypeInteractiveShell, payload, g.now())
	m.Flags = 0
	if err := c.peer.sendMessage(m); err != nil {
		return fmt.Errorf("send interactive_shell to %s: %w", nodeID, ErrNotConnected)
	}
	return nil
}

// serveControlSocket accepts a node's control-channel websocket.
func (g *Gateway) serveControlSocket(w http.ResponseWriter, r *http.Request, nodeID string) {
	if _, err := g.verifyNode(r, nil, nodeID); err != nil {
		writeXMLError(w, err)
		return
	}
	conn, err := acceptSocket(w, r, 0)
	if err != nil {
		return
	}
	open, err := g.readControlOpen(r.Context(), conn, nodeID)
	if err != nil {
		g.log.Info("control channel refused", "node_id", nodeID, "remote_addr", r.RemoteAddr, "err", err)
		conn.Close(websocket.StatusPolicyViolation, "authentication failed")
		return
	}
	g.recordAgent(r.Context(), nodeID, open, r.RemoteAddr)
	c := &controlConn{nodeID: nodeID, peer: newPeer(wsLink{conn}, "control", r.RemoteAddr, g.log)}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		c.peer.close("gateway shutting down")
		return
	}
	old := g.nodes[nodeID]
	g.nodes[nodeID] = c
	g.mu.Unlock()
	if old != nil {
		old.peer.close("replaced by a newer connection")
	}
	g.log.Info("node connected", "node_id", nodeID, "agent_version", open.AgentVersion, "remote_addr", r.RemoteAddr)
	unwatch := g.watch(conn, c.peer.close)
	defer unwatch()
	g.readControl(r.Context(), c)
	c.peer.close("connection ended")
	g.mu.Lock()
	if g.nodes[nodeID] == c {
		delete(g.nodes, nodeID)
	}
	g.mu.Unlock()
	g.log.Info("node disconnected", "node_id", nodeID, "reason", c.peer.reason)
}

func (g *Gateway) readControlOpen(ctx context.Context, conn *websocket.Conn, nodeID string) (controlchannel.OpenInput, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.AuthTimeout)
	defer cancel()
	var open controlchannel.OpenInput
	typ, b, err := conn.Read(ctx)
	if err != nil {
		return open, fmt.Errorf("read first frame: %w", err)
	}
	if typ != websocket.MessageText {
		return open, errors.New("first frame is not text")
	}
	if err := json.Unmarshal(b, &open); err != nil {
		return open, fmt.Errorf("parse open control channel input: %w", err)
	}
	if err := g.verifyControlToken(open.TokenValue, nodeID); err != nil {
		return open, err
	}
	return open, nil
}

// recordAgent stores what the agent reported about itself.
func (g *Gateway) recordAgent(ctx context.Context, nodeID string, open controlchannel.OpenInput, remote string) {
	now := g.now()
	_, err := g.store.UpdateNode(ctx, nodeID, func(n *store.Node) error {
		n.AgentVersion, n.LastPing = open.AgentVersion, now
		n.PlatformType = platformType(open.PlatformType)
		if open.ComputerName != "" {
			n.ComputerName = open.ComputerName
		}
		if open.PlatformName != "" {
			n.PlatformName = open.PlatformName
		}
		n.IPAddress = open.IPAddress
		if n.IPAddress == "" {
			if host, _, err := net.SplitHostPort(remote); err == nil {
				n.IPAddress = host
			}
		}
		return nil
	})
	if err != nil {
		g.log.Warn("record agent", "node_id", nodeID, "err", err)
	}
}

// platformType maps the agent's lower-case platform to AWS's PlatformType.
func platformType(p string) string {
	switch strings.ToLower(p) {
	case "windows":
		return "Windows"
	case "macos", "darwin":
		return "MacOS"
	}
	return "Linux"
}

// readControl handles the agent's control messages until the socket closes.
func (g *Gateway) readControl(ctx context.Context, c *controlConn) {
	for {
		b, err := c.peer.read()
		if err != nil {
			return
		}
		m, err := wire.Decode(b)
		if err != nil {
			continue
		}
		switch m.MessageType {
		case wire.TypeAgentTaskComplete:
			g.taskComplete(ctx, c, &m)
		}
	}
}

// taskComplete acknowledges agent_task_complete and ends the session.
func (g *Gateway) taskComplete(ctx context.Context, c *controlConn, m *wire.Message) {
	var tc controlchannel.TaskComplete
	if err := json.Unmarshal(m.Payload, &tc); err != nil || tc.TaskID == "" {
		return
	}
	ack, _ := json.Marshal(controlchannel.TaskAcknowledge{
		SchemaVersion: 1, MessageID: m.MessageID.String(), TaskID: tc.TaskID, Topic: wire.TypeAgentTaskComplete,
	})
	am := controlMessage(wire.TypeAgentTaskAcknowledge, ack, g.now())
	am.Flags = 0
	c.peer.sendMessage(am)
	sess, err := g.store.GetSession(ctx, tc.TaskID)
	if err != nil || sess.Target != c.nodeID {
		return // not this node's session
	}
	status, output := store.StatusTerminated, ""
	if tc.FinalTaskStatus == controlchannel.StatusFailed {
		status, output = store.StatusFailed, tc.Output
	}
	g.endSession(ctx, tc.TaskID, status, output)
}
