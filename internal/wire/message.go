package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"strings"
	"time"
)

// Header layout (protocol.md §3.1). All integers are big-endian.
const (
	offHeaderLength   = 0   // 4B uint32, always 116 when sent
	offMessageType    = 4   // 32B ASCII, space padded
	offSchemaVersion  = 36  // 4B uint32, always 1 when sent
	offCreatedDate    = 40  // 8B uint64, epoch milliseconds, non-zero
	offSequenceNumber = 48  // 8B int64
	offFlags          = 56  // 8B uint64
	offMessageID      = 64  // 16B UUID, halves swapped
	offPayloadDigest  = 80  // 32B SHA-256 of the payload
	offPayloadType    = 112 // 4B uint32
	offPayloadLength  = 116 // 4B uint32

	// HeaderLength is the value of the HeaderLength field: the offset of
	// PayloadLength, so the "header" excludes that field.
	HeaderLength = 116
	// HeaderSize is the number of bytes before the payload.
	HeaderSize = 120
	// MessageTypeLength is the size of the MessageType field.
	MessageTypeLength = 32
)

// MessageType values (protocol.md §3.3).
const (
	TypeInputStreamData      = "input_stream_data"  // client → agent stream data
	TypeOutputStreamData     = "output_stream_data" // agent → client stream data
	TypeAcknowledge          = "acknowledge"        // ack of one stream message
	TypeChannelClosed        = "channel_closed"     // gateway → client/agent: session closed
	TypeStartPublication     = "start_publication"  // gateway → agent: resume sending
	TypePausePublication     = "pause_publication"  // gateway → agent: stop sending
	TypeAgentSessionState    = "agent_session_state"
	TypeInteractiveShell     = "interactive_shell" // control channel: start a session
	TypeAgentTaskComplete    = "agent_task_complete"
	TypeAgentTaskAcknowledge = "agent_task_acknowledge"
	TypeAgentTaskReply       = "agent_task_reply"
	TypeAgentJob             = "agent_job"
	TypeAgentJobAck          = "agent_job_ack"
	TypeAgentJobReply        = "agent_job_reply"
	TypeAgentJobReplyAck     = "agent_job_reply_ack"
)

// knownTypes lets Decode return constant strings, so decoding a message of a
// known type does not allocate.
var knownTypes = [...]string{
	TypeInputStreamData, TypeOutputStreamData, TypeAcknowledge, TypeChannelClosed,
	TypeStartPublication, TypePausePublication, TypeAgentSessionState,
	TypeInteractiveShell, TypeAgentTaskComplete, TypeAgentTaskAcknowledge,
	TypeAgentTaskReply, TypeAgentJob, TypeAgentJobAck, TypeAgentJobReply,
	TypeAgentJobReplyAck,
}

// Flags field bits (protocol.md §3.4). No receiver reads them; senders set
// them as the real implementations do.
const (
	FlagSYN uint64 = 1 // agent output seq 0; acks
	FlagFIN uint64 = 2 // acks
	// FlagsAck is the Flags value of acknowledge and agent_session_state.
	FlagsAck = FlagSYN | FlagFIN
)

// SchemaVersion is the SchemaVersion every sender writes.
const SchemaVersion = 1

// Message is one data-channel message. The zero value is not encodable: set
// at least MessageType and CreatedDate.
type Message struct {
	MessageType    string      // e.g. TypeInputStreamData; at most 32 bytes
	SchemaVersion  uint32      // 1 when sent; not checked on receive
	CreatedDate    uint64      // epoch milliseconds; must be non-zero
	SequenceNumber int64       // stream sequence; 0 for non-stream messages
	Flags          uint64      // see FlagSYN, FlagFIN
	MessageID      UUID        // canonical byte order
	PayloadType    PayloadType // 0 for acks and control messages
	// Payload is the message body. After Decode it aliases the decoded
	// frame. Its SHA-256 goes into the header; PayloadLength is len(Payload).
	Payload []byte
}

// Millis converts t to the CreatedDate representation (epoch milliseconds).
func Millis(t time.Time) uint64 { return uint64(t.UnixMilli()) }

// Created returns CreatedDate as a time.
func (m *Message) Created() time.Time { return time.UnixMilli(int64(m.CreatedDate)) }

// EncodedLen is the size of m's encoding.
func (m *Message) EncodedLen() int { return HeaderSize + len(m.Payload) }

// Encode returns the wire form of m. See AppendEncode for the checks.
func Encode(m *Message) ([]byte, error) {
	return AppendEncode(make([]byte, 0, m.EncodedLen()), m)
}

// AppendEncode appends the wire form of m to dst and returns the extended
// slice. It always writes HeaderLength 116 and the payload's SHA-256, and it
// refuses (returning dst unchanged and an error) a message the real plugin or
// agent would drop: an empty, over-long or non-canonical MessageType, or a
// zero CreatedDate. With enough capacity in dst it does not allocate.
func AppendEncode(dst []byte, m *Message) ([]byte, error) {
	return appendEncode(dst, m, true)
}

