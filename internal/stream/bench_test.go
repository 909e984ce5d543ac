package stream_test

import (
	"context"
	"testing"

	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/stream/streamtest"
	"github.com/tether-ssm/tether/internal/wire"
)

// BenchmarkThroughput measures one direction of a stream between two
// endpoints over an in-memory pipe: b.N messages of MaxPayload bytes each
// (MB/s is payload throughput; allocs/op is per message, both sides).
func BenchmarkThroughput(b *testing.B) {
	cases := []struct {
		name string
		cfg  func(stream.Role) stream.Config
	}{
		{"interop-1KiB", func(r stream.Role) stream.Config { return stream.DefaultConfig(r, stream.ModeInterop) }},
		{"fast-32KiB-digest-ackeach", func(r stream.Role) stream.Config {
			c := stream.DefaultConfig(r, stream.ModeFast)
			c.CumulativeAck, c.OmitDigest = false, false
			return c
		}},
		{"fast-32KiB-digest", func(r stream.Role) stream.Config {
			c := stream.DefaultConfig(r, stream.ModeFast)
			c.OmitDigest = false
			return c
		}},
		{"fast-32KiB", func(r stream.Role) stream.Config { return stream.DefaultConfig(r, stream.ModeFast) }},
		{"fast-64KiB", func(r stream.Role) stream.Config {
			c := stream.DefaultConfig(r, stream.ModeFast)
			c.MaxPayload = 64 << 10
			return c
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			w := newEndpoint(b, tc.cfg(stream.RoleAgent))
			r := newEndpoint(b, tc.cfg(stream.RoleClient))
			x, y := streamtest.Pipe(256)
			_ = w.Attach(x)
			_ = r.Attach(y)
			size := w.Config().MaxPayload
			buf := make([]byte, size)
			done := make(chan error, 1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for i := 0; i < b.N; i++ {
					if _, err := r.Read(ctx); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for i := 0; i < b.N; i++ {
				if _, err := w.Write(ctx, wire.PayloadOutput, buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
		})
	}
}
