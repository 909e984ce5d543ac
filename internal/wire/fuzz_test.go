package wire_test

import (
	"bytes"
	"testing"

	"github.com/tether-ssm/tether/internal/wire"
)

// FuzzDecode checks that Decode never panics and that encoding is stable:
// whatever Decode accepts re-encodes (unless Encode refuses it, e.g. a
// publication message with CreatedDate 0), and that encoding decodes to the
// same message and re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	v1 := unhex(f, vector1)
	v2m := vector2Message(f)
	v2, err := wire.Encode(&v2m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v1)
	f.Add(v2)
	f.Add(v1[:116])
	f.Add(v1[:119])
	f.Add(v1[:120])
	f.Add(append(append([]byte{}, v1...), "trailing"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.Decode(b)
		if err != nil {
			return
		}
		y, err := wire.Encode(&m)
		if err != nil {
			return
		}
		m2, err := wire.Decode(y)
		if err != nil {
			t.Fatalf("own encoding rejected: %v\n%x", err, y)
		}
		if m2.MessageType != m.MessageType || m2.SequenceNumber != m.SequenceNumber ||
			m2.MessageID != m.MessageID || !bytes.Equal(m2.Payload, m.Payload) ||
			m2.CreatedDate != m.CreatedDate || m2.Flags != m.Flags ||
			m2.PayloadType != m.PayloadType || m2.SchemaVersion != m.SchemaVersion {
			t.Fatalf("decode(encode(m)) != m:\n%+v\n%+v", m, m2)
		}
		z, err := wire.Encode(&m2)
		if err != nil || !bytes.Equal(y, z) {
			t.Fatalf("encoding not stable: %v\n%x\n%x", err, y, z)
		}
	})
}
