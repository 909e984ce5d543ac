package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-ssm/tether/internal/wire"
)

// unhex parses a hexdump in the style of protocol.md §3.6 (offset, hex bytes,
// optional trailing comment after two or more spaces).
func unhex(t testing.TB, dump string) []byte {
	t.Helper()
	var out []byte
	for _, line := range strings.Split(strings.TrimSpace(dump), "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "   "); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		b, err := hex.DecodeString(strings.Join(fields[1:], ""))
		if err != nil {
			t.Fatalf("bad hex line %q: %v", line, err)
		}
		out = append(out, b...)
	}
	return out
}

// Vector 1 of protocol.md §3.6, byte for byte.
const vector1 = `
0000  00 00 00 74 69 6e 70 75 74 5f 73 74 72 65 61 6d   HL=116, "input_stream"
0010  5f 64 61 74 61 20 20 20 20 20 20 20 20 20 20 20   "_data" + spaces
0020  20 20 20 20 00 00 00 01 00 00 01 5e 0b aa 78 84   ver=1, CD=1503434274948
0030  00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 00   seq=2, flags=0
0040  a5 08 b5 f0 73 f3 1b 16 dd 01 e5 6b ff 48 48 3e   MessageId (halves swapped)
0050  23 9f 59 ed 55 e7 37 c7 71 47 cf 55 ad 0c 1b 03   SHA-256("payload")
0060  0b 6d 7e e7 48 a7 42 69 52 f9 b8 52 d5 a9 35 e5
0070  00 00 00 01 00 00 00 07 70 61 79 6c 6f 61 64      ptype=1, plen=7, "payload"
`

// Header bytes of vector 2 (the payload follows, 176 bytes).
const vector2Header = `
0000  00 00 00 74 61 63 6b 6e 6f 77 6c 65 64 67 65 20
0010  20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20
0020  20 20 20 20 00 00 00 01 00 00 01 5e 0b aa 78 84
0030  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 03
0040  9f 2a 1c 2b 3d 4e 5f 60 0d 1a 9f 60 5b 1c 4a 3e
0050  82 61 49 d3 5e 09 fb 65 5b 0d e7 14 8d ac 39 3b
0060  94 0c 08 94 4a ec cb ef ab 44 cb d8 6c 9b e0 50
0070  00 00 00 00 00 00 00 b0
`

