package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/agent/mgs"
	"github.com/tether-ssm/tether/internal/chanmux"
	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/faultproxy"
	"github.com/tether-ssm/tether/internal/gateway"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/token"
	"github.com/tether-ssm/tether/internal/wire"
)

// upgrades counts websocket upgrades by path kind, and can play an older
// gateway that has no /v1/mux-channel/ endpoint.
type upgrades struct {
	noMux int // answer /v1/mux-channel/ with this status (0: serve it)
	mu    sync.Mutex
	n     map[string]int
}

func (u *upgrades) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			kind, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
			u.mu.Lock()
			if u.n == nil {
				u.n = map[string]int{}
			}
			u.n[kind]++
			u.mu.Unlock()
			if u.noMux != 0 && kind == "mux-channel" {
				http.Error(w, "no", u.noMux)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (u *upgrades) count(kind string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[kind]
}

// TestAgentDataChannelPaths: a Tether agent multiplexes its sessions over
// one connection to a gateway that offers it, and falls back to one
// websocket per session with a gateway that does not (404).
func TestAgentDataChannelPaths(t *testing.T) {
	tests := []struct {
		name               string
		noMux              int  // the gateway (or a proxy) answers this on /v1/mux-channel/
		agentNoMux         bool // agent.Config.DisableMux
		wantDataUpgrades   int  // client + agent data-channel websockets, for 3 sessions
		wantMuxConnections int
		wantMuxRequests    int
	}{
		{"gateway with mux", 0, false, 3, 1, 1},
		{"older gateway without mux", http.StatusNotFound, false, 6, 0, 1},
		{"a proxy refusing the mux path", http.StatusBadRequest, false, 6, 0, 1},
		{"agent with the mux disabled", 0, true, 6, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &upgrades{noMux: tt.noMux}
			e := newEnvWithout(t, gateway.Config{}, u.wrap)
			e.startAgentWith(e.srv.URL, tt.agentNoMux)
			ctx := testCtx(t)
			for i := range 3 {
				c, _ := e.startSession("SSM-SessionManagerRunShell", nil)
				must(t, c.Write(ctx, wire.PayloadOutput, fmt.Appendf(nil, "echo hi-$((%d*7))\n", i)))
				var out bytes.Buffer
				readUntil(t, c, &out, fmt.Sprintf("hi-%d", i*7))
			}
			if got := u.count("data-channel"); got != tt.wantDataUpgrades {
				t.Errorf("data-channel upgrades = %d, want %d", got, tt.wantDataUpgrades)
			}
			if got := u.count("mux-channel"); got != tt.wantMuxRequests {
				t.Errorf("mux-channel asked %d times, want %d (a refusal is remembered)", got, tt.wantMuxRequests)
			}
			muxOK := u.count("mux-channel")
			if tt.noMux != 0 {
				muxOK = 0
			}
			if muxOK != tt.wantMuxConnections {
				t.Errorf("mux connections = %d, want %d", muxOK, tt.wantMuxConnections)
			}
		})
	}
}

// TestSessionsSurviveMuxCuts runs two shells over one agent whose
// multiplexed connection is cut again and again once both are running:
// each cut fails both channels, both reconnect, and every line of both
// arrives once, in order.
func TestSessionsSurviveMuxCuts(t *testing.T) {
	e := newEnvWithout(t, gateway.Config{}, nil)
	proxy, err := faultproxy.New(strings.TrimPrefix(e.srv.URL, "http://"))
	must(t, err)
	// Closed after the agent has stopped (cleanups run last first): a
	// connection the proxy accepts while closing would keep it waiting.
	t.Cleanup(func() { proxy.Close() })
	e.startAgentAt("http://" + proxy.Addr())
	ctx := testCtx(t)
	const lines = 6000
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	started := make(chan struct{}, 2)
	for s := range 2 {
		c, _ := e.startSession("SSM-SessionManagerRunShell", nil)
		must(t, c.Write(ctx, wire.PayloadOutput, []byte(fmt.Sprintf("stty -echo; i=0; while [ $i -lt %d ]; do i=$((i+1)); echo s%d-$i; done; echo END-$((%d+100))\n", lines, s, s))))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := checkLines(ctx, c, s, lines, started); err != nil {
				errs <- err
			}
		}()
	}
	// The first connect of a session is not retried (the session fails):
	// cut only once both are streaming.
	for range 2 {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatal("sessions did not start")
		}
	}
	stop := make(chan struct{})
	cutsDone := make(chan int)
	go func() {
		cuts := 0
		for {
			select {
			case <-stop:
				cutsDone <- cuts
				return
			case <-time.After(40 * time.Millisecond): // spread the cuts; not a correctness wait
				cuts += proxy.Cut()
			}
		}
	}()
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cuts := <-cutsDone
	if cuts == 0 {
		t.Fatal("no connection was cut")
	}
	t.Logf("%d agent-link connections cut", cuts)
}

