package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/tether-ssm/tether/internal/store"
)

// recover marks sessions that a previous process left Connected as
// Disconnected: their sockets died with it. Their clients and agents will
// reconnect, or the idle timeout will end them.
func (g *Gateway) recover(ctx context.Context) error {
	sessions, err := g.store.ListSessions(ctx, store.SessionQuery{Status: store.StatusConnected})
	if err != nil {
		return fmt.Errorf("recover sessions: %w", err)
	}
	for _, s := range sessions {
		g.mu.Lock()
		_, live := g.relays[s.ID]
		g.mu.Unlock()
		if !live {
			g.setStatus(ctx, s.ID, store.StatusDisconnected)
		}
	}
	return nil
}

// sweep ends sessions whose client has been away longer than the idle
// timeout, and sessions older than their maximum duration.
func (g *Gateway) sweep(ctx context.Context) {
	sessions, err := g.store.ListSessions(ctx, store.SessionQuery{})
	if err != nil {
		g.log.Warn("sweep sessions", "err", err)
		return
	}
	now := g.now()
	for _, s := range sessions {
		if reason := g.expired(s, now); reason != "" {
			g.endSession(ctx, s.ID, store.StatusTerminated, reason)
		}
	}
}

// expired says why s must end now, or "".
func (g *Gateway) expired(s store.Session, now time.Time) string {
	max := g.cfg.MaxSessionDuration
	if s.MaxSessionDuration > 0 {
		max = time.Duration(s.MaxSessionDuration) * time.Minute
	}
	if max > 0 && now.Sub(s.StartDate) >= max {
		return fmt.Sprintf("Session terminated: the maximum session duration of %s was reached.", max)
	}
	if s.Status == store.StatusConnected {
		return ""
	}
	g.mu.Lock()
	r := g.relays[s.ID]
	clientHere := r != nil && r.client != nil
	g.mu.Unlock()
	if !clientHere && now.Sub(s.LastActivity) >= g.cfg.IdleTimeout {
		return fmt.Sprintf("Session terminated: the client was disconnected for longer than the idle timeout of %s.", g.cfg.IdleTimeout)
	}
	return ""
}
