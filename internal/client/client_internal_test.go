package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/stream/streamtest"
	"github.com/tether-ssm/tether/internal/wire"
)

func TestStatusLine(t *testing.T) {
	var b bytes.Buffer
	l := &statusLine{w: &b}
	l.update(Status{Attempt: 3, Elapsed: 4100 * time.Millisecond, Err: errors.New("x")})
	if got := b.String(); got != "\r\x1b[Kconnection lost — resuming (attempt 3, 4.1 s)" {
		t.Fatalf("status line = %q", got)
	}
	b.Reset()
	l.update(Status{Connected: true})
	if b.String() != "\r\x1b[K" {
		t.Fatalf("clearing = %q", b.String())
	}
	b.Reset()
	l.update(Status{Connected: true})
	if b.Len() != 0 {
		t.Fatalf("clearing twice wrote %q", b.String())
	}
}

// pipeSession is a Session whose stream's peer is readable by the test.
func pipeSession(t *testing.T) (*Session, *stream.Endpoint) {
	t.Helper()
	a, b := streamtest.Pipe(64)
	ep, err := stream.New(stream.Config{Role: stream.RoleClient})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := stream.New(stream.Config{Role: stream.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	ep.Attach(a)
	peer.Attach(b)
	s := &Session{ep: ep, done: make(chan struct{}), handshaked: make(chan struct{})}
	s.doneCtx, s.doneCancel = context.WithCancel(context.Background())
	t.Cleanup(func() { ep.Close(canceled()); peer.Close(canceled()) })
	return s, peer
}

func readInput(t *testing.T, peer *stream.Endpoint, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	for b.Len() < n {
		p, err := peer.Read(ctx)
		if err != nil {
			t.Fatalf("read input: %v (got %q)", err, b.String())
		}
		if p.Type == wire.PayloadOutput {
			b.Write(p.Data)
		}
	}
	return b.String()
}

func TestPumpStdinEscapes(t *testing.T) {
	tests := []struct {
		name, in, sent string
		ended          bool
		stderr         string
	}{
		{"plain", "ls\r", "ls\r", false, ""},
		{"tilde mid-line is data", "a~.b\r", "a~.b\r", false, ""},
		{"tilde tilde sends one", "~~x\r", "~x\r", false, ""},
		{"tilde other sends both", "~ax\r", "~ax\r", false, ""},
		{"help", "~?z\r", "z\r", false, "Supported escape sequences"},
		{"dot ends", "echo\r~.", "echo\r", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, peer := pipeSession(t)
			var errb bytes.Buffer
			o := RunOptions{Stdin: strings.NewReader(tc.in), Stderr: &errb}
			err := pumpStdin(context.Background(), s, o, true)
			if tc.ended != errors.Is(err, errEscape) {
				t.Fatalf("pumpStdin = %v, ended want %v", err, tc.ended)
			}
			if !tc.ended && !errors.Is(err, io.EOF) {
				t.Fatalf("pumpStdin = %v, want EOF", err)
			}
			if got := readInput(t, peer, len(tc.sent)); got != tc.sent {
				t.Fatalf("sent %q, want %q", got, tc.sent)
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("stderr %q lacks %q", errb.String(), tc.stderr)
			}
		})
	}
}

func TestPluginMainConventions(t *testing.T) {
	run := func(args ...string) string {
		var out bytes.Buffer
		code := PluginMain(context.Background(), args, PluginIO{Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }})
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		return out.String()
	}
	if got := run(); !strings.Contains(got, "installed successfully") {
		t.Fatalf("no args: %q", got)
	}
	if got := run("--version"); got != PluginVersion+"\n" {
		t.Fatalf("--version: %q", got)
	}
	if got := run("x", "y"); !strings.Contains(got, "Unknown operation x") {
		t.Fatalf("two args: %q", got)
	}
	if got := run(`{}`, "us-east-1", "Other"); got != "Invalid Operation" {
		t.Fatalf("other operation: %q", got)
	}
	if got := run(`{"SessionId":"s"}`, "us-east-1", "StartSession", "", `{"Target":"mi-1"}`, "http://127.0.0.1:1"); !strings.Contains(got, "Cannot perform start session") {
		t.Fatalf("incomplete response: %q", got)
	}
}
