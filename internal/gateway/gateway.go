// Package gateway is Tether's message gateway (the ssmmessages side): the
// websocket endpoints that clients and agents connect to, and the relay
// between them.
//
//   - Agents call CreateControlChannel and CreateDataChannel (REST, SigV4
//     with service "ssmmessages" and the node's credentials) and open
//     /v1/control-channel/<node-id> and /v1/data-channel/<session-id>.
//   - Clients open /v1/data-channel/<session-id>?role=publish_subscribe and
//     present the token of StartSession/ResumeSession in their first frame.
//
// The gateway authenticates each socket, attaches it to its session and
// relays frames unchanged and in order. It holds no stream data: reliability
// is end to end between client and agent (internal/stream), so while the
// client is away the agent is paused (pause_publication) and frames that
// cannot be delivered are dropped, to be retransmitted by their sender.
//
// Session state that must survive a restart (status, last activity) lives in
// the store; sockets and timers live here. Gateway does not listen on its
// own: mount Handler on an HTTP server.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tether-ssm/tether/internal/chanmux"
	"github.com/tether-ssm/tether/internal/sigv4"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/token"
)

// Config configures a Gateway. Zero durations take the documented defaults.
type Config struct {
	// IdleTimeout ends a session whose client has been away this long.
	// Default 20 minutes; AWS allows 1–60 minutes.
	IdleTimeout time.Duration
	// MaxSessionDuration ends any session this long after it started.
	// Zero means no limit.
	MaxSessionDuration time.Duration
	// AuthTimeout is how long a new socket has to present its first frame.
	// Default 10 s.
	AuthTimeout time.Duration
	// PingInterval is how often both ends are pinged; a peer that does not
	// answer within PingTimeout is dropped. Defaults 5 s and 5 s.
	PingInterval, PingTimeout time.Duration
	// SocketBufferSize is the read and the write buffer of each client
	// data-channel websocket. Zero means 2 KiB; negative keeps net/http's
	// 4 KiB each.
	SocketBufferSize int
	// Mux configures agents' multiplexed data-channel connections
	// (chanmux); zero values take chanmux's defaults. Mux.Window bounds
	// what the gateway holds for one session whose client reads slower
	// than its agent sends (4 MiB by default; an idle session holds none).
	Mux chanmux.Config
	// SweepInterval is how often idle and over-long sessions are looked
	// for (each sweep lists the active sessions). Default 5 s.
	SweepInterval time.Duration
	// TokenTTL is the lifetime of agent tokens minted by CreateDataChannel
	// and CreateControlChannel. Default 10 minutes.
	TokenTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives events; nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.IdleTimeout, 20*time.Minute)
	def(&c.AuthTimeout, 10*time.Second)
	def(&c.PingInterval, 5*time.Second)
	def(&c.PingTimeout, 5*time.Second)
	def(&c.SweepInterval, 5*time.Second)
	def(&c.TokenTTL, 10*time.Minute)
	if c.SocketBufferSize == 0 {
		c.SocketBufferSize = 2 << 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Gateway serves the ssmmessages endpoints. It is safe for concurrent use.
type Gateway struct {
	cfg       Config
	store     store.Store
	tokens    *token.Codec
	verifier  *sigv4.Verifier
	registrar Registrar // nil: no /v1/register
	log       *slog.Logger

	mu      sync.Mutex // guards the following fields
	nodes   map[string]*controlConn
	relays  map[string]*relay
	muxes   map[*chanmux.Conn]struct{} // agents' multiplexed connections
	closed  bool
	stopped chan struct{}
	wg      sync.WaitGroup // goroutines owned by the gateway

	ping pinger // every websocket's keepalive
}

// New returns a gateway over st, minting and checking tokens with tokens.
// Call Run to start its housekeeping and Close to stop it.
func New(cfg Config, st store.Store, tokens *token.Codec) *Gateway {
	cfg.setDefaults()
	g := &Gateway{
		cfg: cfg, store: st, tokens: tokens, log: cfg.Logger,
		nodes: map[string]*controlConn{}, relays: map[string]*relay{}, muxes: map[*chanmux.Conn]struct{}{},
		stopped: make(chan struct{}),
	}
	g.verifier = sigv4.New(sigv4.Config{Services: []string{"ssmmessages"}, Now: cfg.Now}, g.nodeCredentials)
	return g
}

func (g *Gateway) nodeCredentials(ctx context.Context, key string) (sigv4.Credentials, error) {
	n, err := g.store.GetNodeByAccessKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return sigv4.Credentials{}, fmt.Errorf("node key %s: %w", key, sigv4.ErrUnknownKey)
	}
	if err != nil {
		return sigv4.Credentials{}, err
	}
	return sigv4.Credentials{AccessKeyID: n.AccessKeyID, SecretAccessKey: n.SecretAccessKey}, nil
}

// EnableRegistration serves POST /v1/register with r.
func (g *Gateway) EnableRegistration(r Registrar) { g.registrar = r }

// Handler returns the HTTP handler of the /v1/ endpoints.
func (g *Gateway) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/register" && r.Method == http.MethodPost {
			g.serveRegister(w, r)
			return
		}
		kind, id, ok := parsePath(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		switch {
		case r.Method == http.MethodPost && kind == "control-channel":
			g.serveCreateControlChannel(w, r, id)
		case r.Method == http.MethodPost && kind == "data-channel":
			g.serveCreateDataChannel(w, r, id)
		case r.Method == http.MethodGet && kind == "control-channel":
			g.serveControlSocket(w, r, id)
		case r.Method == http.MethodGet && kind == "data-channel":
			g.serveDataSocket(w, r, id)
		case r.Method == http.MethodGet && kind == "mux-channel":
			g.serveMuxSocket(w, r, id)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// parsePath splits /v1/<kind>/<id>.
func parsePath(p string) (kind, id string, ok bool) {
	rest, found := strings.CutPrefix(p, "/v1/")
	if !found {
		return "", "", false
	}
	kind, id, found = strings.Cut(rest, "/")
	if !found || id == "" || strings.Contains(id, "/") || len(id) > 400 {
		return "", "", false
	}
	return kind, id, kind == "control-channel" || kind == "data-channel" || kind == "mux-channel"
}

// Run does the gateway's housekeeping until ctx is done or Close is called:
// on start it marks sessions left attached by a previous process as
// Disconnected (their sockets are gone), then it ends sessions that were
// idle or ran too long, and pings every websocket (one pinger for all,
// ping.go); without Run, dead peers are not detected.
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.recover(ctx); err != nil {
		return err
	}
	pingDone := make(chan struct{})
	go func() { defer close(pingDone); g.pingLoop(ctx) }()
	defer func() { <-pingDone }()
	t := time.NewTicker(g.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-g.stopped:
			return nil
		case <-t.C:
			g.sweep(ctx)
		}
	}
}

// Close drops every socket and waits for the gateway's goroutines.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	close(g.stopped)
	var peers []*peer
	for _, c := range g.nodes {
		peers = append(peers, c.peer)
	}
	for _, r := range g.relays {
		peers = append(peers, r.peersLocked()...)
	}
	var muxes []*chanmux.Conn
	for m := range g.muxes {
		muxes = append(muxes, m)
	}
	g.mu.Unlock()
	for _, p := range peers {
		p.close("gateway shutting down")
	}
	for _, m := range muxes {
		m.Close()
	}
	g.wg.Wait()
	return nil
}

func (g *Gateway) now() time.Time { return g.cfg.Now() }
