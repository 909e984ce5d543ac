package wire

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Size is the PayloadSize payload: the client's terminal size.
type Size struct {
	Cols uint32 `json:"cols"`
	Rows uint32 `json:"rows"`
}

// DefaultSize returns what the plugin sends when it cannot read the terminal
// size: 300 columns, 100 rows.
func DefaultSize() Size { return Size{Cols: 300, Rows: 100} }

// Flag is the PayloadFlag payload: a 4-byte big-endian value.
type Flag uint32

// Flag values (protocol.md §3.4, §6.4).
const (
	FlagDisconnectToPort   Flag = 1 // client → agent, basic port mode: local connection closed
	FlagTerminateSession   Flag = 2 // client → agent: end the session
	FlagConnectToPortError Flag = 3 // agent → client: could not dial the target port
)

// Bytes returns the 4-byte payload.
func (f Flag) Bytes() []byte { return binary.BigEndian.AppendUint32(nil, uint32(f)) }

// ParseFlag parses a PayloadFlag payload.
func ParseFlag(p []byte) (Flag, error) {
	if len(p) != 4 {
		return 0, fmt.Errorf("parse flag: %w: %d bytes", ErrBadPayload, len(p))
	}
	return Flag(binary.BigEndian.Uint32(p)), nil
}

// ExitCodePayload returns the PayloadExitCode payload "EXIT_CODE: <n>", as
// the agent writes it.
func ExitCodePayload(code int) []byte {
	return strconv.AppendInt([]byte("EXIT_CODE: "), int64(code), 10)
}

// ParseExitCode parses a PayloadExitCode payload.
func ParseExitCode(p []byte) (int, error) {
	s, ok := strings.CutPrefix(string(p), "EXIT_CODE: ")
	if !ok {
		return 0, fmt.Errorf("parse exit code: %w: %q", ErrBadPayload, p)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("parse exit code: %w: %q", ErrBadPayload, p)
	}
	return n, nil
}

// ActionType names a handshake action.
type ActionType string

// Handshake action types.
const (
	ActionSessionType   ActionType = "SessionType"
	ActionKMSEncryption ActionType = "KMSEncryption"
)

// ActionStatus is the outcome of a handshake action.
type ActionStatus int

// ActionStatus values.
const (
	ActionSuccess     ActionStatus = 1
	ActionFailed      ActionStatus = 2
	ActionUnsupported ActionStatus = 3
)

// Session types (the document's sessionType).
const (
	SessionStandardStream         = "Standard_Stream"
	SessionInteractiveCommands    = "InteractiveCommands"
	SessionNonInteractiveCommands = "NonInteractiveCommands"
	SessionPort                   = "Port"
)

// HandshakeRequest is the PayloadHandshakeRequest payload (agent → client).
// AgentVersion must have exactly four numeric parts.
type HandshakeRequest struct {
	AgentVersion           string                  `json:"AgentVersion"`
	RequestedClientActions []RequestedClientAction `json:"RequestedClientActions"`
}

// RequestedClientAction is one action of a HandshakeRequest. The SessionType
// action always comes first.
type RequestedClientAction struct {
	ActionType       ActionType      `json:"ActionType"`
	ActionParameters json.RawMessage `json:"ActionParameters"`
}

// SessionTypeRequest is the ActionParameters of a SessionType action.
// Properties is null for Standard_Stream and InteractiveCommands.
type SessionTypeRequest struct {
	SessionType string          `json:"SessionType"`
	Properties  json.RawMessage `json:"Properties"`
}

// KMSEncryptionRequest is the ActionParameters of a KMSEncryption action.
type KMSEncryptionRequest struct {
	KMSKeyID  string `json:"KMSKeyId"`
	Challenge []byte `json:"Challenge,omitempty"` // base64 in JSON; the plugin ignores it
}

// NewAction builds a RequestedClientAction with params marshalled as JSON.
func NewAction(t ActionType, params any) (RequestedClientAction, error) {
	b, err := json.Marshal(params)
	if err != nil {
		return RequestedClientAction{}, fmt.Errorf("marshal %s action: %w", t, err)
	}
	return RequestedClientAction{ActionType: t, ActionParameters: b}, nil
}

// SessionType decodes the parameters of a SessionType action.
func (a RequestedClientAction) SessionType() (SessionTypeRequest, error) {
	var r SessionTypeRequest
	return r, unmarshalPayload("SessionType action", a.ActionParameters, &r)
}

// KMSEncryption decodes the parameters of a KMSEncryption action.
func (a RequestedClientAction) KMSEncryption() (KMSEncryptionRequest, error) {
	var r KMSEncryptionRequest
	return r, unmarshalPayload("KMSEncryption action", a.ActionParameters, &r)
}

