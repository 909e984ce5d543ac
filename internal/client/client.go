// Package client is Tether's session client: it connects to a session's
// data channel (the StreamUrl and TokenValue of StartSession), answers the
// agent's handshake, and keeps the stream going across network failures by
// reconnecting, for as long as the session can be resumed, with nothing lost
// or repeated.
//
// Reconnecting: a connection that fails is redialled at once with the token
// in hand (StartSession's or the last ResumeSession's), which the gateway
// accepts until it expires or a newer ResumeSession supersedes it;
// ResumeSession is called only when the gateway refuses that token (close
// 1008, or HTTP 4xx on the upgrade) or it is older than TokenRefreshAge,
// once for all attempts in flight, and every ResumeCheck in a longer outage
// (so that a client that cannot reach the gateway still learns that its
// session has ended).
// Attempts start MinBackoff apart early in an outage and further apart as it
// lasts (a BackoffFraction of its length, up to MaxBackoff), at most
// MaxInflight at a time, each with a deadline, so that a dial hanging on a
// blackholed network does not hold up the next. The first attempt whose
// websocket is up sends the token and is attached to the stream (everything
// unacknowledged is resent on it at once); it wins when the gateway answers
// a ping on it (the gateway reads pings only after accepting the token).
// The other attempts are closed before they send a token, so the gateway
// never sees them as the session's client.
//
// The terminal, port-listener and command front ends (tether ssm
// start-session, the session-manager-plugin entry point) are built on it.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/wire"
	"github.com/tether-ssm/tether/internal/wstransport"
)

// Version is the ClientVersion the client reports. It is above 1.2.331.0
// so agents turn smux keepalive off, as they do for current plugins.
const Version = "1.2.707.0"

// ErrSessionEnded is returned by Resume implementations when the session
// can no longer be resumed (terminated, timed out, unknown).
var ErrSessionEnded = errors.New("session has ended")

// Status is a change in the connection, for progress displays.
// Attempts are reported when the first one starts and then at most every
// 250 ms; the reconnection always is.
type Status struct {
	Connected bool          // true once (re)connected
	Attempt   int           // reconnect attempt number, from 1
	Elapsed   time.Duration // since the connection was lost
	Err       error         // the last failure
	// AttemptTime, when Connected, is how long the successful attempt took
	// from its start (token, dial, the gateway's acceptance).
	AttemptTime time.Duration
}

// Config configures a session client.
type Config struct {
	SessionID string
	StreamURL string
	Token     string
	// Resume calls ResumeSession and returns the new token. It returns an
	// error wrapping ErrSessionEnded when the session cannot be resumed;
	// other errors are retried. It is called only when the gateway refuses
	// the token in hand. Nil disables reconnecting: the first transport
	// failure ends the session.
	Resume func(ctx context.Context) (string, error)
	// PingInterval and PingTimeout detect a dead connection: a ping not
	// answered within PingTimeout triggers a reconnect. PingTimeout also
	// bounds the wait for the gateway to accept a reconnection. Defaults
	// 2 s, 3 s.
	PingInterval, PingTimeout time.Duration
	// Reconnect attempts start BackoffFraction of the outage so far apart,
	// but at least MinBackoff and at most MaxBackoff: with the defaults
	// (10 ms, 0.01, 2 s) every 10 ms for the first second, 50 ms apart
	// after 5 s, 2 s apart after 200 s, for as long as the session can be
	// resumed. A network that comes back is used after about 1% of the
	// time it was away (plus a round trip).
	MinBackoff, MaxBackoff time.Duration
	BackoffFraction        float64
	// MaxInflight bounds the attempts in flight at once (default 8). Each
	// may take a quarter of the outage so far, but at least AttemptTimeout
	// and at most MaxAttemptTimeout (defaults 1 s, 10 s), covering the
	// ResumeSession call when one is needed, the dial and the gateway's
	// acceptance; on a blackholed network a new attempt starts at least
	// every AttemptTimeout/MaxInflight.
	MaxInflight                       int
	AttemptTimeout, MaxAttemptTimeout time.Duration
	// ResumeCheck: in an outage longer than this, ResumeSession is called
	// every ResumeCheck even though the token in hand would do, so that a
	// client that cannot reach the gateway still learns that its session
	// has ended (and keeps a fresh token). Default 2 s.
	ResumeCheck time.Duration
	// TokenRefreshAge: a token obtained longer ago than this is replaced
	// by ResumeSession before a reconnect uses it, rather than dialled and
	// refused once it has expired (Tether's tokens are valid 10 minutes).
	// Default 5 min.
	TokenRefreshAge time.Duration
	// Clock times the reconnect schedule; nil means the system clock.
	Clock stream.Clock
	// Interop keeps the stream in interop mode even with a Tether agent,
	// as the real plugin would (for tests and comparisons).
	Interop bool
	// OnStatus, if set, is told about connection changes. It must not block.
	OnStatus func(Status)
	// HTTPClient dials the websocket; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
}

