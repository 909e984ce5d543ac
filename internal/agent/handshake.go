package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ssm/tether/internal/controlchannel"
	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/wire"
)

// ActionTetherStream is the handshake action by which a Tether agent finds
// a Tether client (stream package doc, "Modes"). The real plugin answers it
// with a non-success status, which is not an error.
const ActionTetherStream wire.ActionType = "TetherStream"

// peer is what the handshake learned about the client.
type peer struct {
	version string // ClientVersion
	tether  bool   // a Tether client: fast mode, separate stdout/stderr
}

// maxEarlyInput bounds the input kept while the handshake runs.
const maxEarlyInput = 256

// handshake runs the session-type handshake (protocol.md §5.3), switching
// the stream to fast mode when the client is Tether. Input that arrives
// before the response (a client that typed ahead) is kept, up to
// maxEarlyInput messages, and given to the plugin afterwards; the real
// agent discards it.
func (dc *dataChannel) handshake(ctx context.Context, doc controlchannel.DocumentContent) (peer, error) {
	start := time.Now()
	props := doc.Properties
	if len(props) == 0 {
		props = json.RawMessage("null")
	}
	action, err := wire.NewAction(wire.ActionSessionType, wire.SessionTypeRequest{SessionType: doc.SessionType, Properties: props})
	if err != nil {
		return peer{}, err
	}
	tether, err := wire.NewAction(ActionTetherStream, map[string]int{"Version": 1})
	if err != nil {
		return peer{}, err
	}
	req, err := jsonBytes(wire.HandshakeRequest{AgentVersion: Version, RequestedClientActions: []wire.RequestedClientAction{action, tether}})
	if err != nil {
		return peer{}, err
	}
	if _, err := dc.ep.Write(ctx, wire.PayloadHandshakeRequest, req); err != nil {
		return peer{}, fmt.Errorf("send handshake request: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, dc.a.cfg.HandshakeTimeout)
	defer cancel()
	var resp wire.HandshakeResponse
	for {
		p, err := dc.ep.Read(hctx)
		if err != nil {
			return peer{}, fmt.Errorf("Handshake timed out. Please ensure that you have the latest version of the session manager plugin.")
		}
		if p.Type != wire.PayloadHandshakeResponse {
			if len(dc.early) < maxEarlyInput {
				dc.early = append(dc.early, p)
			}
			continue
		}
		if err := wire.ParsePayload(p.Data, &resp); err != nil {
			return peer{}, err
		}
		break
	}
	pr := peer{version: resp.ClientVersion}
	for _, a := range resp.ProcessedClientActions {
		switch {
		case a.ActionType == ActionTetherStream:
			pr.tether = a.ActionStatus == wire.ActionSuccess
		case a.ActionStatus != wire.ActionSuccess:
			return peer{}, fmt.Errorf("client failed handshake action %s: %s", a.ActionType, a.Error)
		}
	}
	if pr.tether {
		if err := dc.ep.EnableFast(ctx, stream.FastOptions{}); err != nil {
			return peer{}, err
		}
	}
	done, err := jsonBytes(wire.HandshakeComplete{HandshakeTimeToComplete: time.Since(start)})
	if err != nil {
		return peer{}, err
	}
	if _, err := dc.ep.Write(ctx, wire.PayloadHandshakeComplete, done); err != nil {
		return peer{}, fmt.Errorf("send handshake complete: %w", err)
	}
	return pr, nil
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
