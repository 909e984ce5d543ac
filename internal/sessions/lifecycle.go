package sessions

import (
	"context"
	"errors"
	"fmt"

	"github.com/tether-ssm/tether/internal/store"
)

// ErrInvalidTransition is returned by Transition for a move the state
// machine does not allow.
var ErrInvalidTransition = errors.New("invalid session state transition")

// transitions is the session state machine (ARCHITECTURE.md):
// Connecting → Connected ⇄ Disconnected → Terminating → Terminated, and
// Failed from any state that has not ended.
func allowed(from, to store.SessionStatus) bool {
	if from.Ended() {
		return false
	}
	switch to {
	case store.StatusFailed, store.StatusTerminated:
		return true
	case store.StatusConnected:
		return from == store.StatusConnecting || from == store.StatusDisconnected
	case store.StatusDisconnected:
		return from == store.StatusConnected || from == store.StatusConnecting
	case store.StatusTerminating:
		return from.Active()
	}
	return false
}

// Transition moves a session to state to (recording details when ending
// it), as the gateway observes connections come and go. Moving to the state
// the session is already in is a no-op.
func (s *Service) Transition(ctx context.Context, id string, to store.SessionStatus, details string) (store.Session, error) {
	return s.store.UpdateSession(ctx, id, func(x *store.Session) error {
		if x.Status == to {
			return nil
		}
		if !allowed(x.Status, to) {
			return fmt.Errorf("session %s: %s → %s: %w", id, x.Status, to, ErrInvalidTransition)
		}
		now := s.cfg.Now().UTC()
		x.Status = to
		switch {
		case to.Ended():
			x.EndDate = now
			if details != "" {
				x.Details = truncate(details, 1024)
			}
		case to == store.StatusConnected || to == store.StatusDisconnected:
			x.LastActivity = now
		}
		return nil
	})
}
