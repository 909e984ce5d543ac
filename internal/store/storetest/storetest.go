// Package storetest is the conformance suite that every store.Store
// implementation must pass. Implementations call Run from their own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// It is imported only by tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-ssm/tether/internal/store"
)

// Opener returns a new, empty store; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs every conformance test against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SessionCreateGet", testSessionCreateGet},
		{"SessionCreateExists", testSessionCreateExists},
		{"SessionNotFound", testSessionNotFound},
		{"SessionUpdate", testSessionUpdate},
		{"SessionUpdateConcurrent", testSessionUpdateConcurrent},
		{"SessionList", testSessionList},
		{"SessionListPaging", testSessionListPaging},
		{"SessionRetention", testSessionRetention},
		{"Activations", testActivations},
		{"RegisterNode", testRegisterNode},
		{"RegisterNodeConcurrentLimit", testRegisterNodeConcurrentLimit},
		{"NodeUpdateList", testNodeUpdateList},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

// base is a fixed instant with millisecond precision.
var base = time.Date(2026, 12, 4, 10, 0, 0, 123e6, time.UTC)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSession(id string, start time.Time) store.Session {
	return store.Session{
		ID: id, Target: "mi-0123456789abcdef0", Status: store.StatusConnecting,
		StartDate: start, DocumentName: "SSM-SessionManagerRunShell",
		Owner: "arn:aws:iam::123456789012:user/alice", Reason: "debugging",
		Parameters:         map[string][]string{"portNumber": {"22"}},
		MaxSessionDuration: 60, ClientGeneration: 1, LastActivity: start,
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testSessionCreateGet(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	want := newSession("alice-0123456789abcdef0", base)
	must(t, s.CreateSession(ctx, want))
	got, err := s.GetSession(ctx, want.ID)
	must(t, err)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("GetSession mismatch (-want +got):\n%s", d)
	}
	// Times come back in UTC with millisecond precision.
	in := newSession("alice-1", time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600)))
	must(t, s.CreateSession(ctx, in))
	got, err = s.GetSession(ctx, in.ID)
	must(t, err)
	if w := in.StartDate.Truncate(time.Millisecond).UTC(); !got.StartDate.Equal(w) || got.StartDate.Location() != time.UTC {
		t.Fatalf("StartDate = %v, want %v in UTC", got.StartDate, w)
	}
	// Empty parameters read back as nil; zero times as zero.
	empty := store.Session{ID: "bob-2", Status: store.StatusConnecting, StartDate: base}
	must(t, s.CreateSession(ctx, empty))
	got, err = s.GetSession(ctx, empty.ID)
	must(t, err)
	if d := cmp.Diff(empty, got); d != "" {
		t.Fatalf("empty session mismatch (-want +got):\n%s", d)
	}
}

func testSessionCreateExists(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newSession("alice-1", base)
	must(t, s.CreateSession(ctx, a))
	b := a
	b.Target = "mi-other"
	if err := s.CreateSession(ctx, b); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateSession = %v, want ErrExists", err)
	}
	got, err := s.GetSession(ctx, a.ID)
	must(t, err)
	if got.Target != a.Target {
		t.Fatalf("duplicate create changed the session: target %q", got.Target)
	}
}

func testSessionNotFound(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.GetSession(ctx, "nobody-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession = %v, want ErrNotFound", err)
	}
	_, err := s.UpdateSession(ctx, "nobody-1", func(*store.Session) error { return nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSession = %v, want ErrNotFound", err)
	}
}

func testSessionUpdate(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	sess := newSession("alice-1", base)
	must(t, s.CreateSession(ctx, sess))
	end := base.Add(time.Hour)
	got, err := s.UpdateSession(ctx, sess.ID, func(x *store.Session) error {
		x.Status = store.StatusTerminated
		x.EndDate = end
		x.Details = "terminated by user"
		x.ID = "ignored"
		return nil
	})
	must(t, err)
	if got.ID != sess.ID || got.Status != store.StatusTerminated || !got.EndDate.Equal(end) {
		t.Fatalf("UpdateSession returned %+v", got)
	}
	reread, err := s.GetSession(ctx, sess.ID)
	must(t, err)
	if d := cmp.Diff(got, reread); d != "" {
		t.Fatalf("re-read differs (-returned +stored):\n%s", d)
	}
	// An error from fn writes nothing and comes back unwrapped.
	errStop := errors.New("stop")
	_, err = s.UpdateSession(ctx, sess.ID, func(x *store.Session) error {
		x.Status = store.StatusConnected
		return errStop
	})
	if err != errStop {
		t.Fatalf("UpdateSession err = %v, want errStop itself", err)
	}
	reread, err = s.GetSession(ctx, sess.ID)
	must(t, err)
	if reread.Status != store.StatusTerminated {
		t.Fatalf("failed update was written: status %s", reread.Status)
	}
}

