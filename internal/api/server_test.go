package api_test

// End-to-end harness: builds the real `tether` binary, starts `tether server`
// on a loopback port with a fresh data directory, and finds the real AWS
// clients. Sessions that need a connected node (none can connect before the
// gateway exists) are seeded by opening the server's SQLite file from the
// test process with sqlitestore — the store supports several processes on
// one database file.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/store/sqlitestore"
)

// Principals of the test configuration.
const (
	account    = "123456789012"
	maryKey    = "AKIAIOSFODNN7EXAMPLE"
	marySecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	johnKey    = "AKIDJOHNEXAMPLE"
	adminKey   = "AKIDADMINEXAMPLE"
	readerKey  = "AKIDREADEREXAMPLE"
	tempKey    = "ASIATEMPEXAMPLE"
	tempToken  = "FQoGZXIvYXdzEXAMPLETOKEN"
	secret     = "devsecret"
	maryARN    = "arn:aws:iam::" + account + ":user/Mary-Major"
	johnARN    = "arn:aws:iam::" + account + ":user/John"
)

const testConfig = `
account_id: "` + account + `"
users:
  - {name: Mary-Major, access_key_id: ` + maryKey + `, secret_access_key: ` + marySecret + `}
  - {name: John, access_key_id: ` + johnKey + `, secret_access_key: ` + secret + `}
  - {name: admin, access_key_id: ` + adminKey + `, secret_access_key: ` + secret + `, policy: {sessions: ["*"]}}
  - {name: reader, access_key_id: ` + readerKey + `, secret_access_key: ` + secret + `, policy: {actions: ["ssm:Describe*", "ssm:GetConnectionStatus"]}}
  - {name: temp, access_key_id: ` + tempKey + `, secret_access_key: ` + secret + `, session_token: ` + tempToken + `}
`

// TestMain removes the binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary.path != "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
	os.Exit(code)
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// tetherBinary builds cmd/tether once per test process.
func tetherBinary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "tether-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "tether")
		out, err := exec.Command("go", "build", "-o", binary.path, "github.com/tether-ssm/tether/cmd/tether").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// server is a running `tether server` process.
type server struct {
	URL     string // http://127.0.0.1:port
	DataDir string
	cmd     *exec.Cmd
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var listenRE = regexp.MustCompile(`msg="tether server listening" addr=(http://127\.0\.0\.1:\d+)`)

// startServer starts the server on dataDir (a new one if empty).
func startServer(t testing.TB, dataDir string, extraConfig string) *server {
	t.Helper()
	bin := tetherBinary(t)
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	cfg := filepath.Join(dataDir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(testConfig+extraConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{DataDir: dataDir, cmd: cmd, logs: &syncBuffer{}}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.logs, line)
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(s.logs, stderr) //nolint:errcheck // drained for the log
	}()
	select {
	case s.URL = <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start:\n%s", s.logs.String())
	}
	return s
}

func (s *server) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(os.Interrupt) //nolint:errcheck // may have exited
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }() //nolint:errcheck // exit status irrelevant
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill() //nolint:errcheck // last resort
			<-done
		}
	}
}

// kill9 kills the server without letting it clean up.
func (s *server) kill9(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait() //nolint:errcheck // killed
}

// seedStore opens the server's database from the test process.
func seedStore(t testing.TB, s *server) store.Store {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(s.DataDir, "tether.db"), sqlitestore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seedSessions creates n sessions for owner (whose user name prefixes the
// ids), started one second apart before now.
func seedSessions(t testing.TB, st store.Store, user, owner string, n int, status store.SessionStatus) []string {
	t.Helper()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	var ids []string
	for i := range n {
		s := store.Session{
			ID: fmt.Sprintf("%s-%017x", user, time.Now().UnixNano()+int64(i)), Target: "mi-0123456789abcdef0", Status: status,
			StartDate: base.Add(time.Duration(i) * time.Second), DocumentName: "SSM-SessionManagerRunShell",
			// LastActivity now: the gateway's idle timeout counts from it.
			Owner: owner, Reason: "seeded", ClientGeneration: 1, LastActivity: time.Now().UTC().Truncate(time.Millisecond),
		}
		if status.Ended() {
			s.EndDate = s.StartDate.Add(time.Minute)
		}
		if err := st.CreateSession(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	return ids
}

// clients finds the real AWS clients; missing ones are skipped by callers.
type clients struct {
	v2, v1       string   // CLI executables
	pythons      []string // interpreters with boto3
	pythonErrors []string
}

var found struct {
	once sync.Once
	c    clients
}

func findClients() clients {
	found.once.Do(func() {
		c := &found.c
		if _, err := os.Stat("/usr/bin/aws"); err == nil {
			c.v2 = "/usr/bin/aws"
		}
		if p, err := exec.LookPath("aws"); err == nil {
			p = resolveShim(p, "aws")
			if out, err := exec.Command(p, "--version").CombinedOutput(); err == nil && strings.HasPrefix(string(out), "aws-cli/1.") {
				c.v1 = p
			}
		}
		seen := map[string]bool{}
		for _, py := range []string{"python3", "/usr/bin/python3"} {
			p, err := exec.LookPath(py)
			if err != nil {
				continue
			}
			p = resolveShim(p, "python3")
			if seen[p] {
				continue
			}
			seen[p] = true
			if err := exec.Command(p, "-c", "import boto3").Run(); err == nil {
				c.pythons = append(c.pythons, p)
			}
		}
	})
	return found.c
}

// resolveShim turns a pyenv shim into the executable it runs.
func resolveShim(path, name string) string {
	if !strings.Contains(path, "/shims/") {
		return path
	}
	out, err := exec.Command("pyenv", "which", name).Output()
	if err != nil {
		return path
	}
	return strings.TrimSpace(string(out))
}
