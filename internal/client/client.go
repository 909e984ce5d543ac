// Package client is Tether's session client: it connects to a session's
// data channel (the StreamUrl and TokenValue of StartSession), answers the
// agent's handshake, and keeps the stream going across network failures by
// calling ResumeSession and reconnecting, for as long as the session can be
// resumed, with nothing lost or repeated.
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
type Status struct {
	Connected bool          // true once (re)connected
	Attempt   int           // reconnect attempt number, from 1
	Elapsed   time.Duration // since the connection was lost
	Err       error         // the last failure
}

// Config configures a session client.
type Config struct {
	SessionID string
	StreamURL string
	Token     string
	// Resume calls ResumeSession and returns the new token. It returns an
	// error wrapping ErrSessionEnded when the session cannot be resumed;
	// other errors are retried. Nil disables resuming.
	Resume func(ctx context.Context) (string, error)
	// PingInterval and PingTimeout detect a dead connection: a ping not
	// answered within PingTimeout triggers a reconnect. Defaults 2 s, 3 s.
	PingInterval, PingTimeout time.Duration
	// FastRetry is how long after a loss reconnect attempts stay at most
	// FastBackoff apart, so that a network that comes back is used within
	// FastBackoff; after it, attempts back off up to MaxBackoff. Defaults
	// 15 s, 200 ms and 2 s.
	FastRetry, FastBackoff, MaxBackoff time.Duration
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
	token       string
	closed      *wire.ChannelClosed // set when channel_closed arrived
	endErr      error               // why the session cannot continue
	sessionType string
	properties  json.RawMessage
	customerMsg string
	done        chan struct{} // closed when the session ended or failed
	handshaked  chan struct{} // closed when HandshakeComplete arrived
	doneCtx     context.Context
	doneCancel  context.CancelFunc // cancels doneCtx when done is closed

	reconnectMu sync.Mutex // guards running and again
	running     bool       // a reconnect loop is running
	again       bool       // a transport failed while it ran: run it once more
	wg          sync.WaitGroup
}

func (c *Config) setDefaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = 2 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 3 * time.Second
	}
	if c.FastRetry <= 0 {
		c.FastRetry = 15 * time.Second
	}
	if c.FastBackoff <= 0 {
		c.FastBackoff = 200 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 2 * time.Second
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
	ep, err := stream.New(stream.Config{
		Role: stream.RoleClient, Mode: stream.ModeInterop, Logger: cfg.Logger,
		OnControl:        s.onControl,
		OnTransportError: func(_ stream.Transport, err error) { s.goReconnect(err) },
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

// connect dials the stream URL with the current token and attaches it.
func (s *Session) connect(ctx context.Context) error {
	s.mu.Lock()
	tok := s.token
	s.mu.Unlock()
	conn, _, err := websocket.Dial(ctx, s.cfg.StreamURL, &websocket.DialOptions{
		HTTPClient: s.cfg.HTTPClient, CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", s.cfg.StreamURL, err)
	}
	conn.SetReadLimit(16 << 20)
	open := wire.OpenDataChannelInput{
		MessageSchemaVersion: wire.MessageSchemaVersion, RequestID: wire.NewUUID().String(),
		TokenValue: tok, ClientID: s.clientID, ClientVersion: Version,
	}
	b, _ := json.Marshal(open)
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		conn.CloseNow()
		return fmt.Errorf("open data channel: %w", err)
	}
	t := wstransport.New(conn)
	if err := s.ep.Attach(t); err != nil {
		t.Close()
		return err
	}
	s.wg.Add(1)
	go s.keepalive(conn, t)
	return nil
}

// keepalive pings the gateway and drops the transport when it stops
// answering, which starts a reconnect.
func (s *Session) keepalive(conn *websocket.Conn, t *wstransport.Transport) {
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

func (s *Session) goReconnect(cause error) {
	s.reconnectMu.Lock()
	if s.running {
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
			s.reconnect(cause)
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

// reconnect resumes the session until it is connected again or cannot be.
func (s *Session) reconnect(cause error) {
	if s.ended() {
		return
	}
	lost := time.Now()
	backoff := 50 * time.Millisecond
	for attempt := 1; s.ctx.Err() == nil && !s.ended(); attempt++ {
		s.status(Status{Attempt: attempt, Elapsed: time.Since(lost), Err: cause})
		err := s.resumeOnce()
		if err == nil {
			s.status(Status{Connected: true, Attempt: attempt, Elapsed: time.Since(lost)})
			return
		}
		if errors.Is(err, ErrSessionEnded) {
			s.end(err)
			return
		}
		cause = err
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		limit := s.cfg.MaxBackoff
		if time.Since(lost) < s.cfg.FastRetry {
			limit = s.cfg.FastBackoff
		}
		backoff = min(backoff*2, limit)
	}
}

func (s *Session) resumeOnce() error {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if s.cfg.Resume == nil {
		return fmt.Errorf("%w: connection lost and resuming is disabled", ErrSessionEnded)
	}
	tok, err := s.cfg.Resume(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.token = tok
	s.mu.Unlock()
	return s.connect(ctx)
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