// testSessionUpdateConcurrent checks that UpdateSession is atomic: n
// concurrent increments all land.
func testSessionUpdateConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	sess := newSession("alice-1", base)
	sess.ClientGeneration = 0
	must(t, s.CreateSession(ctx, sess))
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateSession(ctx, sess.ID, func(x *store.Session) error {
				x.ClientGeneration++
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, err := s.GetSession(ctx, sess.ID)
	must(t, err)
	if got.ClientGeneration != n {
		t.Fatalf("ClientGeneration = %d after %d concurrent increments", got.ClientGeneration, n)
	}
}

func ids(ss []store.Session) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func testSessionList(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mk := func(id, target, owner string, st store.SessionStatus, start time.Time) {
		x := newSession(id, start)
		x.Target, x.Owner, x.Status = target, owner, st
		if st.Ended() {
			x.EndDate = start.Add(time.Minute)
		}
		must(t, s.CreateSession(ctx, x))
	}
	mk("a-1", "mi-1", "arn:a", store.StatusConnected, base)
	mk("a-2", "mi-2", "arn:a", store.StatusDisconnected, base.Add(time.Second))
	mk("b-1", "mi-1", "arn:b", store.StatusConnecting, base.Add(2*time.Second))
	mk("b-2", "mi-1", "arn:b", store.StatusTerminating, base.Add(3*time.Second))
	mk("a-3", "mi-1", "arn:a", store.StatusTerminated, base.Add(4*time.Second))
	mk("b-3", "mi-2", "arn:b", store.StatusFailed, base.Add(5*time.Second))
	tests := []struct {
		name string
		q    store.SessionQuery
		want []string
	}{
		{"active", store.SessionQuery{}, []string{"b-2", "b-1", "a-2", "a-1"}},
		{"history", store.SessionQuery{History: true}, []string{"b-3", "a-3"}},
		{"target", store.SessionQuery{Target: "mi-1"}, []string{"b-2", "b-1", "a-1"}},
		{"owner", store.SessionQuery{Owner: "arn:a"}, []string{"a-2", "a-1"}},
		{"status", store.SessionQuery{Status: store.StatusDisconnected}, []string{"a-2"}},
		{"status other list", store.SessionQuery{Status: store.StatusTerminated}, []string{}},
		{"session id", store.SessionQuery{SessionID: "b-1"}, []string{"b-1"}},
		{"invoked after (inclusive)", store.SessionQuery{InvokedAfter: base.Add(time.Second)}, []string{"b-2", "b-1", "a-2"}},
		{"invoked before (exclusive)", store.SessionQuery{InvokedBefore: base.Add(time.Second)}, []string{"a-1"}},
		{"combined", store.SessionQuery{History: true, Target: "mi-2", Owner: "arn:b"}, []string{"b-3"}},
		{"limit", store.SessionQuery{Limit: 2}, []string{"b-2", "b-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListSessions(ctx, tc.q)
			must(t, err)
			if d := cmp.Diff(tc.want, ids(got)); d != "" {
				t.Fatalf("ListSessions(%+v) (-want +got):\n%s", tc.q, d)
			}
		})
	}
}

// testSessionListPaging pages through sessions that share start times,
// checking that the cursor neither skips nor repeats any.
func testSessionListPaging(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	var want []string
	for i := 24; i >= 0; i-- {
		// Five sessions per start time.
		want = append(want, fmt.Sprintf("u-%02d", i))
	}
	for i := range 25 {
		must(t, s.CreateSession(ctx, newSession(fmt.Sprintf("u-%02d", i), base.Add(time.Duration(i/5)*time.Second))))
	}
	var got []string
	q := store.SessionQuery{Limit: 4}
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		ss, err := s.ListSessions(ctx, q)
		must(t, err)
		got = append(got, ids(ss)...)
		if len(ss) < q.Limit {
			break
		}
		last := ss[len(ss)-1]
		q.After = &store.SessionCursor{StartDate: last.StartDate, ID: last.ID}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("paged listing (-want +got):\n%s", d)
	}
}