// HandshakeResponse is the PayloadHandshakeResponse payload (client → agent).
// A nil Errors marshals as null, as the plugin sends it.
type HandshakeResponse struct {
	ClientVersion          string                  `json:"ClientVersion"`
	ProcessedClientActions []ProcessedClientAction `json:"ProcessedClientActions"`
	Errors                 []string                `json:"Errors"`
}

// ProcessedClientAction is the client's result for one requested action. A
// nil ActionResult marshals as null.
type ProcessedClientAction struct {
	ActionType   ActionType      `json:"ActionType"`
	ActionStatus ActionStatus    `json:"ActionStatus"`
	ActionResult json.RawMessage `json:"ActionResult"`
	Error        string          `json:"Error"`
}

// KMSEncryptionResponse is the ActionResult of a successful KMSEncryption
// action.
type KMSEncryptionResponse struct {
	KMSCipherTextKey  []byte `json:"KMSCipherTextKey"`
	KMSCipherTextHash []byte `json:"KMSCipherTextHash"`
}

// HandshakeComplete is the PayloadHandshakeComplete payload (agent → client).
// HandshakeTimeToComplete is in nanoseconds on the wire, as time.Duration is.
type HandshakeComplete struct {
	HandshakeTimeToComplete time.Duration `json:"HandshakeTimeToComplete"`
	CustomerMessage         string        `json:"CustomerMessage"`
}

// EncChallenge is the payload of PayloadEncChallengeRequest and
// PayloadEncChallengeResponse.
type EncChallenge struct {
	Challenge []byte `json:"Challenge"` // base64 in JSON
}

// ChannelClosed is the payload of a channel_closed message (protocol.md
// §6.5). CreatedDate is epoch milliseconds as a JSON string.
type ChannelClosed struct {
	MessageID     string `json:"MessageId"`
	CreatedDate   string `json:"CreatedDate"`
	DestinationID string `json:"DestinationId"`
	SessionID     string `json:"SessionId"`
	MessageType   string `json:"MessageType"` // "channel_closed"
	SchemaVersion int    `json:"SchemaVersion"`
	Output        string `json:"Output"` // shown by the plugin when non-empty
}

// AgentSessionState is the payload of agent_session_state.
type AgentSessionState struct {
	SchemaVersion int    `json:"SchemaVersion"`
	SessionState  string `json:"SessionState"` // SessionStateConnected or SessionStateTerminating
	SessionID     string `json:"SessionId"`
}

// Agent session states.
const (
	SessionStateConnected   = "Connected"
	SessionStateTerminating = "Terminating"
)

// OpenDataChannelInput is the first (text) frame a client sends on every
// data-channel connection (protocol.md §2.3). ClientVersion is omitted by
// plugins older than 1.2.650.0.
type OpenDataChannelInput struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"` // "1.0"
	RequestID            string `json:"RequestId"`
	TokenValue           string `json:"TokenValue"`
	ClientID             string `json:"ClientId"`
	ClientVersion        string `json:"ClientVersion,omitempty"`
}

// AgentOpenDataChannelInput is the agent's form of the first frame (§8.3).
// ClientId is present and empty in the real agent.
type AgentOpenDataChannelInput struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"`
	RequestID            string `json:"RequestId"`
	TokenValue           string `json:"TokenValue"`
	ClientInstanceID     string `json:"ClientInstanceId"`
	ClientID             string `json:"ClientId"`
}

// MessageSchemaVersion is the MessageSchemaVersion of OpenDataChannelInput.
const MessageSchemaVersion = "1.0"

// OpenDataChannel is the union of both forms of the first frame, as a
// gateway reads it.
type OpenDataChannel struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"`
	RequestID            string `json:"RequestId"`
	TokenValue           string `json:"TokenValue"`
	ClientID             string `json:"ClientId"`
	ClientVersion        string `json:"ClientVersion"`
	ClientInstanceID     string `json:"ClientInstanceId"`
}

// IsAgent reports whether the frame came from an agent (it names its
// instance).
func (o OpenDataChannel) IsAgent() bool { return o.ClientInstanceID != "" }

// ParseOpenDataChannel parses the first text frame of a data channel, in
// either form. It requires a TokenValue.
func ParseOpenDataChannel(b []byte) (OpenDataChannel, error) {
	var o OpenDataChannel
	if err := unmarshalPayload("open data channel input", b, &o); err != nil {
		return o, err
	}
	if o.TokenValue == "" {
		return o, fmt.Errorf("parse open data channel input: %w: no TokenValue", ErrBadPayload)
	}
	return o, nil
}

// ParsePayload unmarshals a JSON payload (Size, the handshake payloads,
// ChannelClosed, AgentSessionState, …) into v, wrapping errors with
// ErrBadPayload.
func ParsePayload(p []byte, v any) error { return unmarshalPayload(fmt.Sprintf("%T", v), p, v) }

func unmarshalPayload(what string, p []byte, v any) error {
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("parse %s: %w: %v", what, ErrBadPayload, err)
	}
	return nil
}
