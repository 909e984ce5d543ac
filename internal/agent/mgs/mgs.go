// Package mgs is the agent's client of the message gateway service
// (ssmmessages): CreateControlChannel and CreateDataChannel over HTTPS, and
// the control- and data-channel websockets, every request SigV4-signed with
// service name "ssmmessages" and the node's credentials (protocol.md §8).
//
// It speaks to Tether's gateway and, equally, to any SSM-compatible one.
package mgs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/wire"
)

// ServiceName is the SigV4 service name of the gateway.
const ServiceName = "ssmmessages"

// Client calls one gateway. It is safe for concurrent use.
type Client struct {
	// Endpoint is the gateway's base URL, e.g. "https://gw.example.com" or
	// "http://127.0.0.1:8080". Websockets use ws(s) on the same host.
	Endpoint string
	// Region is the SigV4 signing region.
	Region string
	// Credentials sign every request.
	Credentials aws.CredentialsProvider
	// HTTPClient makes the REST calls and websocket upgrades; nil means a
	// client with a 15 s timeout for REST calls (as the real agent).
	HTTPClient *http.Client
	// Now is the clock used for signatures; nil means time.Now.
	Now func() time.Time
	// DisableMux gives every data channel its own websocket, as the real
	// agent does; by default OpenDataChannel multiplexes them over one
	// connection when the gateway offers it (mux.go).
	DisableMux bool

	mux muxState
}

// ErrSessionTerminated is returned by CreateDataChannel when the gateway
// says the session is over ("Session is already terminated").
var ErrSessionTerminated = errors.New("session is already terminated")

// ErrAccessDenied is returned when the gateway refuses the credentials.
var ErrAccessDenied = errors.New("access denied by the message gateway")

type controlChannelRequest struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"`
	RequestID            string `json:"RequestId"`
}

type dataChannelRequest struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"`
	RequestID            string `json:"RequestId"`
	ClientID             string `json:"ClientId"` // "" as the real agent sends it (protocol.md §8.3)
}

type channelOutput struct {
	MessageSchemaVersion string `xml:"MessageSchemaVersion"`
	TokenValue           string `xml:"TokenValue"`
}

// CreateControlChannel asks for a control-channel token for nodeID.
func (c *Client) CreateControlChannel(ctx context.Context, nodeID string) (string, error) {
	return c.create(ctx, "/v1/control-channel/"+url.PathEscape(nodeID), controlChannelRequest{MessageSchemaVersion: "1.0", RequestID: wire.NewUUID().String()})
}

// CreateDataChannel asks for an agent data-channel token for sessionID.
func (c *Client) CreateDataChannel(ctx context.Context, sessionID string) (string, error) {
	return c.create(ctx, "/v1/data-channel/"+url.PathEscape(sessionID), dataChannelRequest{MessageSchemaVersion: "1.0", RequestID: wire.NewUUID().String()})
}

func (c *Client) create(ctx context.Context, path string, body any) (string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Endpoint, "/")+path, bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("create channel: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.sign(ctx, req, b); err != nil {
		return "", err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("create channel %s: %w", path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("create channel %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusCreated {
		switch {
		case bytes.Contains(rb, []byte("Session is already terminated")):
			return "", ErrSessionTerminated
		case bytes.Contains(rb, []byte("AccessDeniedException")), resp.StatusCode == http.StatusForbidden:
			return "", fmt.Errorf("%w: %s", ErrAccessDenied, strings.TrimSpace(string(rb)))
		}
		return "", fmt.Errorf("create channel %s: unexpected response from the service (%d): %s", path, resp.StatusCode, strings.TrimSpace(string(rb)))
	}
	var out channelOutput
	if err := xml.Unmarshal(rb, &out); err != nil || out.TokenValue == "" {
		return "", fmt.Errorf("create channel %s: bad response %q", path, rb)
	}
	return out.TokenValue, nil
}

// DialControlChannel opens the control-channel websocket of nodeID.
func (c *Client) DialControlChannel(ctx context.Context, nodeID string) (*websocket.Conn, error) {
	q := url.Values{"role": {"subscribe"}, "stream": {"input"}}
	return c.dial(ctx, "/v1/control-channel/"+url.PathEscape(nodeID)+"?"+q.Encode())
}

// DialDataChannel opens the agent's data-channel websocket of sessionID.
func (c *Client) DialDataChannel(ctx context.Context, sessionID string) (*websocket.Conn, error) {
	return c.dial(ctx, "/v1/data-channel/"+url.PathEscape(sessionID)+"?role=publish_subscribe")
}

func (c *Client) dial(ctx context.Context, pathQuery string) (*websocket.Conn, error) {
	u := strings.TrimSuffix(c.Endpoint, "/") + pathQuery
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", pathQuery, err)
	}
	if err := c.sign(ctx, req, nil); err != nil {
		return nil, err
	}
	wsURL := "ws" + strings.TrimPrefix(u, "http")
	conn, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPClient: c.upgradeClient(), HTTPHeader: req.Header, CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusForbidden {
			return nil, fmt.Errorf("dial %s: %w", pathQuery, ErrAccessDenied)
		}
		return nil, fmt.Errorf("dial %s: %w", pathQuery, err)
	}
	// Frames up to several MiB carry fast-mode payloads and the control
	// channel's 142000-byte messages.
	conn.SetReadLimit(16 << 20)
	return conn, nil
}

func (c *Client) sign(ctx context.Context, req *http.Request, body []byte) error {
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("retrieve credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), ServiceName, c.Region, now()); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	return nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// upgradeClient is the client for websocket upgrades: no overall timeout,
// since the connection lives on after the upgrade.
func (c *Client) upgradeClient() *http.Client {
	if c.HTTPClient != nil {
		hc := *c.HTTPClient
		hc.Timeout = 0
		return &hc
	}
	return http.DefaultClient
}
