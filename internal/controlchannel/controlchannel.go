// Package controlchannel defines the messages that travel on a node's
// control channel between the gateway and the agent (protocol.md §8.2,
// §8.4): the OpenControlChannelInput first frame, interactive_shell (start a
// session), agent_task_complete (a session ended) and its
// agent_task_acknowledge, and channel_closed (terminate a session). The
// binary framing is internal/wire's; this package is only the payloads.
//
// Both the gateway and the agent import it; it imports only the standard
// library and internal/wire.
package controlchannel

import (
	"encoding/json"
	"fmt"
)

// Message types used on the control channel.
const (
	TypeInteractiveShell     = "interactive_shell"
	TypeAgentTaskComplete    = "agent_task_complete"
	TypeAgentTaskAcknowledge = "agent_task_acknowledge"
	TypeChannelClosed        = "channel_closed"
)

// OpenInput is the agent's first (text) frame on the control channel. Keys
// are in the real agent's order; Cookie is always null.
type OpenInput struct {
	Cookie               *string `json:"Cookie"`
	MessageSchemaVersion string  `json:"MessageSchemaVersion"`
	RequestID            string  `json:"RequestId"`
	TokenValue           string  `json:"TokenValue"`
	AgentVersion         string  `json:"AgentVersion"`
	PlatformType         string  `json:"PlatformType"` // "linux", "windows" or "macos"
	// Tether extensions, ignored by other gateways: what DescribeInstanceInformation shows.
	ComputerName string `json:"ComputerName,omitempty"`
	IPAddress    string `json:"IPAddress,omitempty"`
	PlatformName string `json:"PlatformName,omitempty"`
}

// Envelope wraps interactive_shell: Content is the JSON of a TaskPayload,
// as a string.
type Envelope struct {
	Content       string `json:"Content"`
	TaskID        string `json:"TaskId"`
	Topic         string `json:"Topic"`
	SchemaVersion int    `json:"SchemaVersion"`
}

// TaskPayload starts a session on the agent.
type TaskPayload struct {
	DocumentName    string            `json:"DocumentName"`
	DocumentContent DocumentContent   `json:"DocumentContent"`
	SessionID       string            `json:"SessionId"`
	Parameters      map[string]any    `json:"Parameters"`
	RunAsUser       string            `json:"RunAsUser"`
	SessionOwner    string            `json:"SessionOwner"`
	Extensions      map[string]string `json:"TetherExtensions,omitempty"` // Tether-only hints; other agents ignore them
}

// DocumentContent is a resolved session document.
type DocumentContent struct {
	SchemaVersion string          `json:"schemaVersion"` // "1.0"
	Description   string          `json:"description"`
	SessionType   string          `json:"sessionType"` // one of the wire.Session* constants
	Inputs        Inputs          `json:"inputs"`
	Parameters    map[string]any  `json:"parameters"`
	Properties    json.RawMessage `json:"properties"` // placeholders already substituted; "null" for shells
}

// Inputs are the session preferences (SSM-SessionManagerRunShell inputs).
type Inputs struct {
	S3BucketName                string       `json:"s3BucketName"`
	S3KeyPrefix                 string       `json:"s3KeyPrefix"`
	S3EncryptionEnabled         bool         `json:"s3EncryptionEnabled"`
	CloudWatchLogGroupName      string       `json:"cloudWatchLogGroupName"`
	CloudWatchStreamingEnabled  bool         `json:"cloudWatchStreamingEnabled"`
	CloudWatchEncryptionEnabled bool         `json:"cloudWatchEncryptionEnabled"`
	KMSKeyID                    string       `json:"kmsKeyId"`
	RunAsEnabled                bool         `json:"runAsEnabled"`
	RunAsDefaultUser            string       `json:"runAsDefaultUser"`
	IdleSessionTimeout          string       `json:"idleSessionTimeout,omitempty"`
	MaxSessionDuration          string       `json:"maxSessionDuration,omitempty"`
	ShellProfile                ShellProfile `json:"shellProfile"`
}