func mustUUID(t testing.TB, s string) wire.UUID {
	t.Helper()
	u, err := wire.ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func vector1Message(t testing.TB) wire.Message {
	return wire.Message{
		MessageType:    wire.TypeInputStreamData,
		SchemaVersion:  1,
		CreatedDate:    1503434274948,
		SequenceNumber: 2,
		Flags:          0,
		MessageID:      mustUUID(t, "dd01e56b-ff48-483e-a508-b5f073f31b16"),
		PayloadType:    wire.PayloadOutput,
		Payload:        []byte("payload"),
	}
}

func vector2Message(t testing.TB) wire.Message {
	ack := wire.AckOf(&wire.Message{
		MessageType:    wire.TypeOutputStreamData,
		SequenceNumber: 2,
		MessageID:      mustUUID(t, "dd01e56b-ff48-483e-a508-b5f073f31b16"),
	})
	return wire.Message{
		MessageType:   wire.TypeAcknowledge,
		SchemaVersion: 1,
		CreatedDate:   1503434274948,
		Flags:         wire.FlagsAck,
		MessageID:     mustUUID(t, "0d1a9f60-5b1c-4a3e-9f2a-1c2b3d4e5f60"),
		PayloadType:   wire.PayloadNone,
		Payload:       wire.AppendAcknowledge(nil, ack),
	}
}

func TestVectors(t *testing.T) {
	t.Parallel()
	v2 := vector2Message(t)
	tests := []struct {
		name string
		msg  wire.Message
		want []byte
	}{
		{"vector1", vector1Message(t), unhex(t, vector1)},
		{"vector2", v2, append(unhex(t, vector2Header), v2.Payload...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := wire.Encode(&tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("encode mismatch:\n got %x\nwant %x", got, tc.want)
			}
			m, err := wire.Decode(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.msg, m); diff != "" {
				t.Fatalf("decode (-want +got):\n%s", diff)
			}
		})
	}
	if len(v2.Payload) != 176 {
		t.Errorf("vector 2 payload is %d bytes, want 176: %s", len(v2.Payload), v2.Payload)
	}
	const wantAck = `{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"dd01e56b-ff48-483e-a508-b5f073f31b16","AcknowledgedMessageSequenceNumber":2,"IsSequentialMessage":true}`
	if string(v2.Payload) != wantAck {
		t.Errorf("ack payload\n got %s\nwant %s", v2.Payload, wantAck)
	}
}

// frame builds a valid encoding of a small message and lets the test edit it.
func frame(t testing.TB, edit func(b []byte) []byte) []byte {
	t.Helper()
	m := vector1Message(t)
	b, err := wire.Encode(&m)
	if err != nil {
		t.Fatal(err)
	}
	return edit(b)
}

func TestDecodeValidation(t *testing.T) {
	t.Parallel()
	be := binary.BigEndian
	setType := func(b []byte, s string) {
		copy(b[4:36], bytes.Repeat([]byte{' '}, 32))
		copy(b[4:36], s)
	}
	startPub0 := frame(t, func(b []byte) []byte {
		setType(b, wire.TypeStartPublication)
		be.PutUint32(b, 0)
		return b
	})
	tests := []struct {
		name        string
		in          []byte
		wantErr     error
		wantType    string
		wantPayload string
	}{
		{"empty", nil, wire.ErrTruncated, "", ""},
		{"115 bytes", make([]byte, 115), wire.ErrTruncated, "", ""},
		{"116 bytes (plugin panics)", frame(t, func(b []byte) []byte { return b[:116] }), wire.ErrTruncated, "", ""},
		{"119 bytes (plugin panics)", frame(t, func(b []byte) []byte { return b[:119] }), wire.ErrTruncated, "", ""},
		{"header length past end", frame(t, func(b []byte) []byte { be.PutUint32(b, 1000); return b }), wire.ErrTruncated, "", ""},
		{"header length max", frame(t, func(b []byte) []byte { be.PutUint32(b, 0xffffffff); return b }), wire.ErrTruncated, "", ""},
		{"header length zero", frame(t, func(b []byte) []byte { be.PutUint32(b, 0); return b }), wire.ErrHeaderLength, "", ""},
		{"type missing", frame(t, func(b []byte) []byte { setType(b, ""); return b }), wire.ErrMissingType, "", ""},
		{"type all NUL", frame(t, func(b []byte) []byte { copy(b[4:36], make([]byte, 32)); return b }), wire.ErrMissingType, "", ""},
		{"created date zero", frame(t, func(b []byte) []byte { be.PutUint64(b[40:], 0); return b }), wire.ErrMissingCreatedDate, "", ""},
		{"bad digest", frame(t, func(b []byte) []byte { b[80] ^= 1; return b }), wire.ErrDigest, "", ""},
		{"payload altered", frame(t, func(b []byte) []byte { b[120] = 'P'; return b }), wire.ErrDigest, "", ""},
		{"trailing byte breaks digest", frame(t, func(b []byte) []byte { return append(b, 'x') }), wire.ErrDigest, "", ""},
		{"payload length zero skips digest", frame(t, func(b []byte) []byte {
			be.PutUint32(b[116:], 0)
			b[80] ^= 1
			return b
		}), nil, wire.TypeInputStreamData, "payload"},
		{"NUL padded type", frame(t, func(b []byte) []byte {
			copy(b[4:36], make([]byte, 32))
			copy(b[4:36], "input_stream_data")
			return b
		}), nil, wire.TypeInputStreamData, "payload"},
		{"leading NUL and space", frame(t, func(b []byte) []byte { setType(b, "\x00 acknowledge"); return b }), nil, wire.TypeAcknowledge, "payload"},
		{"unknown type kept", frame(t, func(b []byte) []byte { setType(b, "agent_telemetry"); return b }), nil, "agent_telemetry", "payload"},
		{"header length 117 moves payload", frame(t, func(b []byte) []byte {
			be.PutUint32(b, 117)
			be.PutUint32(b[116:], 0) // skip the digest check
			return b
		}), nil, wire.TypeInputStreamData, "ayload"},
		{"pause publication skips checks", frame(t, func(b []byte) []byte {
			setType(b, wire.TypePausePublication)
			be.PutUint64(b[40:], 0)
			b[80] ^= 1
			return b
		}), nil, wire.TypePausePublication, "payload"},
		{"start publication with zero header length", startPub0, nil, wire.TypeStartPublication, string(startPub0[4:])},
		{"empty payload", frame(t, func(b []byte) []byte { be.PutUint32(b[116:], 0); return b[:120] }), nil, wire.TypeInputStreamData, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := wire.Decode(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Decode error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if m.MessageType != tc.wantType || string(m.Payload) != tc.wantPayload {
				t.Fatalf("got type %q payload %q, want %q %q", m.MessageType, m.Payload, tc.wantType, tc.wantPayload)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(m *wire.Message)
		wantErr error
	}{
		{"empty type", func(m *wire.Message) { m.MessageType = "" }, wire.ErrMissingType},
		{"type too long", func(m *wire.Message) { m.MessageType = strings.Repeat("a", 33) }, wire.ErrTypeTooLong},
		{"leading space", func(m *wire.Message) { m.MessageType = " acknowledge" }, wire.ErrTypeNotCanonical},
		{"trailing space", func(m *wire.Message) { m.MessageType = "acknowledge " }, wire.ErrTypeNotCanonical},
		{"leading NUL", func(m *wire.Message) { m.MessageType = "\x00acknowledge" }, wire.ErrTypeNotCanonical},
		{"trailing NUL survives the plugin's trim", func(m *wire.Message) { m.MessageType = "acknowledge\x00" }, nil},
		{"only spaces", func(m *wire.Message) { m.MessageType = "   " }, wire.ErrTypeNotCanonical},
		{"zero created date", func(m *wire.Message) { m.CreatedDate = 0 }, wire.ErrMissingCreatedDate},
		{"zero created date publication", func(m *wire.Message) {
			m.MessageType = wire.TypeStartPublication
			m.CreatedDate = 0
		}, wire.ErrMissingCreatedDate},
		{"32-byte type is fine", func(m *wire.Message) { m.MessageType = strings.Repeat("a", 32) }, nil},
		{"inner space is fine", func(m *wire.Message) { m.MessageType = "a b" }, nil},
		{"empty payload is fine", func(m *wire.Message) { m.Payload = nil }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := vector1Message(t)
			tc.edit(&m)
			dst := []byte("prefix")
			out, err := wire.AppendEncode(dst, &m)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if string(out) != "prefix" {
					t.Fatalf("dst changed on error: %q", out)
				}
				return
			}
			back, err := wire.Decode(out[len("prefix"):])
			if err != nil {
				t.Fatalf("decode own encoding: %v", err)
			}
			if diff := cmp.Diff(m, back, cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeDoesNotAllocateForKnownTypes(t *testing.T) {
	m := vector1Message(t)
	b, _ := wire.Encode(&m)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := wire.Decode(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %v times, want 0", allocs)
	}
}

func TestUUID(t *testing.T) {
	t.Parallel()
	const s = "dd01e56b-ff48-483e-a508-b5f073f31b16"
	u := mustUUID(t, s)
	if u.String() != s {
		t.Fatalf("String() = %s", u)
	}
	if up, err := wire.ParseUUID(strings.ToUpper(s)); err != nil || up != u {
		t.Fatalf("upper case: %v %v", up, err)
	}
	for _, bad := range []string{"", "dd01e56b", "dd01e56bxff48-483e-a508-b5f073f31b16", "zz01e56b-ff48-483e-a508-b5f073f31b16"} {
		if _, err := wire.ParseUUID(bad); !errors.Is(err, wire.ErrBadPayload) {
			t.Errorf("ParseUUID(%q) error = %v", bad, err)
		}
	}
	n := wire.NewUUID()
	if n.IsZero() || n[6]>>4 != 4 || n[8]>>6 != 2 {
		t.Fatalf("NewUUID not v4: %s", n)
	}
}

func TestEncodeNoDigest(t *testing.T) {
	t.Parallel()
	m := vector1Message(t)
	b, err := wire.AppendEncodeNoDigest(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[80:112], make([]byte, 32)) || binary.BigEndian.Uint32(b[116:]) != 0 {
		t.Fatalf("digest or length written: %x", b[80:120])
	}
	back, err := wire.Decode(b)
	if err != nil || string(back.Payload) != "payload" {
		t.Fatalf("Decode = %q, %v", back.Payload, err)
	}
}
