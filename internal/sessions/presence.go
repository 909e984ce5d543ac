package sessions

import (
	"context"
	"errors"

	"github.com/tether-ssm/tether/internal/store"
)

// Presence is what the session service needs from the gateway: whether a
// node's agent is connected, and a way to ask it to open or close a session.
// The gateway implements it; until then Offline is the implementation.
type Presence interface {
	// Connected reports whether the node's agent holds a control channel.
	Connected(nodeID string) bool
	// OpenSession asks the node's agent to open the session's data channel,
	// authenticating with agentToken. It returns once the request is sent.
	OpenSession(ctx context.Context, s store.Session, agentToken string) error
	// CloseSession tells whoever serves the session that it was terminated.
	// It must succeed (nil) when nothing serves it.
	CloseSession(ctx context.Context, sessionID string) error
}

// ErrNotConnected is returned by Presence.OpenSession when the node is not
// connected (any more).
var ErrNotConnected = errors.New("node is not connected")

// Offline is the Presence of a server without a gateway: no node is ever
// connected, so StartSession answers TargetNotConnected.
type Offline struct{}

var _ Presence = Offline{}

// Connected always reports false.
func (Offline) Connected(string) bool { return false }

// OpenSession always fails with ErrNotConnected.
func (Offline) OpenSession(context.Context, store.Session, string) error { return ErrNotConnected }

// CloseSession has nothing to close.
func (Offline) CloseSession(context.Context, string) error { return nil }
