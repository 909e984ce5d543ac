package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/agent"
	"github.com/tether-ssm/tether/internal/agent/shell"
	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/gateway"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/store/sqlitestore"
	"github.com/tether-ssm/tether/internal/token"
	"github.com/tether-ssm/tether/internal/wire"
)

// env is a gateway on a loopback HTTP server with a registered, running
// agent.
type env struct {
	t      *testing.T
	gw     *gateway.Gateway
	srv    *httptest.Server
	st     store.Store
	tokens *token.Codec
	nodeID string
	now    func() time.Time
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func logger(t *testing.T) *slog.Logger {
	if os.Getenv("TETHER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func newEnv(t *testing.T, cfg gateway.Config) *env {
	t.Helper()
	e := newEnvWithout(t, cfg, nil)
	e.startAgent()
	return e
}

// newEnvWithout is newEnv without the agent; wrap (if not nil) wraps the
// gateway's handler.
func newEnvWithout(t *testing.T, cfg gateway.Config, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	ctx := testCtx(t)
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "tether.db"), sqlitestore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, token.KeySize)
	rand.Read(key)
	tokens, err := token.New(key, token.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = logger(t)
	gw := gateway.New(cfg, st, tokens)
	h := gw.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { gw.Close() })
	gctx, gcancel := context.WithCancel(ctx)
	t.Cleanup(gcancel)
	go gw.Run(gctx)

	e := &env{t: t, gw: gw, srv: srv, st: st, tokens: tokens, nodeID: "mi-0123456789abcdef0", now: time.Now}
	now := time.Now()
	must(t, st.CreateActivation(ctx, store.Activation{ID: "act-1", RegistrationLimit: 5, ExpirationDate: now.Add(time.Hour), CreatedDate: now}))
	must(t, st.RegisterNode(ctx, store.Node{ID: e.nodeID, ActivationID: "act-1", RegistrationDate: now, AccessKeyID: "AKIANODE0001", SecretAccessKey: "node-secret"}))
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// startAgent runs an agent for the env's node until the test ends.
func (e *env) startAgent() { e.startAgentAt(e.srv.URL) }

// startAgentAt runs an agent that reaches the gateway at base.
func (e *env) startAgentAt(base string) { e.startAgentWith(base, false) }

// startAgentWith runs an agent that reaches the gateway at base, with its
// data channels multiplexed unless noMux.
func (e *env) startAgentWith(base string, noMux bool) {
	a, err := agent.New(agent.Config{
		DisableMux:   noMux,
		Registration: agent.Registration{Server: base, NodeID: e.nodeID, AccessKeyID: "AKIANODE0001", SecretAccessKey: "node-secret"},
		Shell:        shell.Config{Shell: "/bin/sh"},
		Logger:       logger(e.t),
	})
	must(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
	waitFor(e.t, 20*time.Second, "agent connects", func() bool { return e.gw.Connected(e.nodeID) })
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startSession creates a session as StartSession would and returns a
// connected client.
func (e *env) startSession(doc string, params map[string][]string) (*client.Session, string) {
	e.t.Helper()
	return e.startSessionVia(e.srv.URL, doc, params)
}

// startSessionVia connects the client through base (e.g. a fault proxy).
func (e *env) startSessionVia(base, doc string, params map[string][]string) (*client.Session, string) {
	e.t.Helper()
	ctx := testCtx(e.t)
	id := fmt.Sprintf("alice-%017x", time.Now().UnixNano())
	now := time.Now()
	sess := store.Session{ID: id, Target: e.nodeID, Status: store.StatusConnecting, StartDate: now,
		DocumentName: doc, Owner: "arn:aws:iam::123456789012:user/alice", Parameters: params,
		ClientGeneration: 1, LastActivity: now}
	must(e.t, e.st.CreateSession(ctx, sess))
	must(e.t, e.gw.OpenSession(ctx, sess, ""))
	c, err := client.Open(ctx, client.Config{
		SessionID: id, StreamURL: "ws" + strings.TrimPrefix(base, "http") + "/v1/data-channel/" + id + "?role=publish_subscribe",
		Token: e.clientToken(id, 1), Resume: e.resumer(id), Logger: logger(e.t),
	})
	must(e.t, err)
	e.t.Cleanup(func() { c.Close() })
	return c, id
}

func (e *env) clientToken(id string, gen int64) string {
	tok, err := e.tokens.Seal(token.Claims{SessionID: id, Role: token.RoleClient, Principal: "arn:aws:iam::123456789012:user/alice",
		Generation: gen, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
	must(e.t, err)
	return tok
}

// resumer does what ResumeSession does: bump the generation, mint a token.
func (e *env) resumer(id string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		s, err := e.st.UpdateSession(ctx, id, func(s *store.Session) error {
			if !s.Status.Active() {
				return client.ErrSessionEnded
			}
			s.ClientGeneration++
			s.LastActivity = time.Now()
			return nil
		})
		if err != nil {
			return "", err
		}
		return e.clientToken(id, s.ClientGeneration), nil
	}
}

// output collects a session's Output until it contains want.
func readUntil(t *testing.T, c *client.Session, buf *bytes.Buffer, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !strings.Contains(buf.String(), want) {
		p, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("reading until %q: %v; got so far:\n%s", want, err, buf.String())
		}
		if p.Type == wire.PayloadOutput || p.Type == wire.PayloadStdErr {
			buf.Write(p.Data)
		}
	}
}

func (e *env) status(id string) store.SessionStatus {
	s, err := e.st.GetSession(context.Background(), id)
	must(e.t, err)
	return s.Status
}

func TestShellSessionEchoResizeAndExit(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	ctx := testCtx(t)
	c, id := e.startSession("SSM-SessionManagerRunShell", nil)
	must(t, c.Write(ctx, wire.PayloadSize, []byte(`{"cols":132,"rows":43}`)))
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("echo hi-$((6*7))\n")))
	var out bytes.Buffer
	readUntil(t, c, &out, "hi-42")
	waitFor(t, 10*time.Second, "session Connected", func() bool { return e.status(id) == store.StatusConnected })
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("stty size\n")))
	readUntil(t, c, &out, "43 132")
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("exit\n")))
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("no channel_closed after the shell exited")
	}
	waitFor(t, 10*time.Second, "session Terminated", func() bool { return e.status(id) == store.StatusTerminated })
}

