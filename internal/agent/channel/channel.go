// Package channel is the agent's view of one session's data stream, as the
// session plugins (shell, command, port forwarding) see it: ordered input
// from the client and typed output to it. It knows nothing of the wire
// format, websockets or resume; the agent's data-channel adapter implements
// Output on top of internal/stream and feeds Input from it.
//
// Backpressure runs end to end: Output methods block while the stream's
// window is full, and a plugin that stops receiving from its input channel
// stops the adapter from reading the stream.
package channel

import (
	"context"
	"encoding/json"
	"fmt"
)

// Kind is what an Input carries.
type Kind int

// Input kinds, one for each client→agent payload type a plugin handles.
const (
	Data Kind = iota + 1 // bytes typed by the user or sent to a forwarded port (PayloadType 1)
	Size                 // terminal size (PayloadType 3)
	Flag                 // a Flag value (PayloadType 10)
)

// Flag values (protocol.md §3.4).
const (
	FlagDisconnectToPort   uint32 = 1
	FlagTerminateSession   uint32 = 2
	FlagConnectToPortError uint32 = 3
)

// Input is one client→agent message, in stream order.
type Input struct {
	Kind Kind
	Data []byte // Data: the bytes; owned by the receiver
	Cols uint32 // Size
	Rows uint32 // Size
	Flag uint32 // Flag
}

// ParseSize decodes a Size payload, {"cols":N,"rows":M}.
func ParseSize(p []byte) (Input, error) {
	var sz struct {
		Cols uint32 `json:"cols"`
		Rows uint32 `json:"rows"`
	}
	if err := json.Unmarshal(p, &sz); err != nil {
		return Input{}, fmt.Errorf("parse size: %w", err)
	}
	return Input{Kind: Size, Cols: sz.Cols, Rows: sz.Rows}, nil
}

// Output sends agent→client messages. Implementations are safe for
// concurrent use; each call blocks until the message is accepted by the
// stream (not until it is acknowledged) or ctx is done; they do not retain
// p after returning. Payloads longer than MaxPayload are split by the
// caller, not by Output.
type Output interface {
	// Stdout sends PayloadType 1 (Output).
	Stdout(ctx context.Context, p []byte) error
	// Stderr sends PayloadType 11 (StdErr).
	Stderr(ctx context.Context, p []byte) error
	// ExitCode sends PayloadType 12, "EXIT_CODE: <n>".
	ExitCode(ctx context.Context, code int) error
	// Flag sends PayloadType 10 with a 4-byte big-endian value.
	Flag(ctx context.Context, f uint32) error
	// MaxPayload is the largest payload one message may carry (1024 in
	// interop mode with the real plugin, larger in fast mode).
	MaxPayload() int
}