// Session is a connected session client.
type Session struct {
	cfg      Config
	ep       *stream.Endpoint
	clientID string
	log      *slog.Logger

	ctx    context.Context // lives until Close
	cancel context.CancelFunc

	mu          sync.Mutex // guards the following fields
	token       string     // the token in hand
	stale       bool       // the gateway refused token: ResumeSession first
	refreshing  chan struct{}
	refusals    int                 // commits of token that failed in a row
	lostAt      time.Time           // when the current outage began
	lastResume  time.Time           // when the last ResumeSession call started
	tokenAt     time.Time           // when the token in hand was obtained
	closed      *wire.ChannelClosed // set when channel_closed arrived
	endErr      error               // why the session cannot continue
	sessionType string
	properties  json.RawMessage
	customerMsg string
	done        chan struct{} // closed when the session ended or failed
	handshaked  chan struct{} // closed when HandshakeComplete arrived
	doneCtx     context.Context
	doneCancel  context.CancelFunc // cancels doneCtx when done is closed

	reconnectMu   sync.Mutex      // guards the following fields
	running       bool            // a reconnect loop is running
	again         bool            // the current transport failed while it ran: run it once more
	current       *tokenTransport // the transport in use
	pending       *tokenTransport // a reconnection waiting for the gateway's acceptance
	pendingFailed bool            // pending failed while it waited
	wg            sync.WaitGroup
}

// tokenTransport is a data-channel websocket and the token it was opened
// with.
type tokenTransport struct {
	*wstransport.Transport
	tok string
}

func (c *Config) setDefaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = 2 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 3 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 10 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 2 * time.Second
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.BackoffFraction <= 0 {
		c.BackoffFraction = 0.01
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 8
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = time.Second
	}
	if c.MaxAttemptTimeout <= 0 {
		c.MaxAttemptTimeout = 10 * time.Second
	}
	c.MaxAttemptTimeout = max(c.MaxAttemptTimeout, c.AttemptTimeout)
	if c.ResumeCheck <= 0 {
		c.ResumeCheck = 2 * time.Second
	}
	if c.TokenRefreshAge <= 0 {
		c.TokenRefreshAge = 5 * time.Minute
	}
	if c.Clock == nil {
		c.Clock = stream.SystemClock()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
}