// AppendEncodeNoDigest is AppendEncode without the SHA-256: it writes
// PayloadLength 0 and a zero digest. Every receiver (the plugin, the agent
// and Decode) skips the digest check when PayloadLength is 0 and takes the
// payload from the frame length, so the frame stays valid; integrity is left
// to the transport (TLS). It exists for Tether's negotiated fast mode, where
// hashing would limit throughput, and must never be used towards the real
// plugin or agent.
func AppendEncodeNoDigest(dst []byte, m *Message) ([]byte, error) {
	return appendEncode(dst, m, false)
}

func appendEncode(dst []byte, m *Message, digest bool) ([]byte, error) {
	if err := checkEncodable(m); err != nil {
		return dst, err
	}
	n := len(dst)
	total := HeaderSize + len(m.Payload)
	dst = grow(dst, total)
	b := dst[n : n+total]
	be := binary.BigEndian
	be.PutUint32(b[offHeaderLength:], HeaderLength)
	putType(b[offMessageType:offMessageType+MessageTypeLength], m.MessageType)
	be.PutUint32(b[offSchemaVersion:], m.SchemaVersion)
	be.PutUint64(b[offCreatedDate:], m.CreatedDate)
	be.PutUint64(b[offSequenceNumber:], uint64(m.SequenceNumber))
	be.PutUint64(b[offFlags:], m.Flags)
	copy(b[offMessageID:offMessageID+8], m.MessageID[8:])
	copy(b[offMessageID+8:offMessageID+16], m.MessageID[:8])
	be.PutUint32(b[offPayloadType:], uint32(m.PayloadType))
	if digest {
		sum := sha256.Sum256(m.Payload)
		copy(b[offPayloadDigest:offPayloadDigest+32], sum[:])
		be.PutUint32(b[offPayloadLength:], uint32(len(m.Payload)))
	} else {
		clear(b[offPayloadDigest : offPayloadDigest+32])
		be.PutUint32(b[offPayloadLength:], 0)
	}
	copy(b[HeaderSize:], m.Payload)
	return dst, nil
}

func checkEncodable(m *Message) error {
	switch t := m.MessageType; {
	case t == "":
		return ErrMissingType
	case len(t) > MessageTypeLength:
		return ErrTypeTooLong
	case !isCanonicalType(t):
		return ErrTypeNotCanonical
	}
	if m.CreatedDate == 0 {
		return ErrMissingCreatedDate
	}
	if uint64(len(m.Payload)) > math.MaxUint32-HeaderSize {
		return ErrPayloadTooLarge
	}
	return nil
}

// isCanonicalType reports whether t survives padding and the receiver's
// trimming unchanged.
func isCanonicalType(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c < 0x21 || c > 0x7e {
			return trimType(padType(t)) == t // rare: exact check
		}
	}
	return true // printable ASCII without spaces is always canonical
}

func padType(t string) []byte {
	var b [MessageTypeLength]byte
	putType(b[:], t)
	return b[:]
}

func putType(b []byte, t string) {
	n := copy(b, t)
	for i := n; i < len(b); i++ {
		b[i] = ' '
	}
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// Decode parses and validates one frame exactly as the real plugin does
// (protocol.md §3.5): the payload is everything after PayloadLength (at offset
// HeaderLength+4), PayloadLength itself only decides whether the digest is
// checked, and start_publication/pause_publication skip validation. It
// returns ErrTruncated where the plugin would panic, and never panics.
// The returned Payload aliases b.
func Decode(b []byte) (Message, error) {
	var m Message
	if len(b) < HeaderSize {
		return m, ErrTruncated
	}
	be := binary.BigEndian
	hl := be.Uint32(b[offHeaderLength:])
	if uint64(hl)+4 > uint64(len(b)) {
		return m, ErrTruncated
	}
	m.MessageType = typeString(b[offMessageType : offMessageType+MessageTypeLength])
	m.SchemaVersion = be.Uint32(b[offSchemaVersion:])
	m.CreatedDate = be.Uint64(b[offCreatedDate:])
	m.SequenceNumber = int64(be.Uint64(b[offSequenceNumber:]))
	m.Flags = be.Uint64(b[offFlags:])
	copy(m.MessageID[8:], b[offMessageID:offMessageID+8])
	copy(m.MessageID[:8], b[offMessageID+8:offMessageID+16])
	m.PayloadType = PayloadType(be.Uint32(b[offPayloadType:]))
	plen := be.Uint32(b[offPayloadLength:])
	m.Payload = b[hl+4:]
	if m.MessageType == TypeStartPublication || m.MessageType == TypePausePublication {
		return m, nil
	}
	switch {
	case hl == 0:
		return m, ErrHeaderLength
	case m.MessageType == "":
		return m, ErrMissingType
	case m.CreatedDate == 0:
		return m, ErrMissingCreatedDate
	}
	if plen != 0 {
		sum := sha256.Sum256(m.Payload)
		if !bytes.Equal(sum[:], b[offPayloadDigest:offPayloadDigest+32]) {
			return m, ErrDigest
		}
	}
	return m, nil
}

// typeString trims the MessageType field as the plugin does (NULs from both
// ends, then white space) and returns a constant for known types.
func typeString(f []byte) string {
	t := bytes.TrimRight(f, " ")
	for _, k := range knownTypes {
		if string(t) == k { // no allocation
			return k
		}
	}
	return trimType(f)
}

func trimType(f []byte) string {
	return strings.TrimSpace(string(bytes.Trim(f, "\x00")))
}
