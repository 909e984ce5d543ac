package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/store"
)

// benchSessions creates n sessions and returns their ids.
func benchSessions(b *testing.B, n int) (store.Store, []string) {
	b.Helper()
	s := open(b, filepath.Join(b.TempDir(), "tether.db"))
	b.Cleanup(func() { s.Close() })
	now := time.Now().UTC()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%017x", i)
		if err := s.CreateSession(context.Background(), store.Session{ID: ids[i], Target: "mi-0123456789abcdef0",
			Status: store.StatusConnected, StartDate: now, DocumentName: "SSM-SessionManagerRunShell",
			Owner: "arn:aws:iam::123456789012:user/bench", ClientGeneration: 1, LastActivity: now}); err != nil {
			b.Fatal(err)
		}
	}
	return s, ids
}

// resume is what sessions.ResumeSession does to a session.
func resume(x *store.Session) error {
	x.ClientGeneration++
	x.LastActivity = time.Now().UTC()
	return nil
}

// BenchmarkUpdateSession is the store side of ResumeSession, one caller
// at a time and from many goroutines (writes are serialised either way).
func BenchmarkUpdateSession(b *testing.B) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		s, ids := benchSessions(b, 1000)
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.UpdateSession(ctx, ids[i%len(ids)], resume); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s, ids := benchSessions(b, 1000)
		var n atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.UpdateSession(ctx, ids[int(n.Add(1))%len(ids)], resume); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkGetSession is a read through the read pool.
func BenchmarkGetSession(b *testing.B) {
	ctx := context.Background()
	s, ids := benchSessions(b, 1000)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetSession(ctx, ids[int(n.Add(1))%len(ids)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkListActive10k lists 10,000 active sessions, what the gateway's
// once-a-second idle sweep asks for when that many sessions are open.
func BenchmarkListActive10k(b *testing.B) {
	ctx := context.Background()
	s, _ := benchSessions(b, 10000)
	b.ResetTimer()
	for range b.N {
		got, err := s.ListSessions(ctx, store.SessionQuery{})
		if err != nil || len(got) != 10000 {
			b.Fatalf("ListSessions: %d sessions, %v", len(got), err)
		}
	}
}