// Open connects to the session's data channel.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	cfg.setDefaults()
	sctx, cancel := context.WithCancel(context.Background())
	s := &Session{cfg: cfg, clientID: wire.NewUUID().String(), log: cfg.Logger, token: cfg.Token,
		ctx: sctx, cancel: cancel, done: make(chan struct{}), handshaked: make(chan struct{})}
	s.doneCtx, s.doneCancel = context.WithCancel(context.Background())
	s.tokenAt = cfg.Clock.Now()
	ep, err := stream.New(stream.Config{
		Role: stream.RoleClient, Mode: stream.ModeInterop, Logger: cfg.Logger,
		OnControl:        s.onControl,
		OnTransportError: s.transportFailed,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	s.ep = ep
	if err := s.connect(ctx); err != nil {
		ep.Close(canceled())
		cancel()
		return nil, err
	}
	return s, nil
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// connect makes the first connection: dial, send the token, attach. The
// gateway's verdict on the token comes later (a refusal is a transport
// failure like any other), so the stream starts without a round trip.
func (s *Session) connect(ctx context.Context) error {
	s.mu.Lock()
	tok := s.token
	s.mu.Unlock()
	conn, err := s.dial(ctx, tok)
	if err != nil {
		return err
	}
	if err := s.open(ctx, conn, tok); err != nil {
		return err
	}
	t := &tokenTransport{Transport: wstransport.New(conn), tok: tok}
	s.reconnectMu.Lock()
	s.current = t
	s.reconnectMu.Unlock()
	if err := s.ep.Attach(t); err != nil {
		return err
	}
	s.wg.Add(1)
	go s.keepalive(conn, t)
	return nil
}

// dial opens a websocket to the stream URL. An HTTP 4xx answer to the
// upgrade is the gateway refusing: tok is then marked stale.
func (s *Session) dial(ctx context.Context, tok string) (*websocket.Conn, error) {
	conn, resp, err := websocket.Dial(ctx, s.cfg.StreamURL, &websocket.DialOptions{
		HTTPClient: s.cfg.HTTPClient, CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 {
			s.tokenRefused(tok)
		}
		return nil, fmt.Errorf("connect to %s: %w", s.cfg.StreamURL, err)
	}
	conn.SetReadLimit(16 << 20)
	return conn, nil
}

// open sends the OpenDataChannelInput with tok; on failure conn is closed.
func (s *Session) open(ctx context.Context, conn *websocket.Conn, tok string) error {
	open := wire.OpenDataChannelInput{
		MessageSchemaVersion: wire.MessageSchemaVersion, RequestID: wire.NewUUID().String(),
		TokenValue: tok, ClientID: s.clientID, ClientVersion: Version,
	}
	b, _ := json.Marshal(open)
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		conn.CloseNow()
		return fmt.Errorf("open data channel: %w", err)
	}
	return nil
}

// keepalive pings the gateway and drops the transport when it stops
// answering, which starts a reconnect.
func (s *Session) keepalive(conn *websocket.Conn, t stream.Transport) {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.PingInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.PingTimeout)
			err := conn.Ping(ctx)
			cancel()
			if err != nil {
				if s.ctx.Err() == nil {
					s.log.Debug("ping failed", "err", err)
				}
				t.Close() // the endpoint notices and reconnects
				return
			}
		}
	}
}

// transportFailed is the stream's OnTransportError. A close 1008 (policy
// violation) is the gateway refusing the token. Only the failure of the
// transport in use starts a reconnect; a reconnection waiting for the
// gateway's acceptance is failed; others are candidates already given up.
func (s *Session) transportFailed(t stream.Transport, err error) {
	tt, _ := t.(*tokenTransport)
	if tt != nil && websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
		s.log.Debug("gateway refused the token", "err", err)
		s.tokenRefused(tt.tok)
	}
	s.reconnectMu.Lock()
	switch {
	case tt != nil && tt == s.pending:
		s.pendingFailed = true
		s.reconnectMu.Unlock()
		return
	case tt == nil || tt != s.current:
		s.reconnectMu.Unlock()
		return
	case s.running:
		s.again = true // the loop runs once more: no failure goes unanswered
		s.reconnectMu.Unlock()
		return
	}
	s.running = true
	s.reconnectMu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			s.reconnect(err)
			s.reconnectMu.Lock()
			if !s.again {
				s.running = false
				s.reconnectMu.Unlock()
				return
			}
			s.again = false
			s.reconnectMu.Unlock()
		}
	}()
}

