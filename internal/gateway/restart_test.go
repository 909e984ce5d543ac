package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"path/filepath"
	"sync"
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

// server is a gateway on a fixed loopback address that can be stopped and
// started again over the same database, as a restarted `tether server`.
type server struct {
	t      *testing.T
	addr   string
	dbPath string
	key    []byte
	mu     sync.Mutex // guards st and gw, replaced by start
	st     store.Store
	gw     *gateway.Gateway
	hs     *http.Server
	cancel context.CancelFunc
}

func (s *server) start() {
	s.t.Helper()
	st, err := sqlitestore.Open(s.dbPath, sqlitestore.DefaultConfig())
	must(s.t, err)
	tokens, err := token.New(s.key, token.Config{})
	must(s.t, err)
	var ln net.Listener
	waitFor(s.t, 10*time.Second, "the address is free again", func() bool {
		ln, err = net.Listen("tcp", s.addr)
		return err == nil
	})
	s.addr = ln.Addr().String()
	gw := gateway.New(gateway.Config{Logger: logger(s.t)}, st, tokens)
	s.mu.Lock()
	s.st, s.gw = st, gw
	s.mu.Unlock()
	s.hs = &http.Server{Handler: gw.Handler()}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.hs.Serve(ln)
	go gw.Run(ctx)
}

func (s *server) store() store.Store { s.mu.Lock(); defer s.mu.Unlock(); return s.st }

// stop drops every connection at once, like a crash.
func (s *server) stop() {
	s.cancel()
	s.hs.Close()
	s.gw.Close()
	s.st.Close()
}

func TestAgentAndSessionSurviveServerRestart(t *testing.T) {
	ctx := testCtx(t)
	key := make([]byte, token.KeySize)
	rand.Read(key)
	srv := &server{t: t, addr: "127.0.0.1:0", dbPath: filepath.Join(t.TempDir(), "tether.db"), key: key}
	srv.start()
	t.Cleanup(func() { srv.stop() })
	const nodeID = "mi-00000000000000001"
	now := time.Now()
	must(t, srv.st.CreateActivation(ctx, store.Activation{ID: "act", RegistrationLimit: 1, ExpirationDate: now.Add(time.Hour), CreatedDate: now}))
	must(t, srv.st.RegisterNode(ctx, store.Node{ID: nodeID, ActivationID: "act", RegistrationDate: now, AccessKeyID: "AKIARESTART", SecretAccessKey: "s3cret"}))
	a, err := agent.New(agent.Config{
		Registration: agent.Registration{Server: "http://" + srv.addr, NodeID: nodeID, AccessKeyID: "AKIARESTART", SecretAccessKey: "s3cret"},
		Shell:        shell.Config{Shell: "/bin/sh"}, Logger: logger(t),
	})
	must(t, err)
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan struct{})
	go func() { a.Run(actx); close(adone) }()
	t.Cleanup(func() { acancel(); <-adone })
	waitFor(t, 20*time.Second, "agent connects", func() bool { return srv.gw.Connected(nodeID) })

	// A shell session, then a restart in the middle of it.
	id := "alice-00000000000000abc"
	sess := store.Session{ID: id, Target: nodeID, Status: store.StatusConnecting, StartDate: now,
		DocumentName: "SSM-SessionManagerRunShell", Owner: "arn:aws:iam::1:user/alice", ClientGeneration: 1, LastActivity: now}
	must(t, srv.st.CreateSession(ctx, sess))
	must(t, srv.gw.OpenSession(ctx, sess, ""))
	codec, _ := token.New(key, token.Config{})
	tok := func(gen int64) string {
		s, err := codec.Seal(token.Claims{SessionID: id, Role: token.RoleClient, Generation: gen, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
		must(t, err)
		return s
	}
	resume := func(ctx context.Context) (string, error) {
		s, err := srv.store().UpdateSession(ctx, id, func(s *store.Session) error { s.ClientGeneration++; return nil })
		if err != nil {
			return "", err
		}
		return tok(s.ClientGeneration), nil
	}
	c, err := client.Open(ctx, client.Config{SessionID: id, StreamURL: "ws://" + srv.addr + "/v1/data-channel/" + id + "?role=publish_subscribe",
		Token: tok(1), Resume: resume, Logger: logger(t)})
	must(t, err)
	defer c.Close()
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("X=before\n")))
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("echo $X-1\n")))
	var out bytes.Buffer
	readUntil(t, c, &out, "before-1")

	srv.stop()
	srv.start()
	waitFor(t, 30*time.Second, "agent reconnects after the restart", func() bool { return srv.gw.Connected(nodeID) })
	// The same shell (its variable is still set) answers after the restart.
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("echo $X-2\n")))
	readUntil(t, c, &out, "before-2")
}