// ShellProfile holds commands run at the start of a shell, per platform.
type ShellProfile struct {
	Windows string `json:"windows"`
	Linux   string `json:"linux"`
}

// PortProperties are the properties of a Port document.
type PortProperties struct {
	PortNumber      string `json:"portNumber"`
	Type            string `json:"type,omitempty"` // "LocalPortForwarding" for mux-capable forwarding
	LocalPortNumber string `json:"localPortNumber,omitempty"`
	Host            string `json:"host,omitempty"`
}

// CommandProperties are the per-platform properties of command documents.
type CommandProperties struct {
	Linux   *PlatformCommand `json:"linux,omitempty"`
	Windows *PlatformCommand `json:"windows,omitempty"`
	MacOS   *PlatformCommand `json:"macos,omitempty"`
}

// PlatformCommand is what to run on one platform.
type PlatformCommand struct {
	Commands              string `json:"commands"`
	RunAsElevated         bool   `json:"runAsElevated"`
	SeparateOutputStream  bool   `json:"separateOutputStream"`
	StdOutSeparatorPrefix string `json:"stdOutSeparatorPrefix"`
	StdErrSeparatorPrefix string `json:"stdErrSeparatorPrefix"`
}

// TaskComplete is agent_task_complete: a session ended on the agent.
type TaskComplete struct {
	SchemaVersion    int    `json:"SchemaVersion"`
	TaskID           string `json:"TaskId"` // the session id
	Topic            string `json:"Topic"`  // "agent_task_complete"
	FinalTaskStatus  string `json:"FinalTaskStatus"`
	IsRoutingFailure bool   `json:"IsRoutingFailure"`
	AwsAccountID     string `json:"AwsAccountId"`
	InstanceID       string `json:"InstanceId"`
	Output           string `json:"Output"`
	S3Bucket         string `json:"S3Bucket"`
	S3UrlSuffix      string `json:"S3UrlSuffix"`
	CwlGroup         string `json:"CwlGroup"`
	CwlStream        string `json:"CwlStream"`
	RetryNumber      int    `json:"RetryNumber"`
}

// Final task statuses.
const (
	StatusSuccess   = "Success"
	StatusFailed    = "Failed"
	StatusCancelled = "Cancelled"
	StatusTimedOut  = "TimedOut"
)

// TaskAcknowledge answers agent_task_complete.
type TaskAcknowledge struct {
	SchemaVersion int    `json:"SchemaVersion"`
	MessageID     string `json:"MessageId"` // of the agent_task_complete message
	TaskID        string `json:"TaskId"`
	Topic         string `json:"Topic"`
}

// NewInteractiveShell encodes the interactive_shell payload for p.
func NewInteractiveShell(p TaskPayload) ([]byte, error) {
	content, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode task payload: %w", err)
	}
	return json.Marshal(Envelope{Content: string(content), TaskID: p.SessionID, Topic: "aws.ssm.sessionManager", SchemaVersion: 1})
}

// ParseInteractiveShell decodes an interactive_shell payload.
func ParseInteractiveShell(b []byte) (TaskPayload, error) {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return TaskPayload{}, fmt.Errorf("parse interactive_shell: %w", err)
	}
	var p TaskPayload
	if err := json.Unmarshal([]byte(env.Content), &p); err != nil {
		return TaskPayload{}, fmt.Errorf("parse interactive_shell content: %w", err)
	}
	if p.SessionID == "" {
		return TaskPayload{}, fmt.Errorf("parse interactive_shell: no SessionId")
	}
	if p.DocumentContent.SchemaVersion != "1.0" {
		return TaskPayload{}, fmt.Errorf("parse interactive_shell: unsupported document schema version %q", p.DocumentContent.SchemaVersion)
	}
	return p, nil
}
