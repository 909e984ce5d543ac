// Package store defines Tether's persistent state — sessions, activations and
// managed nodes — and the Store interface that every storage backend
// implements. It imports only the standard library.
//
// Implementations live in subpackages named after their dependency
// (sqlitestore, later pgstore) and must all pass the conformance suite in
// storetest. Services (the API, the gateway) receive a Store; only the
// assembly point of a binary picks an implementation.
//
// Contracts shared by every method:
//   - Not-found conditions return an error for which errors.Is(err, ErrNotFound).
//   - Creating something whose id exists returns ErrExists and changes nothing.
//   - Times are stored with millisecond precision and returned in UTC.
//   - Methods are safe for concurrent use by many goroutines and processes
//     sharing the same database.
package store

import (
	"context"
	"time"
)

// SessionStatus is the lifecycle state of a session, spelled as AWS's
// SessionStatus enum.
type SessionStatus string

// Session states (protocol.md §7.7, ssm-api.md §7).
const (
	StatusConnecting   SessionStatus = "Connecting"
	StatusConnected    SessionStatus = "Connected"
	StatusDisconnected SessionStatus = "Disconnected"
	StatusTerminating  SessionStatus = "Terminating"
	StatusTerminated   SessionStatus = "Terminated"
	StatusFailed       SessionStatus = "Failed"
)

// Ended reports whether a session in this state is over for good
// (Terminated or Failed): it is listed under DescribeSessions State=History
// and can never be resumed.
func (s SessionStatus) Ended() bool { return s == StatusTerminated || s == StatusFailed }

// Active reports whether a session in this state can be resumed
// (Connecting, Connected or Disconnected).
func (s SessionStatus) Active() bool {
	switch s {
	case StatusConnecting, StatusConnected, StatusDisconnected:
		return true
	}
	return false
}

// Valid reports whether s is one of the defined states.
func (s SessionStatus) Valid() bool {
	switch s {
	case StatusConnecting, StatusConnected, StatusDisconnected, StatusTerminating, StatusTerminated, StatusFailed:
		return true
	}
	return false
}

// Session is one Session Manager session.
type Session struct {
	ID           string        // "<caller-name>-<17 lowercase hex>"
	Target       string        // node id, e.g. "mi-0123456789abcdef0"
	Status       SessionStatus //
	StartDate    time.Time     // when StartSession was called
	EndDate      time.Time     // zero until terminated
	DocumentName string        // e.g. "SSM-SessionManagerRunShell"
	Owner        string        // principal ARN of the caller of StartSession
	Reason       string        // optional, as given to StartSession
	// Parameters are the session document parameters, as given to StartSession.
	Parameters map[string][]string
	// MaxSessionDuration is the maximum duration in minutes (0 = none).
	MaxSessionDuration int
	// ClientGeneration is incremented by every StartSession/ResumeSession;
	// a client token carrying an older generation is superseded.
	ClientGeneration int64
	// LastActivity is when the session last saw its client (resume, attach,
	// detach); the idle timeout counts from here while Disconnected.
	LastActivity time.Time
	// Details is free text: why the session ended, for example.
	Details string
}

// SessionQuery selects sessions for ListSessions. Zero fields do not filter.
type SessionQuery struct {
	// History selects ended sessions (SessionStatus.Ended); otherwise only
	// sessions that have not ended.
	History       bool
	InvokedAfter  time.Time // StartDate >= InvokedAfter
	InvokedBefore time.Time // StartDate < InvokedBefore
	Target        string
	Owner         string
	Status        SessionStatus
	SessionID     string
	// After resumes a listing: only sessions strictly after this cursor in
	// the listing order (StartDate descending, then ID descending).
	After *SessionCursor
	// Limit is the maximum number of sessions returned; 0 means no limit.
	Limit int
}

// SessionCursor is a position in the session listing order.
type SessionCursor struct {
	StartDate time.Time
	ID        string
}

