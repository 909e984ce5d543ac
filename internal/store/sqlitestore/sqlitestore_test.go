package sqlitestore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/store/sqlitestore"
	"github.com/tether-ssm/tether/internal/store/storetest"
)

func open(t testing.TB, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(path, sqlitestore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "tether.db"))
	})
}

func TestReopenKeepsStateAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tether.db")
	s := open(t, path)
	sess := store.Session{ID: "alice-1", Status: store.StatusConnected, StartDate: time.UnixMilli(1700000000123).UTC()}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	got, err := s.GetSession(ctx, "alice-1")
	if err != nil || got.Status != store.StatusConnected {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != 1 {
		t.Fatalf("SchemaVersion = %d, %v; want 1", v, err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*sqlitestore.Config)
	}{
		{"synchronous", func(c *sqlitestore.Config) { c.Synchronous = "OFF" }},
		{"busy timeout", func(c *sqlitestore.Config) { c.BusyTimeout = 0 }},
		{"readers", func(c *sqlitestore.Config) { c.MaxReaders = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sqlitestore.DefaultConfig()
			tc.mod(&c)
			if _, err := sqlitestore.Open(filepath.Join(t.TempDir(), "x.db"), c); err == nil {
				t.Fatal("Open accepted an invalid config")
			}
		})
	}
}

// TestCrashDurability runs a child process that commits sessions as fast as
// it can and reports each committed id on stdout, kills it with SIGKILL
// mid-stream, and checks that every reported session is in the database.
func TestCrashDurability(t *testing.T) {
	if os.Getenv("SQLITESTORE_CRASH_CHILD") != "" {
		crashChild(os.Getenv("SQLITESTORE_CRASH_CHILD"))
		return
	}
	path := filepath.Join(t.TempDir(), "tether.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$")
	cmd.Env = append(os.Environ(), "SQLITESTORE_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var committed []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "committed ") {
			continue
		}
		committed = append(committed, strings.TrimPrefix(line, "committed "))
		if len(committed) == 200 {
			cmd.Process.Kill() // SIGKILL: no chance to close the database
			break
		}
	}
	cmd.Wait()
	if len(committed) < 200 {
		t.Fatalf("child committed only %d sessions before exiting", len(committed))
	}
	s := open(t, path)
	defer s.Close()
	ctx := context.Background()
	for _, id := range committed {
		got, err := s.GetSession(ctx, id)
		if err != nil {
			t.Fatalf("session %s reported committed before kill -9 is missing: %v", id, err)
		}
		if got.Status != store.StatusTerminated {
			t.Fatalf("session %s: status %s, want the committed Terminated", id, got.Status)
		}
	}
}

func crashChild(path string) {
	s, err := sqlitestore.Open(path, sqlitestore.DefaultConfig())
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		id := fmt.Sprintf("crash-%06d", i)
		if err := s.CreateSession(ctx, store.Session{ID: id, Status: store.StatusConnected, StartDate: time.Now()}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		_, err := s.UpdateSession(ctx, id, func(x *store.Session) error {
			x.Status, x.EndDate = store.StatusTerminated, time.Now()
			return nil
		})
		if errors.Is(err, store.ErrNotFound) || err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("committed", id)
	}
}

// TestUpdateSessionChangedColumns drives UpdateSession through the change
// patterns the services use, each twice: the first time a pattern is seen
// the whole row is written, later it goes through a prepared statement that
// sets only the changed columns. Every step is checked against a re-read and
// against the listings (the ended column must follow the status).
func TestUpdateSessionChangedColumns(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "tether.db"))
	defer s.Close()
	t0 := time.UnixMilli(1700000000123).UTC()
	want := store.Session{ID: "alice-0123456789abcdef0", Target: "mi-0123456789abcdef0",
		Status: store.StatusConnecting, StartDate: t0, DocumentName: "SSM-SessionManagerRunShell",
		Owner: "arn:aws:iam::123456789012:user/alice", Parameters: map[string][]string{"portNumber": {"22"}},
		ClientGeneration: 1, LastActivity: t0}
	if err := s.CreateSession(ctx, want); err != nil {
		t.Fatal(err)
	}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	steps := []struct {
		name string
		fn   func(x *store.Session, i int)
	}{
		{"resume", func(x *store.Session, i int) { x.ClientGeneration++; x.LastActivity = at(i) }},
		{"status", func(x *store.Session, i int) { x.Status = store.StatusConnected; x.LastActivity = at(i) }},
		{"nothing", func(x *store.Session, i int) {}},
		{"parameters in place", func(x *store.Session, i int) { x.Parameters["portNumber"][0] = fmt.Sprint(i) }},
		{"parameters removed", func(x *store.Session, i int) { x.Parameters = nil }},
		{"reason and details", func(x *store.Session, i int) { x.Reason, x.Details = fmt.Sprint("r", i), fmt.Sprint("d", i) }},
		{"everything", func(x *store.Session, i int) {
			x.Target, x.DocumentName, x.Owner = "mi-00000000000000001", "AWS-StartSSHSession", fmt.Sprint("arn:", i)
			x.StartDate, x.MaxSessionDuration, x.ClientGeneration = at(i), i, int64(i)
			x.Parameters = map[string][]string{"k": {fmt.Sprint(i)}}
		}},
		{"end", func(x *store.Session, i int) { x.Status, x.EndDate = store.StatusTerminated, at(i) }},
		{"revive", func(x *store.Session, i int) { x.Status, x.EndDate = store.StatusDisconnected, time.Time{} }},
	}
	i := 0
	for _, st := range steps {
		for round := range 2 {
			i++
			t.Run(fmt.Sprintf("%s/%d", st.name, round), func(t *testing.T) {
				st.fn(&want, i) // the model: want is a separate copy with its own maps
				if len(want.Parameters) == 0 {
					want.Parameters = nil
				}
				got, err := s.UpdateSession(ctx, want.ID, func(x *store.Session) error { st.fn(x, i); return nil })
				if err != nil {
					t.Fatal(err)
				}
				reread, err := s.GetSession(ctx, want.ID)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(got, reread); d != "" {
					t.Fatalf("stored row differs from returned (-returned +stored):\n%s", d)
				}
				if d := cmp.Diff(want, reread); d != "" {
					t.Fatalf("stored row differs from model (-want +stored):\n%s", d)
				}
				hist, err := s.ListSessions(ctx, store.SessionQuery{History: true})
				if err != nil {
					t.Fatal(err)
				}
				if inHist := len(hist) == 1; inHist != want.Status.Ended() {
					t.Fatalf("status %s but listed in history: %v", want.Status, inHist)
				}
			})
		}
	}
}
