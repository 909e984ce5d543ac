package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/faultproxy"
	"github.com/tether-ssm/tether/internal/wire"
)

// tokenGateway is the part of a gateway a reconnecting client meets: it
// reads the OpenDataChannelInput, refuses tokens it does not hold valid with
// close 1008 (as internal/gateway does), and otherwise reads frames, which
// answers pings, until the socket ends.
type tokenGateway struct {
	ctx   context.Context // its sockets end with it
	mu    sync.Mutex
	valid map[string]bool
	opens []string // tokens presented, in order
}

func (g *tokenGateway) setValid(tok string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.valid[tok] = ok
}

func (g *tokenGateway) presented() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.opens...)
}

func (g *tokenGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	_, b, err := conn.Read(g.ctx)
	if err != nil {
		return
	}
	open, err := wire.ParseOpenDataChannel(b)
	if err != nil {
		return
	}
	g.mu.Lock()
	g.opens = append(g.opens, open.TokenValue)
	ok := g.valid[open.TokenValue]
	g.mu.Unlock()
	if !ok {
		conn.Close(websocket.StatusPolicyViolation, "authentication failed: token has been superseded")
		return
	}
	for {
		if _, _, err := conn.Read(g.ctx); err != nil {
			return
		}
	}
}

// reconnectEnv is a client connected to a tokenGateway through a fault
// proxy, with a counting Resume.
type reconnectEnv struct {
	gw        *tokenGateway
	proxy     *faultproxy.Proxy
	s         *Session
	mu        sync.Mutex
	resumes   int
	resumeErr error
	connected chan Status
	lost      chan Status
}

func newReconnectEnv(t *testing.T, opts ...func(*Config)) *reconnectEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &reconnectEnv{gw: &tokenGateway{ctx: ctx, valid: map[string]bool{"T1": true}}, connected: make(chan Status, 16), lost: make(chan Status, 64)}
	srv := httptest.NewServer(e.gw)
	t.Cleanup(srv.Close)
	p, err := faultproxy.New(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	e.proxy = p
	t.Cleanup(func() { p.Close() })
	// Before the proxy closes: a socket it accepted while closing would
	// otherwise keep it waiting.
	t.Cleanup(cancel)
	cfg := Config{
		SessionID: "alice-0123456789abcdef0", StreamURL: "ws://" + p.Addr() + "/v1/data-channel/x", Token: "T1",
		Resume: e.resume,
		OnStatus: func(st Status) {
			if st.Connected {
				e.connected <- st
				return
			}
			select {
			case e.lost <- st:
			default:
			}
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.s, err = Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.s.Close() })
	return e
}

// resume mints T2, T3, … and makes the new token the only valid one.
func (e *reconnectEnv) resume(context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.resumeErr != nil {
		return "", e.resumeErr
	}
	e.resumes++
	tok := fmt.Sprintf("T%d", e.resumes+1)
	e.gw.mu.Lock()
	e.gw.valid = map[string]bool{tok: true}
	e.gw.mu.Unlock()
	return tok, nil
}

func (e *reconnectEnv) resumeCalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.resumes
}

func (e *reconnectEnv) waitConnected(t *testing.T) Status {
	t.Helper()
	select {
	case st := <-e.connected:
		return st
	case <-time.After(20 * time.Second):
		t.Fatal("the client did not reconnect")
		return Status{}
	}
}

// TestReconnectKeepsValidToken: a cut is repaired by redialling with the
// token in hand, without ResumeSession, and only the winning attempt
// presents a token to the gateway.
func TestReconnectKeepsValidToken(t *testing.T) {
	e := newReconnectEnv(t)
	// Open does not wait for the gateway to read the token.
	for deadline := time.Now().Add(20 * time.Second); len(e.gw.presented()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not get the first token")
		}
	}
	for i := 0; i < 5; i++ {
		for len(e.lost) > 0 {
			<-e.lost
		}
		e.proxy.Refuse(true)
		e.proxy.Cut()
		select { // the client tries the refusing network
		case <-e.lost:
		case <-time.After(20 * time.Second):
			t.Fatal("no reconnect attempt")
		}
		e.proxy.Refuse(false)
		e.waitConnected(t)
	}
	if n := e.resumeCalls(); n != 0 {
		t.Fatalf("ResumeSession called %d times, want 0", n)
	}
	if got := e.gw.presented(); fmt.Sprint(got) != "[T1 T1 T1 T1 T1 T1]" {
		t.Fatalf("tokens presented: %v, want T1 once per connection", got)
	}
}

