package stream

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/tether-ssm/tether/internal/wire"
)

// Role says which side of the stream an endpoint is.
type Role int

const (
	// RoleClient sends input_stream_data and receives output_stream_data
	// (the session-manager-plugin side).
	RoleClient Role = iota + 1
	// RoleAgent sends output_stream_data and receives input_stream_data.
	RoleAgent
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleAgent:
		return "agent"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Mode selects the stream's sending behaviour.
type Mode int

const (
	// ModeInterop behaves as the real plugin and agent expect: payloads of
	// at most 1024 bytes, one acknowledge per message, their timers. It is
	// the only mode a peer that is not Tether may see.
	ModeInterop Mode = iota
	// ModeFast is negotiated between Tether's own client and agent: large
	// payloads, many messages in flight, and optionally cumulative acks and
	// digest-free frames. See the package documentation for negotiation.
	ModeFast
)

func (m Mode) String() string {
	if m == ModeFast {
		return "fast"
	}
	return "interop"
}

// Config configures an Endpoint. Zero fields take the defaults of
// DefaultConfig for the chosen Role and Mode.
type Config struct {
	// Role is required.
	Role Role
	// Mode: zero is ModeInterop.
	Mode Mode

	// MaxPayload is the largest payload of one data message; Write splits
	// Output and StdErr at this size. Zero: 1024 (interop, the plugin's
	// and agent's read size) or 64 KiB (fast). Interop allows at most 1024.
	MaxPayload int
	// MaxControlPayload bounds non-data payloads (handshake JSON, Size,
	// Flag, …), which are never split. Zero: 64 KiB.
	MaxControlPayload int

	// SendWindowBytes and SendWindowMessages bound what this endpoint
	// holds unacknowledged; Write blocks when either is reached. Zero:
	// 1 MiB and 1024 messages (interop), 8 MiB and 512 messages (fast).
	// Keep SendWindowMessages at or below the peer's out-of-order buffer
	// (10000 for the plugin) so the peer never drops for lack of room.
	SendWindowBytes    int
	SendWindowMessages int
	// RecvBufferBytes and RecvBufferMessages bound messages received but not
	// yet Read, and separately the out-of-order buffer. When in-order data
	// does not fit, the endpoint stops reading its transport until Read
	// makes room (backpressure, as the plugin does); an out-of-order message
	// that does not fit is dropped unacknowledged, and the peer resends it.
	// Total receive memory is at most twice these. Zero: the defaults of
	// the send window.
	RecvBufferBytes    int
	RecvBufferMessages int

	// CumulativeAck (fast mode only; DefaultConfig turns it on) acknowledges in-order data with one
	// ack per burst whose "TetherCumulative":true covers every sequence
	// number up to the one it names. Out-of-order messages are still acked
	// one by one. Acks of either form are always understood on receipt.
	CumulativeAck bool
	// OmitDigest (fast mode only; DefaultConfig turns it on) sends frames with PayloadLength 0 and no
	// SHA-256 (wire.AppendEncodeNoDigest), leaving integrity to the
	// transport's TLS. Received frames are always checked as the plugin
	// checks them.
	OmitDigest bool

	// Retransmission timing (protocol.md §4.4). Zero: InitialRTO 200 ms,
	// MaxRTO 1 s, InitialRTT 100 ms, ClockGranularity 10 ms,
	// ResendInterval 100 ms (how often unacknowledged messages are
	// checked).
	InitialRTO       time.Duration
	MaxRTO           time.Duration
	InitialRTT       time.Duration
	ClockGranularity time.Duration
	ResendInterval   time.Duration

	// PresumeDeliveredAfter copes with a peer that never re-acknowledges a
	// duplicate, the real session-manager-plugin (protocol.md §4.6): if the
	// plugin processed a message but its ack was lost with a transport, the
	// message would otherwise stay in the window for ever. Once an ack for a
	// later message arrives on a transport this message was also sent on
	// (so the peer received it: the endpoint sends in order), the message is
	// sent this many more times; if none of them is acknowledged it is
	// presumed delivered and released. The one way this can be wrong is a
	// peer that leaves an in-order message unacknowledged for that long
	// because it is "not ready" (the plugin does this briefly at session
	// start). Set it (30 is a good value: up to about 30 s) only when the
	// peer is the real plugin; Tether peers and the real agent re-ack
	// duplicates. Zero: never. EnableFast sets it to zero (the peer is
	// Tether).
	PresumeDeliveredAfter int

	// AckQueue bounds acks waiting to be sent; beyond it acks are dropped
	// (the peer resends and gets a new ack). Zero: 4096.
	AckQueue int

	// Clock is the time source; nil means SystemClock().
	Clock Clock
	// Logger receives rare events (transport failures, presumed
	// deliveries); nil discards.
	Logger *slog.Logger
	// OnControl, if set, is called with every received message that is not
	// stream data or an acknowledge (channel_closed, agent_session_state,
	// start/pause_publication after the endpoint has acted on them, …). It
	// runs on the transport's receive goroutine: it must not block or call
	// Close (which waits for that goroutine), and the message's Payload is
	// valid only during the call.
	OnControl func(m *wire.Message)
	// OnTransportError, if set, is called once when the attached transport
	// fails (Send or Recv error), with that transport (already closed) and
	// the error. It runs on an endpoint goroutine and must not block or
	// call Close (which waits for that goroutine); it may call Attach.
	OnTransportError func(t Transport, err error)
}

// DefaultConfig returns the defaults for role and mode, with every field
// set. For ModeFast that includes CumulativeAck and OmitDigest, which a
// zero Config leaves off.
func DefaultConfig(role Role, mode Mode) Config {
	c := Config{
		Role:              role,
		Mode:              mode,
		MaxControlPayload: 64 << 10,
		InitialRTO:        200 * time.Millisecond,
		MaxRTO:            time.Second,
		InitialRTT:        100 * time.Millisecond,
		ClockGranularity:  10 * time.Millisecond,
		ResendInterval:    100 * time.Millisecond,
		AckQueue:          4096,
	}
	if mode == ModeFast {
		c.MaxPayload = 64 << 10
		c.SendWindowBytes = 8 << 20
		c.SendWindowMessages = 512
		c.CumulativeAck, c.OmitDigest = true, true
	} else {
		c.MaxPayload = 1024
		c.SendWindowBytes = 1 << 20
		c.SendWindowMessages = 1024
	}
	c.RecvBufferBytes = c.SendWindowBytes
	c.RecvBufferMessages = c.SendWindowMessages
	return c
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig(c.Role, c.Mode)
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&c.MaxPayload, d.MaxPayload)
	setInt(&c.MaxControlPayload, d.MaxControlPayload)
	setInt(&c.SendWindowBytes, d.SendWindowBytes)
	setInt(&c.SendWindowMessages, d.SendWindowMessages)
	setInt(&c.RecvBufferBytes, c.SendWindowBytes)
	setInt(&c.RecvBufferMessages, c.SendWindowMessages)
	setInt(&c.AckQueue, d.AckQueue)
	setDur(&c.InitialRTO, d.InitialRTO)
	setDur(&c.MaxRTO, d.MaxRTO)
	setDur(&c.InitialRTT, d.InitialRTT)
	setDur(&c.ClockGranularity, d.ClockGranularity)
	setDur(&c.ResendInterval, d.ResendInterval)
	if c.Clock == nil {
		c.Clock = SystemClock()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports a configuration the endpoint cannot honour. Zero fields
// are valid (they mean defaults).
func (c Config) Validate() error {
	if c.Role != RoleClient && c.Role != RoleAgent {
		return fmt.Errorf("%w: role %v", ErrConfig, c.Role)
	}
	if c.Mode != ModeInterop && c.Mode != ModeFast {
		return fmt.Errorf("%w: mode %v", ErrConfig, c.Mode)
	}
	if c.Mode == ModeInterop {
		if c.MaxPayload > 1024 {
			return fmt.Errorf("%w: interop payloads are at most 1024 bytes, not %d", ErrConfig, c.MaxPayload)
		}
		if c.CumulativeAck || c.OmitDigest {
			return fmt.Errorf("%w: cumulative acks and digest-free frames need fast mode", ErrConfig)
		}
	}
	for _, v := range []int{c.PresumeDeliveredAfter, c.MaxPayload, c.MaxControlPayload, c.SendWindowBytes, c.SendWindowMessages, c.RecvBufferBytes, c.RecvBufferMessages, c.AckQueue} {
		if v < 0 {
			return fmt.Errorf("%w: negative size", ErrConfig)
		}
	}
	d := c.withDefaults()
	if d.MaxRTO < d.InitialRTO || d.ResendInterval < 0 {
		return fmt.Errorf("%w: timers", ErrConfig)
	}
	return nil
}
