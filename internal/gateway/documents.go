package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tether-ssm/tether/internal/controlchannel"
	"github.com/tether-ssm/tether/internal/sessions"
	"github.com/tether-ssm/tether/internal/store"
)

var _ sessions.Presence = (*Gateway)(nil)

// OpenSession implements sessions.Presence: it sends interactive_shell for
// s to its node. The agent obtains its own data-channel token with
// CreateDataChannel, so agentToken is not sent (the real agent ignores one).
func (g *Gateway) OpenSession(ctx context.Context, s store.Session, agentToken string) error {
	task, err := taskFor(s)
	if err != nil {
		return err
	}
	if err := g.StartSession(ctx, s.Target, task); err != nil {
		if errors.Is(err, ErrNotConnected) {
			return fmt.Errorf("%w: %v", sessions.ErrNotConnected, err)
		}
		return err
	}
	return nil
}

// CloseSession implements sessions.Presence: the session was terminated
// through the API; tell both ends.
func (g *Gateway) CloseSession(ctx context.Context, sessionID string) error {
	g.Terminate(ctx, sessionID, "")
	return nil
}

// taskFor resolves the session's document into the agent's task payload:
// AWS's document content with the parameters substituted, scalar strings
// only (protocol.md §8.4).
func taskFor(s store.Session) (controlchannel.TaskPayload, error) {
	doc, ok := sessions.Documents()[s.DocumentName]
	if !ok {
		return controlchannel.TaskPayload{}, fmt.Errorf("unknown document %q", s.DocumentName)
	}
	param := func(name string) string {
		if v := s.Parameters[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var props any
	switch s.DocumentName {
	case "AWS-StartPortForwardingSession":
		props = controlchannel.PortProperties{PortNumber: param("portNumber"), Type: "LocalPortForwarding", LocalPortNumber: param("localPortNumber")}
	case "AWS-StartPortForwardingSessionToRemoteHost":
		props = controlchannel.PortProperties{PortNumber: param("portNumber"), Type: "LocalPortForwarding", LocalPortNumber: param("localPortNumber"), Host: param("host")}
	case "AWS-StartSSHSession":
		props = controlchannel.PortProperties{PortNumber: param("portNumber")}
	case "AWS-StartInteractiveCommand", "AWS-StartNonInteractiveCommand":
		cmd := &controlchannel.PlatformCommand{Commands: param("command")}
		props = controlchannel.CommandProperties{Linux: cmd, Windows: cmd, MacOS: cmd}
	}
	raw := json.RawMessage("null")
	if props != nil {
		b, err := json.Marshal(props)
		if err != nil {
			return controlchannel.TaskPayload{}, err
		}
		raw = b
	}
	params := map[string]any{}
	for k, v := range s.Parameters {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	return controlchannel.TaskPayload{
		DocumentName: s.DocumentName, SessionID: s.ID, Parameters: params, SessionOwner: s.Owner,
		DocumentContent: controlchannel.DocumentContent{
			SchemaVersion: "1.0", Description: "Tether session document " + s.DocumentName,
			SessionType: doc.SessionType, Parameters: map[string]any{}, Properties: raw,
		},
	}, nil
}