// checkLines reads session s's output until its END marker, signalling
// started at its first line, and checks lines s<s>-1..n arrived once each,
// in order.
func checkLines(ctx context.Context, c *client.Session, s, n int, started chan<- struct{}) error {
	var out bytes.Buffer
	first, end := fmt.Sprintf("s%d-1\n", s), fmt.Sprintf("END-%d", s+100) // neither is in the echoed command
	signalled := false
	for !strings.Contains(out.String(), end) {
		p, err := c.Read(ctx)
		if err != nil {
			return fmt.Errorf("session %d: %w; got %d bytes", s, err, out.Len())
		}
		out.Write(p.Data)
		if !signalled && strings.Contains(strings.ReplaceAll(out.String(), "\r", ""), first) {
			signalled = true
			started <- struct{}{}
		}
	}
	var got []string
	re := regexp.MustCompile(fmt.Sprintf(`(s%d-[0-9]+)\r?$`, s)) // a line may follow the prompt
	for _, l := range strings.Split(out.String(), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			got = append(got, m[1])
		}
	}
	for i, l := range got {
		if l != fmt.Sprintf("s%d-%d", s, i+1) {
			return fmt.Errorf("session %d line %d is %q: lost, repeated or reordered", s, i+1, l)
		}
	}
	if len(got) != n {
		return fmt.Errorf("session %d: %d lines, want %d", s, len(got), n)
	}
	return nil
}

// TestMuxChannelForAnotherNodeRefused: a node's multiplexed connection
// cannot carry a data channel of another node's session, even with a valid
// agent token for it.
func TestMuxChannelForAnotherNodeRefused(t *testing.T) {
	e := newEnvWithout(t, gateway.Config{}, nil)
	ctx := testCtx(t)
	now := time.Now()
	id := "alice-0000000000000000a"
	must(t, e.st.CreateSession(ctx, store.Session{ID: id, Target: "mi-0fffffffffffffff0", Status: store.StatusConnecting,
		StartDate: now, DocumentName: "SSM-SessionManagerRunShell", Owner: "arn:aws:iam::123456789012:user/alice",
		ClientGeneration: 1, LastActivity: now}))
	tok, err := e.tokens.Seal(token.Claims{SessionID: id, Role: token.RoleAgent, Principal: "node/mi-0fffffffffffffff0",
		IssuedAt: now, Expiry: now.Add(time.Minute)})
	must(t, err)
	c := &mgs.Client{Endpoint: e.srv.URL, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIANODE0001", "node-secret", "")}
	// First as itself (the session is not its node's), then, on the same
	// connection, claiming to be the session's node.
	for _, claimed := range []string{e.nodeID, "mi-0fffffffffffffff0"} {
		tr, err := c.OpenDataChannel(ctx, id, wire.AgentOpenDataChannelInput{MessageSchemaVersion: "1.0",
			RequestID: wire.NewUUID().String(), TokenValue: tok, ClientInstanceID: claimed})
		must(t, err)
		if _, ok := tr.(*chanmux.Channel); !ok {
			t.Fatalf("transport is %T, want a mux channel", tr)
		}
		_, err = tr.Recv(ctx)
		var ce *chanmux.ClosedError
		if !errors.As(err, &ce) || !ce.ByPeer || !strings.Contains(ce.Reason, "authentication failed") {
			t.Fatalf("claiming %s: recv err = %v, want a refusal", claimed, err)
		}
	}
	if st := e.status(id); st != store.StatusConnecting {
		t.Fatalf("status = %s", st)
	}
}

// TestPingerDropsSilentSockets: the shared pinger drops a client socket
// that stops answering pings, and keeps one that answers.
func TestPingerDropsSilentSockets(t *testing.T) {
	e := newEnvWithout(t, gateway.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, nil)
	ctx := testCtx(t)
	attach := func(read bool) string {
		id := fmt.Sprintf("alice-%017x", time.Now().UnixNano())
		now := time.Now()
		must(t, e.st.CreateSession(ctx, store.Session{ID: id, Target: e.nodeID, Status: store.StatusConnecting, StartDate: now,
			DocumentName: "SSM-SessionManagerRunShell", Owner: "arn:aws:iam::123456789012:user/alice", ClientGeneration: 1, LastActivity: now}))
		url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/data-channel/" + id + "?role=publish_subscribe"
		conn, _, err := websocket.Dial(ctx, url, nil)
		must(t, err)
		t.Cleanup(func() { conn.CloseNow() })
		open := fmt.Sprintf(`{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":%q,"ClientId":"c"}`, e.clientToken(id, 1))
		must(t, conn.Write(ctx, websocket.MessageText, []byte(open)))
		if read {
			go func() { // reading answers pings
				for {
					if _, _, err := conn.Read(context.Background()); err != nil {
						return
					}
				}
			}()
		}
		return id
	}
	live, silent := attach(true), attach(false)
	waitFor(t, 20*time.Second, "the silent socket dropped", func() bool { return e.status(silent) == store.StatusDisconnected })
	if st := e.status(live); st != store.StatusConnecting {
		t.Fatalf("answering socket: status %s, want Connecting (attached, no agent)", st)
	}
}
