// Package wire is the codec for the Session Manager data-channel message
// (the ClientMessage of session-manager-plugin, the AgentMessage of
// amazon-ssm-agent) and for the JSON and binary payloads those messages carry.
//
// The layout is specified byte for byte in docs protocol.md §3: a 120-byte
// header (HeaderLength 116, a space-padded 32-byte MessageType, CreatedDate in
// epoch milliseconds, a MessageId whose two 8-byte halves are swapped, the
// SHA-256 of the payload, PayloadType and PayloadLength), then the payload.
//
// # Decoding
//
// [Decode] accepts exactly the messages the real plugin accepts and rejects
// exactly the ones it rejects (protocol.md §3.5), with one difference: where
// the plugin panics (frames of 116–119 bytes, or a HeaderLength pointing past
// the end) Decode returns [ErrTruncated]. Decode never panics on any input and
// reports every failure with one of the sentinel errors in errors.go. The
// returned Message's Payload aliases the input; Decode does not copy.
//
// # Encoding
//
// [Encode] and [AppendEncode] always write HeaderLength 116 and compute the
// digest. They refuse a Message that the real plugin or agent would drop or
// choke on (protocol.md §3.7): an empty or over-long MessageType, one that
// would not survive the receiver's trimming, or a zero CreatedDate. For every
// Message that encodes, Decode(Encode(m)) returns m again.
//
// # Payloads
//
// payload.go has typed helpers for every payload the protocol uses:
// acknowledge (with the exact key order of §4.2, fast to build and parse),
// Size, Flag, the handshake, ExitCode, channel_closed, agent_session_state,
// start/pause_publication and the OpenDataChannelInput text frame in its client
// and agent forms; control.go builds the messages outside the stream
// (channel_closed, agent_session_state, start/pause_publication).
//
// The package imports only the standard library and holds no state; all of it
// is safe for concurrent use. Any package may import it.
package wire
