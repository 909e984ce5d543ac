package sessions_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/auth"
	"github.com/tether-ssm/tether/internal/awsjson"
	"github.com/tether-ssm/tether/internal/sessions"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/store/sqlitestore"
	"github.com/tether-ssm/tether/internal/token"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// online is a Presence where the listed nodes are connected; it records
// what it was asked to do.
type online struct {
	mu     sync.Mutex
	nodes  map[string]bool
	opened []string
	closed []string
}

func (o *online) Connected(id string) bool { o.mu.Lock(); defer o.mu.Unlock(); return o.nodes[id] }
func (o *online) OpenSession(_ context.Context, s store.Session, tok string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opened = append(o.opened, s.ID)
	return nil
}
func (o *online) CloseSession(_ context.Context, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = append(o.closed, id)
	return nil
}

type env struct {
	svc    *sessions.Service
	st     store.Store
	clk    *clock
	tokens *token.Codec
	pres   *online
	mary   *auth.Principal
	john   *auth.Principal
	admin  *auth.Principal
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "tether.db"), sqlitestore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)}
	tokens, err := token.New(bytes.Repeat([]byte{1}, 32), token.Config{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	pres := &online{nodes: map[string]bool{"mi-0123456789abcdef0": true}}
	cfg := sessions.DefaultConfig()
	cfg.Now = clk.now
	cfg.PublicURL = "https://tether.example:8443/base/"
	svc, err := sessions.New(cfg, st, tokens, pres, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := auth.ParseConfig(strings.NewReader(`
users:
  - {name: Mary-Major, access_key_id: K1, secret_access_key: s}
  - {name: John, access_key_id: K2, secret_access_key: s}
  - {name: admin, access_key_id: K3, secret_access_key: s, policy: {sessions: ["*"]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := auth.NewDirectory(c)
	e := &env{svc: svc, st: st, clk: clk, tokens: tokens, pres: pres}
	e.mary, _ = dir.Lookup("K1")
	e.john, _ = dir.Lookup("K2")
	e.admin, _ = dir.Lookup("K3")
	return e
}

func awsCode(err error) string {
	var ae *awsjson.Error
	if errors.As(err, &ae) {
		return string(ae.Code)
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}

var idRE = regexp.MustCompile(`^Mary-Major-[0-9a-f]{17}$`)

func TestStartSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const node = "mi-0123456789abcdef0"
	tests := []struct {
		name string
		in   sessions.StartSessionInput
		want string
	}{
		{"default document", sessions.StartSessionInput{Target: node}, ""},
		{"port forwarding", sessions.StartSessionInput{Target: node, DocumentName: "AWS-StartPortForwardingSession",
			Parameters: map[string][]string{"portNumber": {"8080"}}}, ""},
		{"document ARN", sessions.StartSessionInput{Target: node, DocumentName: "arn:aws:ssm:us-east-1::document/AWS-StartSSHSession"}, ""},
		{"not connected", sessions.StartSessionInput{Target: "mi-ffffffffffffffff0"}, "TargetNotConnected"},
		{"unknown document", sessions.StartSessionInput{Target: node, DocumentName: "AWS-Nope"}, "InvalidDocument"},
		{"unknown parameter", sessions.StartSessionInput{Target: node, Parameters: map[string][]string{"x": {"1"}}}, "InvalidDocument"},
		{"bad port", sessions.StartSessionInput{Target: node, DocumentName: "AWS-StartPortForwardingSession",
			Parameters: map[string][]string{"portNumber": {"70000"}}}, "InvalidDocument"},
		{"two values", sessions.StartSessionInput{Target: node, DocumentName: "AWS-StartSSHSession",
			Parameters: map[string][]string{"portNumber": {"22", "23"}}}, "InvalidDocument"},
		{"missing required", sessions.StartSessionInput{Target: node, DocumentName: "AWS-StartInteractiveCommand"}, "InvalidDocument"},
		{"remote host", sessions.StartSessionInput{Target: node, DocumentName: "AWS-StartPortForwardingSessionToRemoteHost",
			Parameters: map[string][]string{"host": {"db.example.com"}, "portNumber": {"5432"}, "localPortNumber": {"15432"}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.svc.StartSession(ctx, e.mary, &tc.in)
			if awsCode(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			if tc.want != "" {
				return
			}
			if !idRE.MatchString(out.SessionID) {
				t.Errorf("session id %q", out.SessionID)
			}
			if want := "wss://tether.example:8443/base/v1/data-channel/" + out.SessionID + "?role=publish_subscribe"; out.StreamURL != want {
				t.Errorf("StreamUrl %s", out.StreamURL)
			}
			if len(out.TokenValue) > 300 {
				t.Errorf("token too long")
			}
			sess, cl, err := e.svc.VerifyClientToken(ctx, out.SessionID, out.TokenValue)
			if err != nil || cl.Principal != e.mary.ARN || cl.Generation != 1 || sess.Status != store.StatusConnecting {
				t.Fatalf("verify: %+v %+v %v", sess, cl, err)
			}
			if tc.in.DocumentName == "AWS-StartPortForwardingSession" && sess.Parameters["localPortNumber"] != nil {
				t.Errorf("empty default stored: %v", sess.Parameters)
			}
			if tc.in.DocumentName == "" && sess.DocumentName != sessions.DefaultDocument {
				t.Errorf("document %s", sess.DocumentName)
			}
		})
	}
	// Offline presence: every start is TargetNotConnected.
	cfg := sessions.DefaultConfig()
	off, _ := sessions.New(cfg, e.st, e.tokens, nil, nil)
	if _, err := off.StartSession(ctx, e.mary, &sessions.StartSessionInput{Target: node}); awsCode(err) != "TargetNotConnected" {
		t.Fatalf("offline: %v", err)
	}
}

func TestResumeTerminate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	start, err := e.svc.StartSession(ctx, e.mary, &sessions.StartSessionInput{Target: "mi-0123456789abcdef0"})
	if err != nil {
		t.Fatal(err)
	}
	id := start.SessionID
	e.clk.add(time.Minute)
	res, err := e.svc.ResumeSession(ctx, e.mary, &sessions.SessionIDInput{SessionID: id})
	if err != nil || res.SessionID != id || res.StreamURL != start.StreamURL || res.TokenValue == start.TokenValue {
		t.Fatalf("resume: %+v %v", res, err)
	}
	if _, _, err := e.svc.VerifyClientToken(ctx, id, start.TokenValue); !errors.Is(err, token.ErrSuperseded) {
		t.Errorf("old token: %v", err)
	}
	sess, _, err := e.svc.VerifyClientToken(ctx, id, res.TokenValue)
	if err != nil || sess.ClientGeneration != 2 || !sess.LastActivity.Equal(e.clk.now()) {
		t.Errorf("new token: %+v %v", sess, err)
	}
	if _, _, err := e.svc.VerifyClientToken(ctx, "other-0123", res.TokenValue); !errors.Is(err, sessions.ErrSessionMismatch) {
		t.Errorf("mismatch: %v", err)
	}
	for _, tc := range []struct {
		name string
		fn   func() error
		want string
	}{
		{"resume other's", func() error {
			_, err := e.svc.ResumeSession(ctx, e.john, &sessions.SessionIDInput{SessionID: id})
			return err
		}, "AccessDeniedException"},
		{"terminate other's", func() error {
			_, err := e.svc.TerminateSession(ctx, e.john, &sessions.SessionIDInput{SessionID: id})
			return err
		}, "AccessDeniedException"},
		{"admin may resume", func() error {
			_, err := e.svc.ResumeSession(ctx, e.admin, &sessions.SessionIDInput{SessionID: id})
			return err
		}, ""},
		{"resume unknown", func() error {
			_, err := e.svc.ResumeSession(ctx, e.mary, &sessions.SessionIDInput{SessionID: "Mary-Major-nope"})
			return err
		}, "DoesNotExistException"},
		{"terminate unknown", func() error {
			out, err := e.svc.TerminateSession(ctx, e.mary, &sessions.SessionIDInput{SessionID: "Mary-Major-nope"})
			if err == nil && out.SessionID != "Mary-Major-nope" {
				return fmt.Errorf("id %s", out.SessionID)
			}
			return err
		}, ""},
		{"terminate", func() error {
			_, err := e.svc.TerminateSession(ctx, e.mary, &sessions.SessionIDInput{SessionID: id})
			return err
		}, ""},
		{"terminate again", func() error {
			_, err := e.svc.TerminateSession(ctx, e.mary, &sessions.SessionIDInput{SessionID: id})
			return err
		}, ""},
		{"resume terminated", func() error {
			_, err := e.svc.ResumeSession(ctx, e.mary, &sessions.SessionIDInput{SessionID: id})
			return err
		}, "DoesNotExistException"},
	} {
		if err := tc.fn(); awsCode(err) != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	sess, err = e.st.GetSession(ctx, id)
	if err != nil || sess.Status != store.StatusTerminated || sess.EndDate.IsZero() {
		t.Fatalf("after terminate: %+v %v", sess, err)
	}
	if len(e.pres.closed) != 1 || e.pres.closed[0] != id {
		t.Errorf("CloseSession calls %v", e.pres.closed)
	}
	if _, _, err := e.svc.VerifyClientToken(ctx, id, res.TokenValue); !errors.Is(err, sessions.ErrSessionEnded) {
		t.Errorf("token of ended session: %v", err)
	}
}

func seed(t *testing.T, e *env, n int, owner string, status store.SessionStatus, base time.Time) []string {
	t.Helper()
	var ids []string
	for i := range n {
		s := store.Session{ID: fmt.Sprintf("seed-%s-%03d", status, i), Target: fmt.Sprintf("mi-%017d", i%3), Status: status,
			StartDate: base.Add(time.Duration(i) * time.Second), DocumentName: sessions.DefaultDocument, Owner: owner, ClientGeneration: 1}
		if status.Ended() {
			s.EndDate = s.StartDate.Add(time.Minute)
		}
		if err := e.st.CreateSession(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	return ids
}

func TestDescribeSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	base := e.clk.now().Add(-time.Hour)
	seed(t, e, 25, e.mary.ARN, store.StatusConnected, base)
	seed(t, e, 4, e.john.ARN, store.StatusTerminated, base)

	// Pagination: 25 active sessions, 10 per page → 3 pages, newest first.
	var got []string
	var pages int
	in := &sessions.DescribeSessionsInput{State: "Active", MaxResults: ptr(10)}
	for {
		out, err := e.svc.DescribeSessions(ctx, e.mary, in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range out.Sessions {
			got = append(got, s.SessionID)
		}
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if pages != 3 || len(got) != 25 || got[0] != "seed-Connected-024" || got[24] != "seed-Connected-000" {
		t.Fatalf("pages %d, sessions %d: %v", pages, len(got), got)
	}

	first, _ := e.svc.DescribeSessions(ctx, e.mary, &sessions.DescribeSessionsInput{State: "Active", MaxResults: ptr(1)})
	tok := first.NextToken
	for _, tc := range []struct {
		name string
		in   sessions.DescribeSessionsInput
		p    *auth.Principal
		want string
		n    int
	}{
		{"history", sessions.DescribeSessionsInput{State: "History"}, e.mary, "", 4},
		{"default page size", sessions.DescribeSessionsInput{State: "Active"}, e.mary, "", 20},
		{"target filter", sessions.DescribeSessionsInput{State: "Active", Filters: []sessions.SessionFilter{{"Target", "mi-00000000000000001"}}}, e.mary, "", 8},
		{"owner filter", sessions.DescribeSessionsInput{State: "History", Filters: []sessions.SessionFilter{{"Owner", e.john.ARN}}}, e.mary, "", 4},
		{"status filter", sessions.DescribeSessionsInput{State: "Active", Filters: []sessions.SessionFilter{{"Status", "Disconnected"}}}, e.mary, "", 0},
		{"session id filter", sessions.DescribeSessionsInput{State: "Active", Filters: []sessions.SessionFilter{{"SessionId", "seed-Connected-003"}}}, e.mary, "", 1},
		{"invoked window", sessions.DescribeSessionsInput{State: "Active", Filters: []sessions.SessionFilter{
			{"InvokedAfter", base.Add(5 * time.Second).Format(time.RFC3339)}, {"InvokedBefore", base.Add(10 * time.Second).Format(time.RFC3339)}}}, e.mary, "", 5},
		{"access type", sessions.DescribeSessionsInput{State: "Active", Filters: []sessions.SessionFilter{{"AccessType", "JustInTime"}}}, e.mary, "", 0},
		{"bad timestamp", sessions.DescribeSessionsInput{State: "Active", Filters: []sessions.SessionFilter{{"InvokedAfter", "yesterday"}}}, e.mary, "ValidationException", 0},
		{"bad status", sessions.DescribeSessionsInput{State: "Active", Filters: []sessions.SessionFilter{{"Status", "Sleeping"}}}, e.mary, "ValidationException", 0},
		{"duplicate key", sessions.DescribeSessionsInput{State: "Active", Filters: []sessions.SessionFilter{{"Target", "a"}, {"Target", "b"}}}, e.mary, "InvalidFilterKey", 0},
		{"next token ok", sessions.DescribeSessionsInput{State: "Active", NextToken: tok, MaxResults: ptr(200)}, e.mary, "", 24},
		{"next token garbage", sessions.DescribeSessionsInput{State: "Active", NextToken: "page2"}, e.mary, "InvalidNextToken", 0},
		{"next token tampered", sessions.DescribeSessionsInput{State: "Active", NextToken: tok[:len(tok)-2] + "AA"}, e.mary, "InvalidNextToken", 0},
		{"next token other listing", sessions.DescribeSessionsInput{State: "History", NextToken: tok}, e.mary, "InvalidNextToken", 0},
		{"next token other caller", sessions.DescribeSessionsInput{State: "Active", NextToken: tok}, e.john, "InvalidNextToken", 0},
	} {
		out, err := e.svc.DescribeSessions(ctx, tc.p, &tc.in)
		if awsCode(err) != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
			continue
		}
		if err == nil && len(out.Sessions) != tc.n {
			t.Errorf("%s: %d sessions, want %d", tc.name, len(out.Sessions), tc.n)
		}
	}

	// Every field of the Session shape.
	out, _ := e.svc.DescribeSessions(ctx, e.mary, &sessions.DescribeSessionsInput{State: "History", MaxResults: ptr(1)})
	s := out.Sessions[0]
	if s.StartDate == nil || s.EndDate == nil || s.Owner != e.john.ARN || s.Status != "Terminated" || s.OutputURL == nil || s.DocumentName == "" {
		t.Errorf("history session %+v", s)
	}

	// Page tokens expire; history is retained 30 days.
	e.clk.add(25 * time.Hour)
	if _, err := e.svc.DescribeSessions(ctx, e.mary, &sessions.DescribeSessionsInput{State: "Active", NextToken: tok}); awsCode(err) != "InvalidNextToken" {
		t.Errorf("expired page token: %v", err)
	}
	e.clk.add(30 * 24 * time.Hour)
	out, err := e.svc.DescribeSessions(ctx, e.mary, &sessions.DescribeSessionsInput{State: "History"})
	if err != nil || len(out.Sessions) != 0 {
		t.Errorf("history after 31 days: %d %v", len(out.Sessions), err)
	}
}

func TestTransition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	seed(t, e, 1, e.mary.ARN, store.StatusConnecting, e.clk.now())
	id := "seed-Connecting-000"
	steps := []struct {
		to   store.SessionStatus
		fail bool
	}{
		{store.StatusConnected, false}, {store.StatusDisconnected, false}, {store.StatusConnected, false},
		{store.StatusConnecting, true}, {store.StatusTerminating, false}, {store.StatusConnected, true},
		{store.StatusTerminated, false}, {store.StatusConnected, true}, {store.StatusFailed, true},
	}
	for _, st := range steps {
		_, err := e.svc.Transition(ctx, id, st.to, "done")
		if (err != nil) != st.fail || (err != nil && !errors.Is(err, sessions.ErrInvalidTransition)) {
			t.Errorf("→ %s: %v", st.to, err)
		}
	}
	s, _ := e.st.GetSession(ctx, id)
	if s.Status != store.StatusTerminated || s.Details != "done" || s.EndDate.IsZero() {
		t.Errorf("%+v", s)
	}
}

func ptr[T any](v T) *T { return &v }