func testSessionRetention(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for i, end := range []time.Duration{-40 * 24 * time.Hour, -31 * 24 * time.Hour, -29 * 24 * time.Hour} {
		x := newSession(fmt.Sprintf("old-%d", i), base.Add(end-time.Hour))
		x.Status, x.EndDate = store.StatusTerminated, base.Add(end)
		must(t, s.CreateSession(ctx, x))
	}
	must(t, s.CreateSession(ctx, newSession("live-1", base.Add(-60*24*time.Hour))))
	n, err := s.DeleteSessionsEndedBefore(ctx, base.Add(-30*24*time.Hour))
	must(t, err)
	if n != 2 {
		t.Fatalf("deleted %d sessions, want 2", n)
	}
	all, err := s.ListSessions(ctx, store.SessionQuery{History: true})
	must(t, err)
	active, err := s.ListSessions(ctx, store.SessionQuery{})
	must(t, err)
	if d := cmp.Diff([]string{"old-2", "live-1"}, append(ids(all), ids(active)...)); d != "" {
		t.Fatalf("after retention (-want +got):\n%s", d)
	}
}

func newActivation(id string, created time.Time) store.Activation {
	return store.Activation{
		ID: id, CodeHash: []byte{1, 2, 3}, Description: "web fleet", DefaultInstanceName: "web",
		IamRole: "SSMServiceRole", RegistrationLimit: 2, ExpirationDate: created.Add(24 * time.Hour),
		CreatedDate: created, Tags: map[string]string{"env": "prod"},
	}
}

func testActivations(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newActivation("11111111-1111-1111-1111-111111111111", base)
	b := newActivation("00000000-2222-2222-2222-222222222222", base.Add(time.Second))
	b.Tags = nil
	must(t, s.CreateActivation(ctx, a))
	must(t, s.CreateActivation(ctx, b))
	if err := s.CreateActivation(ctx, a); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate CreateActivation = %v, want ErrExists", err)
	}
	got, err := s.GetActivation(ctx, a.ID)
	must(t, err)
	if d := cmp.Diff(a, got); d != "" {
		t.Fatalf("GetActivation (-want +got):\n%s", d)
	}
	list, err := s.ListActivations(ctx, store.ActivationQuery{})
	must(t, err)
	if d := cmp.Diff([]store.Activation{a, b}, list); d != "" {
		t.Fatalf("ListActivations order (-want +got):\n%s", d)
	}
	list, err = s.ListActivations(ctx, store.ActivationQuery{AfterID: a.ID, Limit: 5})
	must(t, err)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("ListActivations after %s = %v", a.ID, list)
	}
	list, err = s.ListActivations(ctx, store.ActivationQuery{IDs: []string{b.ID, "nope"}})
	must(t, err)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("ListActivations by id = %v", list)
	}
	must(t, s.DeleteActivation(ctx, a.ID))
	if err := s.DeleteActivation(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteActivation = %v, want ErrNotFound", err)
	}
	if _, err := s.GetActivation(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetActivation after delete = %v, want ErrNotFound", err)
	}
}

func newNode(id, activation string, at time.Time) store.Node {
	return store.Node{
		ID: id, ActivationID: activation, Name: "web", IamRole: "SSMServiceRole",
		RegistrationDate: at, AccessKeyID: "AKIA" + id, SecretAccessKey: "secret-" + id,
		PlatformType: "Linux", Tags: map[string]string{"role": "web"},
	}
}