// Activation is a registration credential for managed nodes
// (CreateActivation).
type Activation struct {
	ID                  string // UUID
	CodeHash            []byte // SHA-256 of the ActivationCode; the code itself is never stored
	Description         string
	DefaultInstanceName string
	IamRole             string
	RegistrationLimit   int
	RegistrationsCount  int
	ExpirationDate      time.Time
	CreatedDate         time.Time
	Tags                map[string]string
}

// Expired reports whether the activation has expired at now.
func (a Activation) Expired(now time.Time) bool { return !now.Before(a.ExpirationDate) }

// Node is a managed node registered with an activation.
type Node struct {
	ID               string // "mi-<17 lowercase hex>"
	ActivationID     string
	Name             string
	IamRole          string
	RegistrationDate time.Time
	// AccessKeyID and SecretAccessKey are the node's own credentials, used
	// to sign its ssmmessages requests. The secret is needed to verify SigV4.
	AccessKeyID     string
	SecretAccessKey string
	// Reported by the agent on each control-channel connect.
	AgentVersion    string
	PlatformType    string // "Linux"
	PlatformName    string
	PlatformVersion string
	ComputerName    string
	IPAddress       string
	// LastPing is the time of the last control-channel activity.
	LastPing time.Time
	Tags     map[string]string
}

// NodeQuery selects nodes for ListNodes. Zero fields do not filter.
type NodeQuery struct {
	IDs          []string
	ActivationID string
	// AfterID resumes a listing ordered by ID ascending.
	AfterID string
	Limit   int
}

// ActivationQuery selects activations for ListActivations.
type ActivationQuery struct {
	IDs []string
	// AfterID resumes a listing ordered by CreatedDate then ID.
	AfterID string
	Limit   int
}

// Store is Tether's persistent state. See the package doc for the contracts
// shared by every method.
type Store interface {
	// CreateSession stores a new session; ErrExists if the ID is taken.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session with the given ID, or ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)
	// UpdateSession atomically reads the session, applies fn to it and
	// writes the result back, returning what was written. If fn returns an
	// error nothing is written and that error is returned unwrapped. The ID
	// cannot be changed. ErrNotFound if there is no such session.
	UpdateSession(ctx context.Context, id string, fn func(*Session) error) (Session, error)
	// ListSessions returns the sessions matching q in listing order
	// (StartDate descending, then ID descending).
	ListSessions(ctx context.Context, q SessionQuery) ([]Session, error)
	// DeleteSessionsEndedBefore removes terminated and failed sessions whose
	// EndDate is before t, returning how many were removed.
	DeleteSessionsEndedBefore(ctx context.Context, t time.Time) (int, error)

	// CreateActivation stores a new activation; ErrExists if the ID is taken.
	CreateActivation(ctx context.Context, a Activation) error
	// GetActivation returns the activation, or ErrNotFound.
	GetActivation(ctx context.Context, id string) (Activation, error)
	// ListActivations returns activations in CreatedDate then ID order.
	ListActivations(ctx context.Context, q ActivationQuery) ([]Activation, error)
	// DeleteActivation removes the activation (registered nodes stay);
	// ErrNotFound if there is none.
	DeleteActivation(ctx context.Context, id string) error

	// RegisterNode atomically checks the activation (ErrNotFound,
	// ErrActivationExpired at n.RegistrationDate, ErrRegistrationLimit),
	// increments its RegistrationsCount and stores the node (ErrExists if
	// its ID is taken). On any error nothing changes.
	RegisterNode(ctx context.Context, n Node) error
	// GetNode returns the node, or ErrNotFound.
	GetNode(ctx context.Context, id string) (Node, error)
	// GetNodeByAccessKey returns the node whose AccessKeyID is key, or ErrNotFound.
	GetNodeByAccessKey(ctx context.Context, key string) (Node, error)
	// UpdateNode atomically applies fn to the node, as UpdateSession does.
	UpdateNode(ctx context.Context, id string, fn func(*Node) error) (Node, error)
	// ListNodes returns nodes in ID order.
	ListNodes(ctx context.Context, q NodeQuery) ([]Node, error)

	// Close releases the store's resources.
	Close() error
}
