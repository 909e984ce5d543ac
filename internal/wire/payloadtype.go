package wire

import "strconv"

// PayloadType says how to read a stream message's payload (protocol.md §3.4).
type PayloadType uint32

// PayloadType values.
const (
	PayloadNone                 PayloadType = 0  // acks and control messages
	PayloadOutput               PayloadType = 1  // terminal or port bytes, both directions
	PayloadError                PayloadType = 2  // defined, unused
	PayloadSize                 PayloadType = 3  // client → agent, JSON {"cols":N,"rows":M}
	PayloadParameter            PayloadType = 4  // defined, unused
	PayloadHandshakeRequest     PayloadType = 5  // agent → client, JSON
	PayloadHandshakeResponse    PayloadType = 6  // client → agent, JSON
	PayloadHandshakeComplete    PayloadType = 7  // agent → client, JSON
	PayloadEncChallengeRequest  PayloadType = 8  // agent → client, JSON
	PayloadEncChallengeResponse PayloadType = 9  // client → agent, JSON
	PayloadFlag                 PayloadType = 10 // both, 4-byte big-endian Flag
	PayloadStdErr               PayloadType = 11 // agent → client, raw stderr bytes
	PayloadExitCode             PayloadType = 12 // agent → client, ASCII "EXIT_CODE: <n>"
)

var payloadTypeNames = [...]string{
	"None", "Output", "Error", "Size", "Parameter", "HandshakeRequest",
	"HandshakeResponse", "HandshakeComplete", "EncChallengeRequest",
	"EncChallengeResponse", "Flag", "StdErr", "ExitCode",
}

func (p PayloadType) String() string {
	if int(p) < len(payloadTypeNames) {
		return payloadTypeNames[p]
	}
	return "PayloadType(" + strconv.FormatUint(uint64(p), 10) + ")"
}

// IsData reports whether payloads of this type are a byte stream that may be
// split across messages at any point (Output and StdErr). Other payloads are
// one message each.
func (p PayloadType) IsData() bool { return p == PayloadOutput || p == PayloadStdErr }