func testRegisterNode(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newActivation("act-1", base)
	must(t, s.CreateActivation(ctx, a))
	n1 := newNode("mi-00000000000000001", a.ID, base.Add(time.Minute))
	must(t, s.RegisterNode(ctx, n1))
	got, err := s.GetNode(ctx, n1.ID)
	must(t, err)
	if d := cmp.Diff(n1, got); d != "" {
		t.Fatalf("GetNode (-want +got):\n%s", d)
	}
	got, err = s.GetNodeByAccessKey(ctx, n1.AccessKeyID)
	must(t, err)
	if got.ID != n1.ID {
		t.Fatalf("GetNodeByAccessKey = %s", got.ID)
	}
	// Same id again: ErrExists, and the count is not incremented.
	if err := s.RegisterNode(ctx, n1); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate RegisterNode = %v, want ErrExists", err)
	}
	must(t, s.RegisterNode(ctx, newNode("mi-00000000000000002", a.ID, base.Add(time.Minute))))
	if err := s.RegisterNode(ctx, newNode("mi-00000000000000003", a.ID, base.Add(time.Minute))); !errors.Is(err, store.ErrRegistrationLimit) {
		t.Fatalf("third RegisterNode = %v, want ErrRegistrationLimit", err)
	}
	act, err := s.GetActivation(ctx, a.ID)
	must(t, err)
	if act.RegistrationsCount != 2 {
		t.Fatalf("RegistrationsCount = %d, want 2", act.RegistrationsCount)
	}
	exp := newActivation("act-expired", base)
	must(t, s.CreateActivation(ctx, exp))
	if err := s.RegisterNode(ctx, newNode("mi-00000000000000004", exp.ID, exp.ExpirationDate)); !errors.Is(err, store.ErrActivationExpired) {
		t.Fatalf("RegisterNode on expired activation = %v, want ErrActivationExpired", err)
	}
	if err := s.RegisterNode(ctx, newNode("mi-00000000000000005", "no-such", base)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RegisterNode on unknown activation = %v, want ErrNotFound", err)
	}
	if _, err := s.GetNode(ctx, "mi-00000000000000004"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused registration left a node behind: %v", err)
	}
}

// testRegisterNodeConcurrentLimit races more registrations than the limit
// allows: exactly the limit succeed.
func testRegisterNodeConcurrentLimit(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newActivation("act-1", base)
	a.RegistrationLimit = 3
	must(t, s.CreateActivation(ctx, a))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 0, 0
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.RegisterNode(ctx, newNode(fmt.Sprintf("mi-%017d", i), a.ID, base))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrRegistrationLimit):
				limited++
			default:
				t.Errorf("RegisterNode: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 || limited != 9 {
		t.Fatalf("registrations: %d ok, %d limited; want 3 and 9", ok, limited)
	}
}

func testNodeUpdateList(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := newActivation("act-1", base)
	a.RegistrationLimit = 10
	must(t, s.CreateActivation(ctx, a))
	for i := 3; i >= 1; i-- {
		must(t, s.RegisterNode(ctx, newNode(fmt.Sprintf("mi-%017d", i), a.ID, base)))
	}
	ping := base.Add(time.Hour)
	got, err := s.UpdateNode(ctx, "mi-00000000000000002", func(n *store.Node) error {
		n.AgentVersion, n.ComputerName, n.IPAddress, n.LastPing = "1.3.0.0", "host2", "127.0.0.2", ping
		return nil
	})
	must(t, err)
	reread, err := s.GetNode(ctx, got.ID)
	must(t, err)
	if d := cmp.Diff(got, reread); d != "" || reread.AgentVersion != "1.3.0.0" || !reread.LastPing.Equal(ping) {
		t.Fatalf("UpdateNode not stored (-returned +stored):\n%s", d)
	}
	if _, err := s.UpdateNode(ctx, "mi-nope", func(*store.Node) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateNode unknown = %v, want ErrNotFound", err)
	}
	list, err := s.ListNodes(ctx, store.NodeQuery{})
	must(t, err)
	var names []string
	for _, n := range list {
		names = append(names, n.ID)
	}
	if d := cmp.Diff([]string{"mi-00000000000000001", "mi-00000000000000002", "mi-00000000000000003"}, names); d != "" {
		t.Fatalf("ListNodes order (-want +got):\n%s", d)
	}
	list, err = s.ListNodes(ctx, store.NodeQuery{AfterID: "mi-00000000000000001", Limit: 1})
	must(t, err)
	if len(list) != 1 || list[0].ID != "mi-00000000000000002" {
		t.Fatalf("ListNodes page = %v", list)
	}
	list, err = s.ListNodes(ctx, store.NodeQuery{IDs: []string{"mi-00000000000000003"}, ActivationID: a.ID})
	must(t, err)
	if len(list) != 1 || list[0].ID != "mi-00000000000000003" {
		t.Fatalf("ListNodes by id = %v", list)
	}
}