// reconnect reconnects until connected, or the session ends or cannot be
// resumed.
func (s *Session) reconnect(cause error) {
	if s.ended() {
		return
	}
	if s.cfg.Resume == nil {
		s.end(fmt.Errorf("%w: connection lost and resuming is disabled", ErrSessionEnded))
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	stop := context.AfterFunc(s.doneCtx, cancel)
	defer stop()
	s.mu.Lock()
	s.lostAt = s.cfg.Clock.Now()
	s.mu.Unlock()
	r := retrier{sched: s.cfg.schedule(), clock: s.cfg.Clock, attempt: s.attempt, status: s.status}
	if err := r.run(ctx, cause); errors.Is(err, ErrSessionEnded) {
		s.end(err)
	}
}

// attempt is one reconnect attempt: a token (ResumeSession if the one in
// hand was refused) and a websocket to the stream URL.
func (s *Session) attempt(ctx context.Context) (candidate, error) {
	tok, err := s.usableToken(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := s.dial(ctx, tok)
	if err != nil {
		return nil, err
	}
	return &wsCandidate{s: s, conn: conn, tok: tok}, nil
}

// usableToken returns the token to dial with: the token in hand, or a new
// one from ResumeSession when resumeDue says so. Concurrent callers share
// one ResumeSession call (each call supersedes the tokens before it).
func (s *Session) usableToken(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		if ch := s.refreshing; ch != nil {
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		now := s.cfg.Clock.Now()
		stale := s.stale
		ts := tokenState{stale: stale, lost: s.lostAt, last: s.lastResume, got: s.tokenAt}
		if !resumeDue(ts, now, s.cfg.ResumeCheck, s.cfg.TokenRefreshAge) {
			tok := s.token
			s.mu.Unlock()
			if stale {
				return "", errors.New("the gateway refused the token and ResumeSession failed a moment ago")
			}
			return tok, nil
		}
		ch := make(chan struct{})
		s.refreshing, s.lastResume = ch, now
		s.mu.Unlock()
		tok, err := s.cfg.Resume(ctx)
		s.mu.Lock()
		if err == nil {
			s.token, s.stale, s.refusals, s.tokenAt = tok, false, 0, now
		}
		s.refreshing = nil
		close(ch)
		inHand := s.token
		s.mu.Unlock()
		switch {
		case err == nil:
			return tok, nil
		case stale || errors.Is(err, ErrSessionEnded):
			return "", fmt.Errorf("resume session: %w", err)
		default: // a periodic check that failed: the token in hand may do
			s.log.Debug("resume session", "err", err)
			return inHand, nil
		}
	}
}

// staleResumeGap is the least time between ResumeSession calls while the
// gateway refuses the token in hand.
const staleResumeGap = 100 * time.Millisecond

// tokenState is what decides whether a reconnect attempt calls
// ResumeSession: whether the gateway refused the token in hand, when the
// outage began, when ResumeSession was last called, when the token in hand
// was obtained.
type tokenState struct {
	stale           bool
	lost, last, got time.Time
}

// resumeDue says whether ResumeSession is to be called at now: when the
// gateway refused the token in hand or it is older than maxAge (at most
// every staleResumeGap), and every check once the outage is check long, so
// that a client that cannot reach the gateway still learns that its session
// ended.
func resumeDue(ts tokenState, now time.Time, check, maxAge time.Duration) bool {
	since := now.Sub(ts.last)
	if ts.stale || now.Sub(ts.got) >= maxAge {
		return since >= staleResumeGap
	}
	return now.Sub(ts.lost) >= check && since >= check
}

// tokenRefused marks tok stale if it is still the token in hand.
func (s *Session) tokenRefused(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok {
		s.stale = true
	}
}

// refusalsBeforeStale is how many reconnections with one token may fail
// after their websocket was up before the token is presumed refused (the
// close 1008 that says so can lose the race against a send error).
const refusalsBeforeStale = 2

// commitFailed counts a reconnection with tok that failed once its
// websocket was up.
func (s *Session) commitFailed(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != tok {
		return
	}
	s.refusals++
	if s.refusals >= refusalsBeforeStale {
		s.stale = true
	}
}

// wsCandidate is a reconnect attempt's websocket, token not yet sent.
type wsCandidate struct {
	s    *Session
	conn *websocket.Conn
	tok  string
}

// commit sends the token, attaches the websocket to the stream (which
// resends everything unacknowledged at once) and waits for the gateway to
// answer a ping: it reads pings only after it has accepted the token.
func (c *wsCandidate) commit(ctx context.Context) error {
	s := c.s
	if err := s.open(ctx, c.conn, c.tok); err != nil {
		return err
	}
	t := &tokenTransport{Transport: wstransport.New(c.conn), tok: c.tok}
	s.reconnectMu.Lock()
	s.pending, s.pendingFailed = t, false
	s.reconnectMu.Unlock()
	if err := s.ep.Attach(t); err != nil {
		s.clearPending()
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PingTimeout)
	err := c.conn.Ping(pctx)
	cancel()
	s.reconnectMu.Lock()
	failed := s.pendingFailed
	s.pending = nil
	if err == nil && !failed {
		s.current = t
	}
	s.reconnectMu.Unlock()
	if err != nil || failed {
		t.Close()
		s.commitFailed(c.tok)
		if err == nil {
			err = errors.New("connection closed")
		}
		return fmt.Errorf("gateway did not accept the connection: %w", err)
	}
	s.mu.Lock()
	if s.token == c.tok {
		s.refusals = 0
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.keepalive(c.conn, t)
	return nil
}

func (c *wsCandidate) discard() { c.conn.CloseNow() }

func (s *Session) clearPending() {
	s.reconnectMu.Lock()
	s.pending = nil
	s.reconnectMu.Unlock()
}

func (s *Session) status(st Status) {
	if s.cfg.OnStatus != nil {
		s.cfg.OnStatus(st)
	}
}

// onControl handles channel_closed.
func (s *Session) onControl(m *wire.Message) {
	if m.MessageType != wire.TypeChannelClosed {
		return
	}
	var cc wire.ChannelClosed
	wire.ParsePayload(m.Payload, &cc)
	s.mu.Lock()
	if s.closed == nil {
		s.closed = &cc
	}
	s.mu.Unlock()
	s.end(nil)
}

// end records that the session is over (err nil: closed normally).
func (s *Session) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	s.endErr = err
	close(s.done)
	s.doneCancel()
}

func (s *Session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Done is closed when the session has ended (channel_closed) or can no
// longer be resumed; Err then says which.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns nil while the session runs or after a normal end
// (channel_closed), and the reason otherwise.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endErr
}

// ClosedOutput returns the Output of channel_closed, if one arrived.
func (s *Session) ClosedOutput() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed == nil {
		return "", false
	}
	return s.closed.Output, true
}

// Handshaked is closed once the agent's HandshakeComplete has been read.
// Sessions with a handshake (Port, NonInteractiveCommands) must not send
// data before it: the agent discards input that arrives during the
// handshake.
func (s *Session) Handshaked() <-chan struct{} { return s.handshaked }

// CustomerMessage returns the HandshakeComplete message for the user.
func (s *Session) CustomerMessage() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.customerMsg
}