// TestReconnectRefusedTokenResumesOnce: when the gateway refuses the token
// in hand (superseded), ResumeSession is called once and its token used.
func TestReconnectRefusedTokenResumesOnce(t *testing.T) {
	e := newReconnectEnv(t)
	e.gw.setValid("T1", false)
	e.proxy.Cut()
	e.waitConnected(t)
	if n := e.resumeCalls(); n != 1 {
		t.Fatalf("ResumeSession called %d times, want 1", n)
	}
	got := e.gw.presented()
	if got[len(got)-1] != "T2" {
		t.Fatalf("tokens presented: %v, want T2 last", got)
	}
	for _, tok := range got[1 : len(got)-1] {
		if tok != "T1" {
			t.Fatalf("tokens presented: %v: T1 refused, then T2", got)
		}
	}
	// The next cut reuses T2.
	e.proxy.Cut()
	e.waitConnected(t)
	if n := e.resumeCalls(); n != 1 {
		t.Fatalf("after a second cut ResumeSession called %d times, want 1", n)
	}
}

// TestReconnectSessionEnded: a refused token and a ResumeSession that says
// the session is over end the session.
func TestReconnectSessionEnded(t *testing.T) {
	e := newReconnectEnv(t)
	e.mu.Lock()
	e.resumeErr = fmt.Errorf("%w: Session alice-0123456789abcdef0 is not active", ErrSessionEnded)
	e.mu.Unlock()
	e.gw.setValid("T1", false)
	e.proxy.Cut()
	select {
	case <-e.s.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the session did not end")
	}
	if err := e.s.Err(); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("Err = %v, want ErrSessionEnded", err)
	}
}

// TestReconnectLearnsEndWhileGatewayUnreachable: with the data channel out
// of reach for longer than ResumeCheck, ResumeSession is still called, and
// its answer that the session is over ends the session.
func TestReconnectLearnsEndWhileGatewayUnreachable(t *testing.T) {
	e := newReconnectEnv(t, func(c *Config) { c.ResumeCheck = 50 * time.Millisecond })
	e.mu.Lock()
	e.resumeErr = fmt.Errorf("%w: Session alice-0123456789abcdef0 is not active", ErrSessionEnded)
	e.mu.Unlock()
	e.proxy.Refuse(true)
	e.proxy.Cut()
	select {
	case <-e.s.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the session did not end")
	}
	if err := e.s.Err(); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("Err = %v, want ErrSessionEnded", err)
	}
}

func TestResumeDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	check, maxAge := 2*time.Second, 5*time.Minute
	never := -time.Hour
	tests := []struct {
		name           string
		stale          bool
		now, last, got time.Duration // since the loss
		want           bool
	}{
		{"token in hand, outage just began", false, 0, never, -time.Minute, false},
		{"token in hand, outage shorter than the check", false, 1999 * time.Millisecond, never, -time.Minute, false},
		{"token in hand, outage as long as the check", false, 2 * time.Second, never, -time.Minute, true},
		{"checked a moment ago", false, 3 * time.Second, 2 * time.Second, 2 * time.Second, false},
		{"checked a check ago", false, 4 * time.Second, 2 * time.Second, 2 * time.Second, true},
		{"refused, never called", true, 0, never, -time.Minute, true},
		{"refused, called a moment ago", true, 50 * time.Millisecond, 0, -time.Minute, false},
		{"refused, called a gap ago", true, 100 * time.Millisecond, 0, -time.Minute, true},
		{"token older than the refresh age", false, 0, never, -maxAge, true},
		{"old token, refresh failed a moment ago", false, 50 * time.Millisecond, 0, -maxAge, false},
		{"old token, refresh failed a gap ago", false, 100 * time.Millisecond, 0, -maxAge, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := tokenState{stale: tc.stale, lost: t0, last: at(tc.last), got: at(tc.got)}
			if tc.last == never {
				ts.last = time.Time{}
			}
			if got := resumeDue(ts, at(tc.now), check, maxAge); got != tc.want {
				t.Fatalf("resumeDue = %v, want %v", got, tc.want)
			}
		})
	}
}
