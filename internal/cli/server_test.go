package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestServerFlagsAndConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badUser := write("bad-user.yaml", "users: [{name: 'no spaces', access_key_id: k, secret_access_key: s}]")
	badRetention := write("bad-retention.yaml", "history_retention: forever")
	unknownField := write("unknown.yaml", "colour: red")
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"extra argument", []string{"extra"}, 2, "unexpected arguments"},
		{"missing config", []string{"--data-dir", dir, "--config", filepath.Join(dir, "none.yaml")}, 1, "read config"},
		{"bad user", []string{"--data-dir", dir, "--config", badUser}, 1, "name \"no spaces\""},
		{"bad retention", []string{"--data-dir", dir, "--config", badRetention}, 1, "history_retention"},
		{"unknown field", []string{"--data-dir", dir, "--config", unknownField}, 1, "colour"},
		{"bad log level", []string{"--data-dir", dir, "--log-level", "loud"}, 1, "--log-level"},
		{"bad listen", []string{"--data-dir", dir, "--listen", "127.0.0.1:-1"}, 1, "listen"},
		{"bad public url", []string{"--data-dir", dir, "--public-url", "ftp://x"}, 1, "public URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A case that wrongly starts the server stops after the timeout.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stderr lockedBuffer
			args := append([]string{"tether", "server", "--listen", "127.0.0.1:0"}, tc.args...)
			code := Main(ctx, args, IO{Out: &stderr, Err: &stderr})
			if code != tc.code || !strings.Contains(stderr.String(), tc.err) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.err)
			}
		})
	}
}

// TestServerRunsAndStops starts the server in-process on a free port and
// stops it by cancelling its context.
func TestServerRunsAndStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var logs lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"tether", "server", "--listen", "127.0.0.1:0", "--data-dir", dir}, IO{Out: &logs, Err: &logs})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "tether server listening") {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", logs.String())
		}
		select {
		case code := <-done:
			t.Fatalf("server exited %d: %s", code, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if !strings.Contains(logs.String(), "no principals configured") {
		t.Errorf("missing warning about an empty configuration: %s", logs.String())
	}
	for _, f := range []string{"tether.db", "token.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop")
	}
}
