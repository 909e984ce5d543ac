package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ssm/tether/internal/controlchannel"
	"github.com/tether-ssm/tether/internal/wire"
)

// handshake runs the session-type handshake (protocol.md §5.3) and returns
// the client's version. Non-handshake input that arrives before the
// response is discarded, as the real agent does.
func (dc *dataChannel) handshake(ctx context.Context, doc controlchannel.DocumentContent) (string, error) {
	start := time.Now()
	action, err := wire.NewAction(wire.ActionSessionType, wire.SessionTypeRequest{SessionType: doc.SessionType, Properties: doc.Properties})
	if err != nil {
		return "", err
	}
	req, err := jsonBytes(wire.HandshakeRequest{AgentVersion: Version, RequestedClientActions: []wire.RequestedClientAction{action}})
	if err != nil {
		return "", err
	}
	if _, err := dc.ep.Write(ctx, wire.PayloadHandshakeRequest, req); err != nil {
		return "", fmt.Errorf("send handshake request: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, dc.a.cfg.HandshakeTimeout)
	defer cancel()
	var resp wire.HandshakeResponse
	for {
		p, err := dc.ep.Read(hctx)
		if err != nil {
			return "", fmt.Errorf("Handshake timed out. Please ensure that you have the latest version of the session manager plugin.")
		}
		if p.Type != wire.PayloadHandshakeResponse {
			continue
		}
		if err := wire.ParsePayload(p.Data, &resp); err != nil {
			return "", err
		}
		break
	}
	for _, a := range resp.ProcessedClientActions {
		if a.ActionStatus != wire.ActionSuccess {
			return "", fmt.Errorf("client failed handshake action %s: %s", a.ActionType, a.Error)
		}
	}
	done, err := jsonBytes(wire.HandshakeComplete{HandshakeTimeToComplete: time.Since(start)})
	if err != nil {
		return "", err
	}
	if _, err := dc.ep.Write(ctx, wire.PayloadHandshakeComplete, done); err != nil {
		return "", fmt.Errorf("send handshake complete: %w", err)
	}
	return resp.ClientVersion, nil
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }

// versionAtLeast compares dotted numeric versions; a malformed v is old.
func versionAtLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := range max(len(a), len(b)) {
		x, y := 0, 0
		if i < len(a) {
			n, err := strconv.Atoi(a[i])
			if err != nil {
				return false
			}
			x = n
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x > y
		}
	}
	return true
}
