// Package agent is Tether's agent: it runs on a managed node, keeps an
// outbound control channel to the gateway open for ever (reconnecting with
// jittered backoff), and runs each session it is given — a PTY shell,
// commands, or port forwarding (subpackages shell and portforward) — over a
// resumable data channel built on internal/stream.
//
// The node never listens on a port: every connection is outbound, signed
// with the node's own credentials (internal/agent/mgs).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/agent/mgs"
	"github.com/tether-ssm/tether/internal/agent/shell"
	"github.com/tether-ssm/tether/internal/controlchannel"
	"github.com/tether-ssm/tether/internal/wire"
)

// Version is the agent version reported to gateways and clients. It must
// have four numeric parts and be above 3.1.1511.0, so that the real
// session-manager-plugin uses multiplexed port forwarding with smux
// keepalive off (protocol.md §5.3, §6.3).
const Version = "3.3.987.0"

// Config configures an Agent.
type Config struct {
	// Registration identifies the node and its credentials.
	Registration Registration
	// Shell configures shell and command sessions.
	Shell shell.Config
	// ReconnectMin and ReconnectMax bound the control channel's jittered
	// exponential backoff. Defaults 200 ms and 30 s.
	ReconnectMin, ReconnectMax time.Duration
	// DrainTimeout bounds how long a finished session waits for the client
	// to acknowledge its last output before the data channel is closed.
	// Default 20 minutes (the default idle timeout): output is not dropped
	// because the client happens to be away when the session ends.
	DrainTimeout time.Duration
	// HandshakeTimeout bounds the wait for the client's HandshakeResponse.
	// Default 60 s.
	HandshakeTimeout time.Duration
	// FirstConnectTimeout bounds the retries of a session's first
	// data-channel connection (a network blip while the client waits must
	// not fail the session). Default 30 s.
	FirstConnectTimeout time.Duration
	// HTTPClient makes the gateway's REST calls and websocket upgrades
	// (e.g. one trusting a private CA); nil means mgs.Client's default.
	HTTPClient *http.Client
	// DisableMux gives every session's data channel its own websocket, as
	// the real amazon-ssm-agent does. By default they are multiplexed over
	// one connection when the gateway offers it (mgs.OpenDataChannel).
	DisableMux bool
	// Logger receives events; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReconnectMin, 200*time.Millisecond)
	def(&c.ReconnectMax, 30*time.Second)
	def(&c.DrainTimeout, 20*time.Minute)
	def(&c.HandshakeTimeout, 60*time.Second)
	def(&c.FirstConnectTimeout, 30*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Agent serves one node.
type Agent struct {
	cfg Config
	mgs *mgs.Client
	log *slog.Logger

	mu       sync.Mutex // guards the following fields
	sessions map[string]context.CancelFunc
	control  *websocket.Conn // current control channel, nil while down

	wg sync.WaitGroup // running sessions
}

// New returns an agent for cfg.
func New(cfg Config) (*Agent, error) {
	cfg.setDefaults()
	reg := cfg.Registration
	if reg.NodeID == "" || reg.Server == "" || reg.AccessKeyID == "" {
		return nil, errors.New("agent is not registered: run `tether agent register` first")
	}
	creds := credentials.NewStaticCredentialsProvider(reg.AccessKeyID, reg.SecretAccessKey, "")
	return &Agent{
		cfg: cfg, log: cfg.Logger, sessions: map[string]context.CancelFunc{},
		mgs: &mgs.Client{Endpoint: reg.Server, Region: reg.region(), Credentials: aws.NewCredentialsCache(creds), HTTPClient: cfg.HTTPClient, DisableMux: cfg.DisableMux},
	}, nil
}

// Run keeps the control channel up and serves sessions until ctx is done,
// then cancels the running sessions and waits for them.
func (a *Agent) Run(ctx context.Context) error {
	defer a.wg.Wait()
	defer a.cancelAll()
	backoff := a.cfg.ReconnectMin
	for {
		start := time.Now()
		err := a.serveControl(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			backoff = a.cfg.ReconnectMin // it was up for a while: start over
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter: [backoff/2, backoff]
		a.log.Warn("control channel down; reconnecting", "node_id", a.cfg.Registration.NodeID, "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, a.cfg.ReconnectMax)
	}
}

// serveControl opens the control channel and handles it until it fails.
func (a *Agent) serveControl(ctx context.Context) error {
	nodeID := a.cfg.Registration.NodeID
	tok, err := a.mgs.CreateControlChannel(ctx, nodeID)
	if err != nil {
		return err
	}
	conn, err := a.mgs.DialControlChannel(ctx, nodeID)
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	hostname, _ := os.Hostname()
	open := controlchannel.OpenInput{
		MessageSchemaVersion: "1.0", RequestID: wire.NewUUID().String(), TokenValue: tok,
		AgentVersion: Version, PlatformType: runtime.GOOS, ComputerName: hostname,
		IPAddress: localIP(), PlatformName: runtime.GOOS,
	}
	if err := writeJSON(ctx, conn, open); err != nil {
		return fmt.Errorf("open control channel: %w", err)
	}
	a.mu.Lock()
	a.control = conn
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		if a.control == conn {
			a.control = nil
		}
		a.mu.Unlock()
	}()
	a.log.Info("control channel up", "node_id", nodeID, "server", a.cfg.Registration.Server)
	go keepalive(ctx, conn)
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return fmt.Errorf("read control channel: %w", err)
		}
		m, err := wire.Decode(b)
		if err != nil {
			continue
		}
		a.handleControl(ctx, &m)
	}
}

// handleControl acts on one control-channel message.
func (a *Agent) handleControl(ctx context.Context, m *wire.Message) {
	switch m.MessageType {
	case wire.TypeInteractiveShell:
		task, err := controlchannel.ParseInteractiveShell(m.Payload)
		if err != nil {
			a.log.Warn("bad interactive_shell", "err", err)
			return
		}
		a.startSession(ctx, task)
	case wire.TypeChannelClosed:
		var cc wire.ChannelClosed
		if wire.ParsePayload(m.Payload, &cc) == nil {
			a.cancelSession(cc.SessionID)
		}
	}
}

// startSession runs task in its own goroutine, once per session id.
func (a *Agent) startSession(ctx context.Context, task controlchannel.TaskPayload) {
	a.mu.Lock()
	if _, running := a.sessions[task.SessionID]; running {
		a.mu.Unlock()
		return
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.sessions[task.SessionID] = cancel
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.forget(task.SessionID)
		stop := context.AfterFunc(ctx, cancel) // agent shutdown ends sessions
		defer stop()
		a.runSession(sctx, task)
	}()
}

func (a *Agent) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cancel := a.sessions[id]; cancel != nil {
		cancel()
	}
	delete(a.sessions, id)
}

func (a *Agent) cancelSession(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cancel := a.sessions[id]; cancel != nil {
		cancel()
	}
}

func (a *Agent) cancelAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, cancel := range a.sessions {
		cancel()
	}
}

// sendControl sends m on the current control channel, if any.
func (a *Agent) sendControl(ctx context.Context, m *wire.Message) error {
	a.mu.Lock()
	conn := a.control
	a.mu.Unlock()
	if conn == nil {
		return errors.New("control channel is down")
	}
	b, err := wire.Encode(m)
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageBinary, b)
}

// keepalive pings the gateway; a missing pong ends the connection, as the
// real agent's pong deadline does.
func keepalive(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				conn.CloseNow()
				return
			}
		}
	}
}

// localIP returns the node's first non-loopback IPv4 address, or "".
func localIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return ""
}
