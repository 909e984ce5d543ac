// Package sessions is the session service behind the SSM session operations
// (StartSession, ResumeSession, TerminateSession, DescribeSessions): the
// session lifecycle and its state machine, the built-in session documents,
// token minting, the own-sessions-only rule and session history retention.
//
// It receives a store.Store, a *token.Codec and a Presence (the gateway, or
// Offline until there is one). Operation methods take the authenticated
// principal and return *awsjson.Error values for every client-visible
// failure, so the API layer can register them unchanged.
package sessions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tether-ssm/tether/internal/auth"
	"github.com/tether-ssm/tether/internal/awsjson"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/token"
)

// Config configures a Service.
type Config struct {
	// PublicURL is the externally reachable base URL of the server
	// (http(s)://host:port[/prefix]); StreamUrl is built from it with the
	// scheme changed to ws(s). Required.
	PublicURL string
	// Region names the region in ARNs of AccessDenied messages. Zero means
	// "us-east-1".
	Region string
	// ClientTokenTTL is how long a TokenValue may be used to connect.
	// Zero means 10 minutes.
	ClientTokenTTL time.Duration
	// AgentTokenTTL is how long the agent's token for a session is valid.
	// Zero means 10 minutes.
	AgentTokenTTL time.Duration
	// HistoryRetention is how long ended sessions stay listed under History.
	// Zero means 30 days.
	HistoryRetention time.Duration
	// DefaultPageSize is the DescribeSessions page size without MaxResults.
	// Zero means 20.
	DefaultPageSize int
	// PageTokenTTL is how long a DescribeSessions NextToken stays valid.
	// Zero means 24 hours.
	PageTokenTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults with PublicURL http://127.0.0.1:8080.
func DefaultConfig() Config {
	return Config{PublicURL: "http://127.0.0.1:8080", Region: "us-east-1", ClientTokenTTL: 10 * time.Minute,
		AgentTokenTTL: 10 * time.Minute, HistoryRetention: 30 * 24 * time.Hour, DefaultPageSize: 20, PageTokenTTL: 24 * time.Hour}
}

func (c *Config) fill() error {
	d := DefaultConfig()
	if c.Region == "" {
		c.Region = d.Region
	}
	if c.ClientTokenTTL <= 0 {
		c.ClientTokenTTL = d.ClientTokenTTL
	}
	if c.AgentTokenTTL <= 0 {
		c.AgentTokenTTL = d.AgentTokenTTL
	}
	if c.HistoryRetention <= 0 {
		c.HistoryRetention = d.HistoryRetention
	}
	if c.DefaultPageSize <= 0 {
		c.DefaultPageSize = d.DefaultPageSize
	}
	if c.PageTokenTTL <= 0 {
		c.PageTokenTTL = d.PageTokenTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("public URL %q: want http(s)://host[:port]", c.PublicURL)
	}
	return nil
}

// Service implements the session operations. It is safe for concurrent use.
type Service struct {
	cfg      Config
	store    store.Store
	tokens   *token.Codec
	presence Presence
	log      *slog.Logger
	docs     map[string]Document
	streamWS string // ws(s)://host[/prefix]

	mu        sync.Mutex // guards lastSweep
	lastSweep time.Time
}

// New returns a Service. presence nil means Offline; log nil discards.
func New(cfg Config, st store.Store, tokens *token.Codec, presence Presence, log *slog.Logger) (*Service, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if presence == nil {
		presence = Offline{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, _ := url.Parse(cfg.PublicURL)
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	base := u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
	return &Service{cfg: cfg, store: st, tokens: tokens, presence: presence, log: log, docs: Documents(), streamWS: base}, nil
}

// StreamURL is the data-channel URL of a session.
func (s *Service) StreamURL(sessionID string) string {
	return s.streamWS + "/v1/data-channel/" + url.PathEscape(sessionID) + "?role=publish_subscribe"
}

func (s *Service) sessionARN(p *auth.Principal, id string) string {
	return "arn:aws:ssm:" + s.cfg.Region + ":" + p.AccountID + ":session/" + id
}

// newSessionID returns "<name>-<17 lowercase hex>".
func newSessionID(name string) string {
	var b [9]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	return name + "-" + hex.EncodeToString(b[:])[:17]
}

// StartSession starts a session on a connected node.
func (s *Service) StartSession(ctx context.Context, p *auth.Principal, in *StartSessionInput) (*SessionOutput, error) {
	name := DefaultDocument
	if in.DocumentName != "" {
		name = documentName(in.DocumentName)
	}
	doc, ok := s.docs[name]
	if !ok {
		return nil, awsjson.Errorf(awsjson.CodeInvalidDocument, "Document %s does not exist or is not a Session Manager document.", in.DocumentName)
	}
	params, err := doc.Resolve(in.Parameters)
	if err != nil {
		return nil, awsjson.Errorf(awsjson.CodeInvalidDocument, "%s", err.Error())
	}
	if !p.MayUseDocument(doc.Name) {
		return nil, awsjson.Errorf(awsjson.CodeAccessDenied, "%s", auth.DeniedMessage(p, "ssm:StartSession", "arn:aws:ssm:"+s.cfg.Region+"::document/"+doc.Name))
	}
	node, err := s.store.GetNode(ctx, in.Target)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, awsjson.Internal(fmt.Errorf("start session: %w", err))
	}
	if !p.MayTarget(in.Target, node.Tags) {
		return nil, awsjson.Errorf(awsjson.CodeAccessDenied, "%s", auth.DeniedMessage(p, "ssm:StartSession", "arn:aws:ssm:"+s.cfg.Region+":"+p.AccountID+":managed-instance/"+in.Target))
	}
	if !s.presence.Connected(in.Target) {
		return nil, awsjson.Errorf(awsjson.CodeTargetNotConnected, "%s is not connected.", in.Target)
	}
	now := s.cfg.Now().UTC()
	sess := store.Session{
		ID: newSessionID(p.Name), Target: in.Target, Status: store.StatusConnecting, StartDate: now,
		DocumentName: doc.Name, Owner: p.ARN, Reason: in.Reason, Parameters: params,
		ClientGeneration: 1, LastActivity: now,
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, awsjson.Internal(fmt.Errorf("start session: %w", err))
	}
	out, err := s.clientOutput(sess, p)
	if err != nil {
		return nil, err
	}
	agentTok, err := s.tokens.Seal(token.Claims{SessionID: sess.ID, Role: token.RoleAgent, Principal: p.ARN,
		IssuedAt: now, Expiry: now.Add(s.cfg.AgentTokenTTL)})
	if err != nil {
		return nil, awsjson.Internal(fmt.Errorf("start session: %w", err))
	}
	if err := s.presence.OpenSession(ctx, sess, agentTok); err != nil {
		s.fail(ctx, sess.ID, "the agent could not be reached: "+err.Error())
		if errors.Is(err, ErrNotConnected) {
			return nil, awsjson.Errorf(awsjson.CodeTargetNotConnected, "%s is not connected.", in.Target)
		}
		return nil, awsjson.Internal(fmt.Errorf("start session: %w", err))
	}
	s.log.Info("session started", "session_id", sess.ID, "node_id", sess.Target, "document", doc.Name, "owner", p.ARN)
	return out, nil
}

// fail marks a session Failed (best effort; logged).
func (s *Service) fail(ctx context.Context, id, details string) {
	_, err := s.store.UpdateSession(ctx, id, func(x *store.Session) error {
		x.Status, x.EndDate, x.Details = store.StatusFailed, s.cfg.Now().UTC(), truncate(details, 1024)
		return nil
	})
	if err != nil {
		s.log.Error("mark session failed", "session_id", id, "err", err)
	}
}

func (s *Service) clientOutput(sess store.Session, p *auth.Principal) (*SessionOutput, error) {
	now := s.cfg.Now().UTC()
	tok, err := s.tokens.Seal(token.Claims{SessionID: sess.ID, Role: token.RoleClient, Principal: p.ARN,
		Generation: sess.ClientGeneration, IssuedAt: now, Expiry: now.Add(s.cfg.ClientTokenTTL)})
	if err != nil {
		return nil, awsjson.Internal(fmt.Errorf("mint token: %w", err))
	}
	return &SessionOutput{SessionID: sess.ID, TokenValue: tok, StreamURL: s.StreamURL(sess.ID)}, nil
}

var errNoSession = errors.New("no such session")

// ResumeSession mints a new client token for a session that has not ended,
// superseding older ones, and resets its idle timer.
func (s *Service) ResumeSession(ctx context.Context, p *auth.Principal, in *SessionIDInput) (*SessionOutput, error) {
	sess, err := s.store.UpdateSession(ctx, in.SessionID, func(x *store.Session) error {
		if !x.Status.Active() {
			return errNoSession
		}
		if !p.MayActOnSession(x.ID, x.Owner) {
			return awsjson.Errorf(awsjson.CodeAccessDenied, "%s", auth.DeniedMessage(p, "ssm:ResumeSession", s.sessionARN(p, x.ID)))
		}
		x.ClientGeneration++
		x.LastActivity = s.cfg.Now().UTC()
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errNoSession):
		return nil, awsjson.Errorf(awsjson.CodeDoesNotExist, "Session with id %s does not exist.", in.SessionID)
	case err != nil:
		return nil, wrapInternal("resume session", err)
	}
	s.log.Debug("session resumed", "session_id", sess.ID, "generation", sess.ClientGeneration)
	return s.clientOutput(sess, p)
}

// TerminateSession ends a session for good. It is idempotent: terminating an
// ended or unknown session returns its id and changes nothing.
func (s *Service) TerminateSession(ctx context.Context, p *auth.Principal, in *SessionIDInput) (*TerminateSessionOutput, error) {
	ended := false
	_, err := s.store.UpdateSession(ctx, in.SessionID, func(x *store.Session) error {
		if !p.MayActOnSession(x.ID, x.Owner) {
			return awsjson.Errorf(awsjson.CodeAccessDenied, "%s", auth.DeniedMessage(p, "ssm:TerminateSession", s.sessionARN(p, x.ID)))
		}
		if x.Status.Ended() {
			return errNoSession // nothing to write
		}
		x.Status, x.EndDate, x.Details = store.StatusTerminated, s.cfg.Now().UTC(), "Terminated by "+p.ARN
		ended = true
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errNoSession):
	case err != nil:
		return nil, wrapInternal("terminate session", err)
	}
	if ended {
		if err := s.presence.CloseSession(ctx, in.SessionID); err != nil {
			s.log.Warn("close terminated session", "session_id", in.SessionID, "err", err)
		}
		s.log.Info("session terminated", "session_id", in.SessionID, "by", p.ARN)
	}
	return &TerminateSessionOutput{SessionID: in.SessionID}, nil
}

// wrapInternal passes *awsjson.Error through and wraps anything else.
func wrapInternal(what string, err error) error {
	var ae *awsjson.Error
	if errors.As(err, &ae) {
		return ae
	}
	return awsjson.Internal(fmt.Errorf("%s: %w", what, err))
}

// Sweep deletes sessions that ended more than HistoryRetention ago.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	s.lastSweep = now
	s.mu.Unlock()
	n, err := s.store.DeleteSessionsEndedBefore(ctx, now.Add(-s.cfg.HistoryRetention))
	if err != nil {
		return 0, fmt.Errorf("sweep session history: %w", err)
	}
	if n > 0 {
		s.log.Info("session history swept", "deleted", n)
	}
	return n, nil
}

// sweepIfDue sweeps at most once a minute.
func (s *Service) sweepIfDue(ctx context.Context) {
	s.mu.Lock()
	due := s.cfg.Now().Sub(s.lastSweep) > time.Minute
	s.mu.Unlock()
	if due {
		if _, err := s.Sweep(ctx); err != nil {
			s.log.Error("sweep", "err", err)
		}
	}
}

// VerifyClientToken checks a client TokenValue for the gateway: authentic,
// unexpired, for this session, not superseded, and the session not ended.
func (s *Service) VerifyClientToken(ctx context.Context, sessionID, tok string) (store.Session, token.Claims, error) {
	return s.verifyToken(ctx, sessionID, tok, token.RoleClient)
}

// VerifyAgentToken checks the agent's token for a session.
func (s *Service) VerifyAgentToken(ctx context.Context, sessionID, tok string) (store.Session, token.Claims, error) {
	return s.verifyToken(ctx, sessionID, tok, token.RoleAgent)
}

// ErrSessionMismatch is returned when a token names another session.
var ErrSessionMismatch = errors.New("token is for another session")

// ErrSessionEnded is returned for tokens of a terminated or failed session.
var ErrSessionEnded = errors.New("session has ended")

func (s *Service) verifyToken(ctx context.Context, sessionID, tok string, role token.Role) (store.Session, token.Claims, error) {
	cl, err := s.tokens.Open(tok)
	if err != nil {
		return store.Session{}, cl, err
	}
	if cl.SessionID != sessionID {
		return store.Session{}, cl, ErrSessionMismatch
	}
	sess, err := s.store.GetSession(ctx, sessionID)
	if err != nil {
		return sess, cl, fmt.Errorf("verify token: %w", err)
	}
	if sess.Status.Ended() {
		return sess, cl, ErrSessionEnded
	}
	gen := sess.ClientGeneration
	if role == token.RoleAgent {
		gen = 0
	}
	if _, err := s.tokens.Verify(tok, role, gen); err != nil {
		return sess, cl, err
	}
	return sess, cl, nil
}