// SessionType returns the session type announced by the handshake (or
// Standard_Stream inferred from the first output), once known.
func (s *Session) SessionType() (string, json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessionType, s.properties
}

// Write sends input of the given type (Output for keystrokes or port bytes,
// Size, Flag). It blocks while the stream's window is full.
func (s *Session) Write(ctx context.Context, pt wire.PayloadType, p []byte) error {
	_, err := s.ep.Write(ctx, pt, p)
	return err
}

// Read returns the next payload for the application (Output, StdErr,
// ExitCode, Flag, and HandshakeComplete once the session type is known),
// answering handshake requests itself. Once the session has
// ended it still returns what was received before the end, then ErrEnded.
func (s *Session) Read(ctx context.Context) (stream.Payload, error) {
	for {
		p, err := s.next(ctx)
		if err != nil {
			return p, err
		}
		switch p.Type {
		case wire.PayloadHandshakeRequest:
			if err := s.answerHandshake(ctx, p.Data); err != nil {
				return stream.Payload{}, err
			}
			continue
		case wire.PayloadHandshakeComplete:
			// Returned to the caller too: the session type is now known.
			var hc wire.HandshakeComplete
			wire.ParsePayload(p.Data, &hc)
			s.mu.Lock()
			s.customerMsg = hc.CustomerMessage
			select {
			case <-s.handshaked:
			default:
				close(s.handshaked)
			}
			s.mu.Unlock()
		case wire.PayloadOutput:
			s.mu.Lock()
			if s.sessionType == "" {
				s.sessionType = wire.SessionStandardStream
			}
			s.mu.Unlock()
		}
		return p, nil
	}
}

