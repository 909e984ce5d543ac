package nodes_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/awsjson"
	"github.com/tether-ssm/tether/internal/nodes"
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

type connectedSet map[string]bool

func (c connectedSet) Connected(id string) bool { return c[id] }

func newService(t *testing.T, presence nodes.Presence) (*nodes.Service, *clock, store.Store) {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "tether.db"), sqlitestore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)}
	tokens, _ := token.New(bytes.Repeat([]byte{2}, 32), token.Config{Now: clk.now})
	cfg := nodes.DefaultConfig()
	cfg.Now = clk.now
	return nodes.New(cfg, st, tokens, presence, nil), clk, st
}

func code(err error) string {
	var ae *awsjson.Error
	if errors.As(err, &ae) {
		return string(ae.Code)
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}

func ptr[T any](v T) *T { return &v }

func TestActivationsAndRegistration(t *testing.T) {
	t.Parallel()
	svc, clk, _ := newService(t, sessions.Offline{})
	ctx := context.Background()
	out, err := svc.CreateActivation(ctx, &nodes.CreateActivationInput{IamRole: "SSMRole", DefaultInstanceName: "web",
		RegistrationLimit: ptr(2), Tags: []nodes.Tag{{"Env", "dev"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(out.ActivationID) || len(out.ActivationCode) != 20 {
		t.Fatalf("%+v", out)
	}
	for _, tc := range []struct {
		name string
		in   nodes.CreateActivationInput
		want string
	}{
		{"past expiry", nodes.CreateActivationInput{IamRole: "r", ExpirationDate: &awsjson.Time{Time: clk.now().Add(-time.Hour)}}, "InvalidParameters"},
		{"far expiry", nodes.CreateActivationInput{IamRole: "r", ExpirationDate: &awsjson.Time{Time: clk.now().Add(31 * 24 * time.Hour)}}, "InvalidParameters"},
		{"duplicate tag", nodes.CreateActivationInput{IamRole: "r", Tags: []nodes.Tag{{"a", "1"}, {"a", "2"}}}, "InvalidParameters"},
	} {
		if _, err := svc.CreateActivation(ctx, &tc.in); code(err) != tc.want {
			t.Errorf("%s: %v", tc.name, err)
		}
	}

	reg := nodes.RegisterInput{ActivationID: out.ActivationID, ActivationCode: out.ActivationCode, AgentVersion: "1.3.0.0", PlatformType: "Linux", ComputerName: "host1"}
	n1, err := svc.Register(ctx, reg)
	if err != nil || !regexp.MustCompile(`^mi-[0-9a-f]{17}$`).MatchString(n1.ID) || n1.Name != "web" || n1.Tags["Env"] != "dev" || n1.SecretAccessKey == "" {
		t.Fatalf("register: %+v %v", n1, err)
	}
	bad := reg
	bad.ActivationCode = "wrong-code-wrong-code"
	if _, err := svc.Register(ctx, bad); !errors.Is(err, nodes.ErrInvalidActivation) {
		t.Errorf("wrong code: %v", err)
	}
	if _, err := svc.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Register(ctx, reg); !errors.Is(err, store.ErrRegistrationLimit) {
		t.Errorf("over limit: %v", err)
	}
	clk.add(time.Second)
	exp, _ := svc.CreateActivation(ctx, &nodes.CreateActivationInput{IamRole: "r", ExpirationDate: &awsjson.Time{Time: clk.now().Add(time.Hour)}})
	clk.add(2 * time.Hour)
	if _, err := svc.Register(ctx, nodes.RegisterInput{ActivationID: exp.ActivationID, ActivationCode: exp.ActivationCode}); !errors.Is(err, store.ErrActivationExpired) {
		t.Errorf("expired: %v", err)
	}

	list, err := svc.DescribeActivations(ctx, &nodes.DescribeActivationsInput{})
	if err != nil || len(list.ActivationList) != 2 {
		t.Fatalf("describe: %+v %v", list, err)
	}
	a := list.ActivationList[0]
	if a.ActivationID != out.ActivationID || a.RegistrationsCount != 2 || a.RegistrationLimit != 2 || a.Expired || a.IamRole != "SSMRole" || len(a.Tags) != 1 {
		t.Errorf("activation %+v", a)
	}
	if !list.ActivationList[1].Expired {
		t.Errorf("expired activation not marked")
	}
	for _, tc := range []struct {
		name string
		in   nodes.DescribeActivationsInput
		n    int
		want string
	}{
		{"by id", nodes.DescribeActivationsInput{Filters: []nodes.ActivationFilter{{"ActivationIds", []string{exp.ActivationID}}}}, 1, ""},
		{"by role", nodes.DescribeActivationsInput{Filters: []nodes.ActivationFilter{{"IamRole", []string{"SSMRole"}}}}, 1, ""},
		{"by name", nodes.DescribeActivationsInput{Filters: []nodes.ActivationFilter{{"DefaultInstanceName", []string{"nope"}}}}, 0, ""},
		{"page", nodes.DescribeActivationsInput{MaxResults: ptr(1)}, 1, ""},
		{"bad token", nodes.DescribeActivationsInput{NextToken: "x"}, 0, "InvalidNextToken"},
	} {
		got, err := svc.DescribeActivations(ctx, &tc.in)
		if code(err) != tc.want || (err == nil && len(got.ActivationList) != tc.n) {
			t.Errorf("%s: %+v %v", tc.name, got, err)
		}
	}
	page1, _ := svc.DescribeActivations(ctx, &nodes.DescribeActivationsInput{MaxResults: ptr(1)})
	page2, err := svc.DescribeActivations(ctx, &nodes.DescribeActivationsInput{MaxResults: ptr(1), NextToken: page1.NextToken})
	if err != nil || len(page2.ActivationList) != 1 || page2.NextToken != "" || page2.ActivationList[0].ActivationID != exp.ActivationID {
		t.Errorf("page 2: %+v %v", page2, err)
	}

	if _, err := svc.DeleteActivation(ctx, &nodes.DeleteActivationInput{ActivationID: exp.ActivationID}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteActivation(ctx, &nodes.DeleteActivationInput{ActivationID: exp.ActivationID}); code(err) != "InvalidActivation" {
		t.Errorf("delete again: %v", err)
	}
}

func TestInstances(t *testing.T) {
	t.Parallel()
	conn := connectedSet{}
	svc, _, _ := newService(t, conn)
	ctx := context.Background()
	act, _ := svc.CreateActivation(ctx, &nodes.CreateActivationInput{IamRole: "r", RegistrationLimit: ptr(20), Tags: []nodes.Tag{{"Env", "dev"}}})
	var ids []string
	for range 12 {
		n, err := svc.Register(ctx, nodes.RegisterInput{ActivationID: act.ActivationID, ActivationCode: act.ActivationCode, PlatformType: "Linux", AgentVersion: "1.3.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.ID)
	}
	conn[ids[3]], conn[ids[7]] = true, true

	st, _ := svc.GetConnectionStatus(ctx, &nodes.GetConnectionStatusInput{Target: ids[3]})
	if st.Status != "connected" || st.Target != ids[3] {
		t.Errorf("status %+v", st)
	}
	st, _ = svc.GetConnectionStatus(ctx, &nodes.GetConnectionStatusInput{Target: "mi-00000000000000000"})
	if st.Status != "notconnected" {
		t.Errorf("status %+v", st)
	}

	// Pagination with a post-filter: 2 online nodes, 1 per page.
	in := &nodes.DescribeInstanceInformationInput{Filters: []nodes.InstanceStringFilter{{"PingStatus", []string{"Online"}}}, MaxResults: ptr(1)}
	var got []string
	for {
		out, err := svc.DescribeInstanceInformation(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range out.InstanceInformationList {
			got = append(got, i.InstanceID)
			if i.PingStatus != "Online" || i.ResourceType != "ManagedInstance" || i.RegistrationDate == nil {
				t.Errorf("info %+v", i)
			}
		}
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if len(got) != 2 {
		t.Fatalf("online nodes %v", got)
	}
	for _, tc := range []struct {
		name string
		in   nodes.DescribeInstanceInformationInput
		n    int
		want string
	}{
		{"all", nodes.DescribeInstanceInformationInput{}, 12, ""},
		{"ids", nodes.DescribeInstanceInformationInput{InstanceInformationFilterList: []nodes.InstanceFilter{{"InstanceIds", ids[:3]}}}, 3, ""},
		{"lost", nodes.DescribeInstanceInformationInput{InstanceInformationFilterList: []nodes.InstanceFilter{{"PingStatus", []string{"ConnectionLost"}}}}, 10, ""},
		{"tag", nodes.DescribeInstanceInformationInput{Filters: []nodes.InstanceStringFilter{{"tag:Env", []string{"dev"}}}}, 12, ""},
		{"tag miss", nodes.DescribeInstanceInformationInput{Filters: []nodes.InstanceStringFilter{{"tag:Env", []string{"prod"}}}}, 0, ""},
		{"platform", nodes.DescribeInstanceInformationInput{Filters: []nodes.InstanceStringFilter{{"PlatformTypes", []string{"Windows"}}}}, 0, ""},
		{"bad key", nodes.DescribeInstanceInformationInput{Filters: []nodes.InstanceStringFilter{{"Colour", []string{"x"}}}}, 0, "InvalidFilterKey"},
		{"bad value", nodes.DescribeInstanceInformationInput{Filters: []nodes.InstanceStringFilter{{"PingStatus", []string{"Asleep"}}}}, 0, "InvalidInstanceInformationFilterValue"},
		{"bad id", nodes.DescribeInstanceInformationInput{InstanceInformationFilterList: []nodes.InstanceFilter{{"InstanceIds", []string{"x-1"}}}}, 0, "InvalidInstanceId"},
		{"bad token", nodes.DescribeInstanceInformationInput{NextToken: "abc"}, 0, "InvalidNextToken"},
	} {
		out, err := svc.DescribeInstanceInformation(ctx, &tc.in)
		if code(err) != tc.want || (err == nil && len(out.InstanceInformationList) != tc.n) {
			t.Errorf("%s: %v (%d)", tc.name, err, func() int {
				if out == nil {
					return -1
				}
				return len(out.InstanceInformationList)
			}())
		}
	}
}