func TestNonInteractiveCommand(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	c, _ := e.startSession("AWS-StartNonInteractiveCommand", map[string][]string{"command": {"echo out; echo err >&2; exit 3"}})
	ctx := testCtx(t)
	var stdout, stderr bytes.Buffer
	code := -1
	for {
		p, err := c.Read(ctx)
		if errors.Is(err, client.ErrEnded) {
			break
		}
		must(t, err)
		switch p.Type {
		case wire.PayloadOutput:
			stdout.Write(p.Data)
		case wire.PayloadStdErr:
			stderr.Write(p.Data)
		case wire.PayloadExitCode:
			code, err = wire.ParseExitCode(p.Data)
			must(t, err)
		}
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" || code != 3 {
		t.Fatalf("stdout %q, stderr %q, exit code %d; want out, err, 3", stdout.String(), stderr.String(), code)
	}
}

func TestPortForwardingMux(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	go echo(ln)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, _ := e.startSession("AWS-StartPortForwardingSessionToRemoteHost", map[string][]string{"host": {"127.0.0.1"}, "portNumber": {port}, "localPortNumber": {"0"}})
	fwd := client.NewPortForwarder(c)
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- echoThrough(fwd, 256<<10) }()
	}
	for range 4 {
		must(t, <-errs)
	}
}

func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); io.Copy(c, c) }()
	}
}

func echoThrough(fwd *client.PortForwarder, n int) error {
	conn, err := fwd.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	data := make([]byte, n)
	rand.Read(data)
	go conn.Write(data)
	got := make([]byte, n)
	if _, err := io.ReadFull(conn, got); err != nil {
		return err
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		return errors.New("echo differs")
	}
	return nil
}
