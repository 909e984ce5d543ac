// Package nodes is the managed-node side of the SSM API: activations
// (CreateActivation, DescribeActivations, DeleteActivation), node
// registration with an activation id and code (used by the agent's
// registration endpoint), and node status (DescribeInstanceInformation,
// GetConnectionStatus).
//
// Node connectivity comes from a Presence (the gateway; sessions.Offline
// until it exists). Operation methods return *awsjson.Error values for every
// client-visible failure.
package nodes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tether-ssm/tether/internal/awsjson"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/token"
)

// Presence reports whether a node's agent is connected (the gateway).
type Presence interface {
	Connected(nodeID string) bool
}

// Config configures a Service.
type Config struct {
	// DefaultActivationTTL is the lifetime of an activation created without
	// ExpirationDate. Zero means 24 hours (AWS's default).
	DefaultActivationTTL time.Duration
	// MaxActivationTTL bounds ExpirationDate. Zero means 30 days (AWS's limit).
	MaxActivationTTL time.Duration
	// PageTokenTTL is how long a NextToken stays valid. Zero means 24 hours.
	PageTokenTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{DefaultActivationTTL: 24 * time.Hour, MaxActivationTTL: 30 * 24 * time.Hour, PageTokenTTL: 24 * time.Hour}
}

// Service implements the node operations. It is safe for concurrent use.
type Service struct {
	cfg      Config
	store    store.Store
	tokens   *token.Codec
	presence Presence
	log      *slog.Logger
}

// New returns a Service; log nil discards.
func New(cfg Config, st store.Store, tokens *token.Codec, presence Presence, log *slog.Logger) *Service {
	d := DefaultConfig()
	if cfg.DefaultActivationTTL <= 0 {
		cfg.DefaultActivationTTL = d.DefaultActivationTTL
	}
	if cfg.MaxActivationTTL <= 0 {
		cfg.MaxActivationTTL = d.MaxActivationTTL
	}
	if cfg.PageTokenTTL <= 0 {
		cfg.PageTokenTTL = d.PageTokenTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, store: st, tokens: tokens, presence: presence, log: log}
}

const codeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n characters of alphabet drawn uniformly.
func randomString(n int, alphabet string) string {
	out := make([]byte, n)
	buf := make([]byte, 1)
	limit := 256 - 256%len(alphabet)
	for i := 0; i < n; {
		rand.Read(buf) //nolint:errcheck // crypto/rand.Read never fails
		if int(buf[0]) >= limit {
			continue
		}
		out[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(out)
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// HashCode is how activation codes are stored (SHA-256).
func HashCode(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// CreateActivation creates an activation and returns its id and code. The
// code is shown only here; the store keeps its hash.
func (s *Service) CreateActivation(ctx context.Context, in *CreateActivationInput) (*CreateActivationOutput, error) {
	now := s.cfg.Now().UTC()
	exp := now.Add(s.cfg.DefaultActivationTTL)
	if in.ExpirationDate != nil {
		exp = in.ExpirationDate.UTC()
		if !exp.After(now) {
			return nil, awsjson.Errorf(awsjson.CodeInvalidParameters, "ExpirationDate %s is in the past.", exp.Format(time.RFC3339))
		}
		if exp.After(now.Add(s.cfg.MaxActivationTTL)) {
			return nil, awsjson.Errorf(awsjson.CodeInvalidParameters, "ExpirationDate %s is more than %d days away.", exp.Format(time.RFC3339), int(s.cfg.MaxActivationTTL.Hours()/24))
		}
	}
	limit := 1
	if in.RegistrationLimit != nil {
		limit = *in.RegistrationLimit
	}
	tags := map[string]string{}
	for _, t := range in.Tags {
		if _, dup := tags[t.Key]; dup {
			return nil, awsjson.Errorf(awsjson.CodeInvalidParameters, "Tag key %s is specified more than once.", t.Key)
		}
		tags[t.Key] = t.Value
	}
	code := randomString(20, codeAlphabet)
	a := store.Activation{ID: newUUID(), CodeHash: HashCode(code), Description: in.Description,
		DefaultInstanceName: in.DefaultInstanceName, IamRole: in.IamRole, RegistrationLimit: limit,
		ExpirationDate: exp, CreatedDate: now, Tags: tags}
	if err := s.store.CreateActivation(ctx, a); err != nil {
		return nil, awsjson.Internal(fmt.Errorf("create activation: %w", err))
	}
	s.log.Info("activation created", "activation_id", a.ID, "limit", limit, "expires", exp)
	return &CreateActivationOutput{ActivationID: a.ID, ActivationCode: code}, nil
}

// DeleteActivation deletes an activation; registered nodes stay.
func (s *Service) DeleteActivation(ctx context.Context, in *DeleteActivationInput) (*DeleteActivationOutput, error) {
	err := s.store.DeleteActivation(ctx, in.ActivationID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, awsjson.Errorf(awsjson.CodeInvalidActivation, "Activation %s does not exist.", in.ActivationID)
	case err != nil:
		return nil, awsjson.Internal(fmt.Errorf("delete activation: %w", err))
	}
	s.log.Info("activation deleted", "activation_id", in.ActivationID)
	return &DeleteActivationOutput{}, nil
}

// Registration errors of Register; test with errors.Is. (Expiry and the
// registration limit are store.ErrActivationExpired and
// store.ErrRegistrationLimit.)
var ErrInvalidActivation = errors.New("activation does not exist or the code does not match")

// RegisterInput is what an agent sends to register.
type RegisterInput struct {
	ActivationID   string
	ActivationCode string
	// Reported by the agent.
	AgentVersion, PlatformType, PlatformName, PlatformVersion, ComputerName, IPAddress string
}

// Register registers a new managed node with an activation and returns it
// with its freshly minted credentials.
func (s *Service) Register(ctx context.Context, in RegisterInput) (store.Node, error) {
	a, err := s.store.GetActivation(ctx, in.ActivationID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Node{}, ErrInvalidActivation
	}
	if err != nil {
		return store.Node{}, fmt.Errorf("register node: %w", err)
	}
	if subtle.ConstantTimeCompare(a.CodeHash, HashCode(in.ActivationCode)) != 1 {
		return store.Node{}, ErrInvalidActivation
	}
	var idb [9]byte
	rand.Read(idb[:]) //nolint:errcheck // crypto/rand.Read never fails
	now := s.cfg.Now().UTC()
	n := store.Node{
		ID: "mi-" + hex.EncodeToString(idb[:])[:17], ActivationID: a.ID, Name: a.DefaultInstanceName, IamRole: a.IamRole,
		RegistrationDate: now, AccessKeyID: "AKIM" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
		SecretAccessKey: randomString(40, codeAlphabet), AgentVersion: in.AgentVersion, PlatformType: in.PlatformType,
		PlatformName: in.PlatformName, PlatformVersion: in.PlatformVersion, ComputerName: in.ComputerName,
		IPAddress: in.IPAddress, LastPing: now, Tags: a.Tags,
	}
	if err := s.store.RegisterNode(ctx, n); err != nil {
		return store.Node{}, fmt.Errorf("register node: %w", err)
	}
	s.log.Info("node registered", "node_id", n.ID, "activation_id", a.ID)
	return n, nil
}

// GetConnectionStatus reports whether a node can take sessions now.
func (s *Service) GetConnectionStatus(_ context.Context, in *GetConnectionStatusInput) (*GetConnectionStatusOutput, error) {
	st := "notconnected"
	if s.presence.Connected(in.Target) {
		st = "connected"
	}
	return &GetConnectionStatusOutput{Target: in.Target, Status: st}, nil
}
