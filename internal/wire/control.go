package wire

import (
	"encoding/json"
	"strconv"
	"time"
)

// Messages outside the stream. Each has SequenceNumber 0, a new random
// MessageId, SchemaVersion 1 and CreatedDate now; they encode as they are.

// NewStartPublication returns a start_publication message (gateway → agent:
// resume sending). Its payload is empty; receivers look only at the type.
func NewStartPublication(now time.Time) Message {
	return controlMessage(TypeStartPublication, 0, nil, now)
}

// NewPausePublication returns a pause_publication message (gateway → agent:
// stop sending until start_publication).
func NewPausePublication(now time.Time) Message {
	return controlMessage(TypePausePublication, 0, nil, now)
}

// NewChannelClosed returns a channel_closed message whose payload
// (protocol.md §6.5) repeats the header's MessageId and CreatedDate. An
// empty output makes the plugin print "Exiting session with sessionId".
func NewChannelClosed(sessionID, destinationID, output string, now time.Time) Message {
	m := controlMessage(TypeChannelClosed, 0, nil, now)
	m.Payload, _ = json.Marshal(ChannelClosed{ // strings and an int always marshal
		MessageID:     m.MessageID.String(),
		CreatedDate:   strconv.FormatUint(m.CreatedDate, 10),
		DestinationID: destinationID,
		SessionID:     sessionID,
		MessageType:   TypeChannelClosed,
		SchemaVersion: SchemaVersion,
		Output:        output,
	})
	return m
}

// NewAgentSessionState returns the agent's agent_session_state message
// (Flags 3, as the agent sends it) for SessionStateConnected or
// SessionStateTerminating.
func NewAgentSessionState(sessionID, state string, now time.Time) Message {
	p, _ := json.Marshal(AgentSessionState{SchemaVersion: SchemaVersion, SessionState: state, SessionID: sessionID})
	return controlMessage(TypeAgentSessionState, FlagsAck, p, now)
}

func controlMessage(typ string, flags uint64, payload []byte, now time.Time) Message {
	return Message{
		MessageType:   typ,
		SchemaVersion: SchemaVersion,
		CreatedDate:   Millis(now),
		Flags:         flags,
		MessageID:     NewUUID(),
		Payload:       payload,
	}
}
