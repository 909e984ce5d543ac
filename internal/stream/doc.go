// Package stream is one endpoint of the Session Manager reliable stream
// (protocol.md §4): sequence numbers, acknowledgements, retransmission, an
// out-of-order buffer, and resume over a replaceable transport. Tether's
// client uses it with RoleClient (it sends input_stream_data and receives
// output_stream_data), Tether's agent with RoleAgent (the reverse). It knows
// nothing of websockets: anything that moves whole frames is a Transport.
//
// # Use
//
//	ep, err := stream.New(stream.Config{Role: stream.RoleAgent})
//	ep.Attach(transport)                       // and again after every reconnect
//	ep.Write(ctx, wire.PayloadOutput, data)    // blocks while the window is full
//	p, err := ep.Read(ctx)                     // p.Type, p.Data, in order, exactly once
//	ep.Close(ctx)                              // waits for acks, then shuts down
//
// # Guarantees
//
// Sequence numbers start at 0 in each direction and never reset. Every
// payload written is delivered to the peer's Read exactly once and in order,
// whatever happens to transports, for as long as the two endpoints live and
// some transport eventually carries frames: lost, duplicated and reordered
// frames are recovered by acks, retransmission and the out-of-order buffer.
// Attach replaces the transport at any moment (the old one may be dead or
// half-open); the endpoint then resends everything unacknowledged, in order,
// on the new one, byte for byte (same MessageId, as the plugin does).
//
// Memory is bounded: at most SendWindowBytes/SendWindowMessages are held
// unacknowledged (Write blocks beyond, honouring its context, instead of
// evicting data as the plugin does), and at most twice
// RecvBufferBytes/RecvBufferMessages are held for Read. When in-order data
// does not fit because the application is not reading, the endpoint stops
// reading its transport (the plugin does the same), which pushes back on the
// peer through the transport; the application must therefore keep reading
// for acks of its own writes to arrive.
//
// pause_publication stops sending data (acks still go out) until
// start_publication, any stream data, any acknowledge, or a new Attach, as
// the agent does; nothing is lost meanwhile.
//
// # Retransmission
//
// The RTO is the Jacobson/Karels estimate of protocol.md §4.4 (200 ms
// initial, 10 ms granularity, 1 s cap), checked every ResendInterval
// (100 ms). Unlike the plugin and agent, which resend only their oldest
// unacknowledged message, the endpoint resends every message whose RTO has
// expired, so a window with several losses recovers in one RTO. Duplicates
// are acknowledged again (unlike the plugin) and dropped.
//
// # Modes
//
// ModeInterop is what the real session-manager-plugin and amazon-ssm-agent
// get: payloads of at most 1024 bytes, one acknowledge per message with the
// exact JSON they send, Flags as they set them. It also copes with their
// quirks: the plugin never re-acknowledges a duplicate (so a message whose
// ack was lost before a reconnect would otherwise stay in the window for
// ever; see Config.PresumeDeliveredAfter), the plugin resends only its head
// message every 100 ms, and the agent keeps its own head resends going once
// per RTO.
//
// ModeFast is for Tether's own client and agent: 64 KiB payloads, an 8 MiB
// window, and two extensions, each a Config field (on in DefaultConfig and
// EnableFast, off in a zero Config):
//
//   - CumulativeAck: an acknowledge whose JSON carries "TetherCumulative":true
//     acknowledges every sequence number up to the one it names; one is sent
//     per burst of in-order data instead of one per message.
//   - OmitDigest: frames carry PayloadLength 0 and no SHA-256, which every
//     receiver accepts (the digest is checked only when PayloadLength is
//     non-zero, protocol.md §3.5); integrity is the transport's (TLS).
//
// Receiving is the same in both modes: an endpoint understands cumulative
// acks, digest-free frames and payloads of any size at any time, so each
// side decides only how it sends, and switching needs no coordination of
// the two directions. Negotiation rides on the handshake, which runs over
// the stream in interop mode:
//
//  1. Tether's agent adds a RequestedClientAction
//     {"ActionType":"TetherStream","ActionParameters":{"Version":1}} to its
//     HandshakeRequest (for Port and NonInteractiveCommands sessions, which
//     always handshake; a Tether agent may also handshake a shell session
//     when the client's OpenDataChannelInput ClientVersion names Tether).
//     The real plugin answers an unknown action with a non-success status,
//     and the session stays in interop mode.
//  2. Tether's client answers with ActionStatus 1 and calls EnableFast on
//     its endpoint right after sending the HandshakeResponse: everything it
//     sends later is in fast mode, and the agent can already read it.
//  3. Tether's agent reads the successful response and calls EnableFast on
//     its endpoint before sending HandshakeComplete.
//
// Endpoints that know their peer from the start (tests, a future Tether-only
// transport) can instead be created with Config.Mode = ModeFast.
//
// A peer that is not Tether never receives a fast-mode frame, and the
// gateway relays fast-mode frames unchanged like any other.
//
// # Concurrency
//
// All methods are safe for concurrent use. An endpoint runs one sender
// goroutine for its lifetime and one receive goroutine per attached
// transport (which exits when that transport fails or is replaced); Close
// stops them all and waits for them. One mutex, Endpoint.mu, guards all
// state; a one-slot semaphore, writeSem, serialises Write calls and is
// always taken before mu. Transport methods are called without mu held. OnControl and
// OnTransportError run on those goroutines, without locks held.
package stream