// next reads the stream until the session ends; after the end it returns
// what is already buffered, then ErrEnded. The gateway relays every output
// frame before channel_closed, in order, so nothing is cut short.
func (s *Session) next(ctx context.Context) (stream.Payload, error) {
	if !s.ended() {
		rctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(s.doneCtx, cancel)
		p, err := s.ep.Read(rctx)
		stop()
		cancel()
		if err == nil || ctx.Err() != nil || !s.ended() {
			return p, err
		}
	}
	// Read returns buffered payloads even with a cancelled context.
	if p, err := s.ep.Read(canceled()); err == nil {
		return p, nil
	}
	return stream.Payload{}, ErrEnded
}

// ErrEnded is returned by Read once the session has ended and every
// payload has been read.
var ErrEnded = errors.New("session ended")

// answerHandshake accepts the agent's requested actions.
func (s *Session) answerHandshake(ctx context.Context, data []byte) error {
	var req wire.HandshakeRequest
	if err := wire.ParsePayload(data, &req); err != nil {
		return err
	}
	resp := wire.HandshakeResponse{ClientVersion: Version}
	fast := false
	for _, a := range req.RequestedClientActions {
		pa := wire.ProcessedClientAction{ActionType: a.ActionType, ActionStatus: wire.ActionSuccess}
		switch a.ActionType {
		case wire.ActionSessionType:
			st, err := a.SessionType()
			if err != nil {
				return err
			}
			s.mu.Lock()
			s.sessionType, s.properties = st.SessionType, st.Properties
			s.mu.Unlock()
		case ActionTetherStream:
			// A Tether agent: both sides switch to fast mode (stream
			// package doc, "Modes"); the agent also separates stdout and
			// stderr and reports exit codes.
			pa.ActionResult = json.RawMessage(`{"Version":1}`)
			fast = !s.cfg.Interop
		default:
			pa.ActionStatus = wire.ActionUnsupported
			pa.Error = "Unsupported action " + string(a.ActionType)
		}
		if a.ActionType == ActionTetherStream && s.cfg.Interop {
			pa.ActionStatus, pa.ActionResult = wire.ActionUnsupported, nil
		}
		resp.ProcessedClientActions = append(resp.ProcessedClientActions, pa)
	}
	b, _ := json.Marshal(resp)
	if _, err := s.ep.Write(ctx, wire.PayloadHandshakeResponse, b); err != nil {
		return err
	}
	if fast {
		return s.ep.EnableFast(ctx, stream.FastOptions{})
	}
	return nil
}

// ActionTetherStream is the handshake action of a Tether agent.
const ActionTetherStream wire.ActionType = "TetherStream"

// StatsForTest returns the stream's counters.
func (s *Session) StatsForTest() stream.Stats { return s.ep.Stats() }

// Close ends the client side: it stops reconnecting and closes the stream
// without waiting for acknowledgements.
func (s *Session) Close() error {
	s.cancel()
	s.end(nil)
	err := s.ep.Close(canceled())
	s.wg.Wait()
	if errors.Is(err, stream.ErrClosed) {
		err = nil
	}
	return err
}
