package stream_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/stream/streamtest"
	"github.com/tether-ssm/tether/internal/wire"
)

// FuzzEndpointInput feeds an endpoint a hostile peer's frames: valid
// messages of any type, sequence number, payload type and size, acks naming
// any sequence number (cumulative or not), and garbage. The endpoint must
// neither panic nor hang, and must still close.
func FuzzEndpointInput(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 'h', 'i'}, true)
	f.Add([]byte{1, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0xff, 0xff}, false)
	f.Add([]byte{2, 0x80, 0, 0, 0, 0, 0, 0, 0, 3}, true)
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0, 0, 0, 0, 0, 4}, false)
	f.Fuzz(func(t *testing.T, in []byte, agent bool) {
		role := stream.RoleClient
		if agent {
			role = stream.RoleAgent
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ep, err := stream.New(stream.Config{Role: role, Clock: streamtest.NewClock(epoch),
			RecvBufferMessages: 4, RecvBufferBytes: 64, OnControl: func(*wire.Message) {}})
		if err != nil {
			t.Fatal(err)
		}
		a, b := streamtest.Pipe(1024)
		_ = ep.Attach(a)
		if _, err := ep.Write(ctx, wire.PayloadOutput, []byte("x")); err != nil {
			t.Fatal(err)
		}
		for _, fr := range hostileFrames(in) {
			if err := b.Send(ctx, fr); err != nil {
				t.Fatal(err)
			}
		}
		// Read whatever was delivered in order without blocking for more.
		for ep.Stats().Readable > 0 {
			if _, err := ep.Read(ctx); err != nil {
				break
			}
		}
		cancelled, c := context.WithCancel(ctx)
		c()
		_ = ep.Close(cancelled)
	})
}

// hostileFrames turns fuzz bytes into frames: each record is a kind byte,
// an 8-byte sequence number, a payload-type byte and a payload of up to 255
// bytes (length byte first).
func hostileFrames(in []byte) [][]byte {
	types := []string{wire.TypeInputStreamData, wire.TypeOutputStreamData, wire.TypeAcknowledge,
		wire.TypePausePublication, wire.TypeStartPublication, wire.TypeChannelClosed}
	var out [][]byte
	for len(in) >= 10 {
		kind, seq, pt := in[0], int64(binary.BigEndian.Uint64(in[1:9])), wire.PayloadType(in[9])
		in = in[10:]
		n := 0
		if len(in) > 0 {
			n = min(int(in[0]), len(in)-1)
			in = in[1:]
		}
		payload := in[:n]
		in = in[n:]
		m := wire.Message{MessageType: types[int(kind)%len(types)], SchemaVersion: 1, CreatedDate: 1,
			SequenceNumber: seq, MessageID: wire.NewUUID(), PayloadType: pt, Payload: payload}
		if m.MessageType == wire.TypeAcknowledge && kind&0x80 == 0 {
			m.Payload = wire.AppendAck(nil, wire.TypeInputStreamData, m.MessageID, seq, kind&0x40 != 0)
		}
		fr, err := wire.Encode(&m)
		if err != nil {
			continue
		}
		if kind&0x20 != 0 && len(fr) > 0 {
			fr = fr[:int(kind)%len(fr)] // truncated garbage
		}
		out = append(out, fr)
	}
	return out
}
