package wire_test

import (
	"testing"

	"github.com/tether-ssm/tether/internal/wire"
)

func benchMessage(n int) wire.Message {
	return wire.Message{
		MessageType:    wire.TypeOutputStreamData,
		SchemaVersion:  1,
		CreatedDate:    1503434274948,
		SequenceNumber: 42,
		MessageID:      wire.NewUUID(),
		PayloadType:    wire.PayloadOutput,
		Payload:        make([]byte, n),
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{1024, 32 << 10, 64 << 10} {
		b.Run(size(n), func(b *testing.B) {
			m := benchMessage(n)
			buf := make([]byte, 0, m.EncodedLen())
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = wire.AppendEncode(buf[:0], &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeNoDigest(b *testing.B) {
	for _, n := range []int{1024, 64 << 10} {
		b.Run(size(n), func(b *testing.B) {
			m := benchMessage(n)
			buf := make([]byte, 0, m.EncodedLen())
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = wire.AppendEncodeNoDigest(buf[:0], &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeNoDigest(b *testing.B) {
	m := benchMessage(64 << 10)
	frame, _ := wire.AppendEncodeNoDigest(nil, &m)
	b.SetBytes(int64(len(m.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1024, 32 << 10, 64 << 10} {
		b.Run(size(n), func(b *testing.B) {
			m := benchMessage(n)
			frame, _ := wire.Encode(&m)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := wire.Decode(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAcknowledge(b *testing.B) {
	m := benchMessage(1)
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf = wire.AppendAcknowledge(buf[:0], wire.AckOf(&m))
		}
	})
	b.Run("append-ack", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf = wire.AppendAck(buf[:0], m.MessageType, m.MessageID, m.SequenceNumber, false)
		}
	})
	b.Run("parse", func(b *testing.B) {
		p := wire.AppendAcknowledge(nil, wire.AckOf(&m))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := wire.ParseAcknowledge(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func size(n int) string {
	if n >= 1024 {
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
