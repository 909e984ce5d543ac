package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Acknowledge is the payload of an acknowledge message (protocol.md §4.2).
// Receivers match acks by AcknowledgedMessageSequenceNumber only.
type Acknowledge struct {
	AcknowledgedMessageType           string `json:"AcknowledgedMessageType"`
	AcknowledgedMessageID             string `json:"AcknowledgedMessageId"`
	AcknowledgedMessageSequenceNumber int64  `json:"AcknowledgedMessageSequenceNumber"`
	IsSequentialMessage               bool   `json:"IsSequentialMessage"` // always true when sent
	// Cumulative is Tether's fast-mode extension: when true, every message
	// with a sequence number up to and including
	// AcknowledgedMessageSequenceNumber is acknowledged. It is sent only to
	// a peer that negotiated fast mode; the real plugin and agent would
	// ignore the extra key and read the ack as covering one message.
	Cumulative bool `json:"TetherCumulative,omitempty"`
}

// AckOf returns the acknowledgement of stream message m.
func AckOf(m *Message) Acknowledge {
	return Acknowledge{
		AcknowledgedMessageType:           m.MessageType,
		AcknowledgedMessageID:             m.MessageID.String(),
		AcknowledgedMessageSequenceNumber: m.SequenceNumber,
		IsSequentialMessage:               true,
	}
}

const (
	ackKeyType = `{"AcknowledgedMessageType":`
	ackKeyID   = `,"AcknowledgedMessageId":`
	ackKeySeq  = `,"AcknowledgedMessageSequenceNumber":`
	ackKeySeqn = `,"IsSequentialMessage":`
	ackKeyCum  = `,"TetherCumulative":`
)

// MarshalJSON returns the compact JSON with the exact key order of the plugin
// and agent (encoding/json output, byte for byte).
func (a Acknowledge) MarshalJSON() ([]byte, error) {
	return AppendAcknowledge(make([]byte, 0, 192), a), nil
}

// AppendAcknowledge appends a's JSON form (see MarshalJSON) to dst.
func AppendAcknowledge(dst []byte, a Acknowledge) []byte {
	dst = append(dst, ackKeyType...)
	dst = appendJSONString(dst, a.AcknowledgedMessageType)
	dst = append(dst, ackKeyID...)
	dst = appendJSONString(dst, a.AcknowledgedMessageID)
	dst = append(dst, ackKeySeq...)
	dst = strconv.AppendInt(dst, a.AcknowledgedMessageSequenceNumber, 10)
	dst = append(dst, ackKeySeqn...)
	dst = strconv.AppendBool(dst, a.IsSequentialMessage)
	if a.Cumulative {
		dst = append(dst, ackKeyCum...)
		dst = append(dst, "true"...)
	}
	return append(dst, '}')
}

// AppendAck appends the JSON acknowledging the message of type typ, id and
// seq (IsSequentialMessage true), as AppendAcknowledge would, without
// building the strings of an Acknowledge.
func AppendAck(dst []byte, typ string, id UUID, seq int64, cumulative bool) []byte {
	dst = append(dst, ackKeyType...)
	dst = appendJSONString(dst, typ)
	dst = append(dst, ackKeyID...)
	dst = append(dst, '"')
	dst = id.appendTo(dst)
	dst = append(dst, '"')
	dst = append(dst, ackKeySeq...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, ackKeySeqn...)
	dst = append(dst, "true"...)
	if cumulative {
		dst = append(dst, ackKeyCum...)
		dst = append(dst, "true"...)
	}
	return append(dst, '}')
}

// appendJSONString appends s as encoding/json would write it (including its
// HTML escaping and invalid UTF-8 replacement).
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSONByte(s[i]) {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func plainJSONByte(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// ParseAcknowledge parses an acknowledge payload. Payloads in the exact form
// that the plugin, the agent and AppendAcknowledge write are parsed without
// allocating beyond the two strings; anything else goes through
// encoding/json, which gives the same result.
func ParseAcknowledge(p []byte) (Acknowledge, error) {
	if a, ok := parseAckFast(p); ok {
		return a, nil
	}
	var a Acknowledge
	if err := json.Unmarshal(p, &a); err != nil {
		return Acknowledge{}, fmt.Errorf("parse acknowledge: %w: %v", ErrBadPayload, err)
	}
	return a, nil
}

func parseAckFast(p []byte) (a Acknowledge, ok bool) {
	r := ackReader{b: p}
	if !r.lit(ackKeyType) {
		return a, false
	}
	a.AcknowledgedMessageType, ok = r.str()
	if !ok || !r.lit(ackKeyID) {
		return a, false
	}
	a.AcknowledgedMessageID, ok = r.str()
	if !ok || !r.lit(ackKeySeq) {
		return a, false
	}
	a.AcknowledgedMessageSequenceNumber, ok = r.int()
	if !ok || !r.lit(ackKeySeqn) {
		return a, false
	}
	a.IsSequentialMessage, ok = r.bool()
	if !ok {
		return a, false
	}
	if r.lit(ackKeyCum) {
		if a.Cumulative, ok = r.bool(); !ok {
			return a, false
		}
	}
	return a, r.lit("}") && len(r.b) == 0
}

type ackReader struct{ b []byte }

func (r *ackReader) lit(s string) bool {
	if !bytes.HasPrefix(r.b, []byte(s)) {
		return false
	}
	r.b = r.b[len(s):]
	return true
}

// str reads a JSON string without escapes, of printable ASCII only.
func (r *ackReader) str() (string, bool) {
	if len(r.b) == 0 || r.b[0] != '"' {
		return "", false
	}
	for i := 1; i < len(r.b); i++ {
		c := r.b[i]
		if c == '"' {
			s := string(r.b[1:i])
			r.b = r.b[i+1:]
			return s, true
		}
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return "", false
		}
	}
	return "", false
}

// int reads a JSON integer (no fraction or exponent) that fits in int64.
func (r *ackReader) int() (int64, bool) {
	i := 0
	if i < len(r.b) && r.b[i] == '-' {
		i++
	}
	start := i
	for i < len(r.b) && r.b[i] >= '0' && r.b[i] <= '9' {
		i++
	}
	digits := i - start
	if digits == 0 || (digits > 1 && r.b[start] == '0') {
		return 0, false
	}
	if i < len(r.b) && (r.b[i] == '.' || r.b[i] == 'e' || r.b[i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(r.b[:i]), 10, 64)
	if err != nil {
		return 0, false
	}
	r.b = r.b[i:]
	return n, true
}

func (r *ackReader) bool() (bool, bool) {
	switch {
	case r.lit("true"):
		return true, true
	case r.lit("false"):
		return false, true
	}
	return false, false
}
