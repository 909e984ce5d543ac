// Package e2e tests Tether as users run it: real `tether server`, `tether
// agent` and client processes on loopback, driven by the real AWS CLI and
// by PTYs, with fault-injecting proxies in between.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// tetherBin is the binary built once for all tests.
var tetherBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tether-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tetherBin = filepath.Join(dir, "tether")
	build := exec.Command("go", "build", "-o", tetherBin, "../cmd/tether")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tether:", err)
		os.Exit(1)
	}
	// session-manager-plugin on PATH is tether itself.
	os.Symlink(tetherBin, filepath.Join(dir, "session-manager-plugin"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	accessKey = "AKIAE2ETEST000000001"
	secretKey = "e2e-secret-key-0000000000000000000000000"
)

// env is the environment every AWS tool and tether client gets.
func env(extra ...string) []string {
	path := filepath.Dir(tetherBin) + ":" + os.Getenv("PATH")
	base := []string{
		"PATH=" + path, "HOME=" + os.Getenv("HOME"),
		"AWS_ACCESS_KEY_ID=" + accessKey, "AWS_SECRET_ACCESS_KEY=" + secretKey,
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
	}
	return append(base, extra...)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a background process whose output is kept.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

func (p *proc) Output() string { p.mu.Lock(); defer p.mu.Unlock(); return p.out.String() }

func (p *proc) collect(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.out.WriteString(sc.Text() + "\n")
		p.mu.Unlock()
	}
}

// start runs tether with args until the test ends.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, tetherBin, args...)
}

// startEnv runs bin with args and env(extraEnv...) until the test ends,
// keeping its output.
func startEnv(t *testing.T, extraEnv []string, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env(extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // killed with its children (the plugin)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.collect(pr)
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.Output())
		}
	})
	return p
}

// stack is a running server with one registered, connected agent.
type stack struct {
	t       *testing.T
	dataDir string
	addr    string // server listen address
	url     string // http://addr
	nodeID  string
	server  *proc
	agent   *proc
	api     *ssm.Client
	// serverDebug and agentDebug are the processes' --debug-listen
	// addresses (goroutine counts, pprof).
	serverDebug, agentDebug string
	// lastForward is the newest port-forwarding client process.
	lastForward *proc
}

// stackOptions tune newStack.
type stackOptions struct {
	publicURL string   // written into StreamUrl (e.g. a fault proxy in front of the server)
	config    []string // extra config.yaml lines
	// agentServer, if set, is the server URL the agent uses (e.g. a fault
	// proxy between agent and gateway).
	agentServer string
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	return newStackAt(t, freeAddr(t), o)
}

// newStackAt is newStack with the server on addr.
func newStackAt(t *testing.T, addr string, o stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, dataDir: t.TempDir(), addr: addr}
	s.url = "http://" + s.addr
	cfg := fmt.Sprintf("users:\n  - name: alice\n    access_key_id: %s\n    secret_access_key: %s\n%s\n", accessKey, secretKey, strings.Join(o.config, "\n"))
	if err := os.WriteFile(filepath.Join(s.dataDir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.startServer(o.publicURL)
	s.api = ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url),
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")})
	ctx := testCtx(t)
	limit := int32(1)
	act, err := s.api.CreateActivation(ctx, &ssm.CreateActivationInput{IamRole: aws.String("SSMServiceRole"), RegistrationLimit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	agentDir := filepath.Join(s.dataDir, "agent-state")
	agentServer := s.url
	if o.agentServer != "" {
		agentServer = o.agentServer
	}
	reg := exec.Command(tetherBin, "agent", "register", "--server", agentServer, "--activation-id", *act.ActivationId,
		"--activation-code", *act.ActivationCode, "--state-dir", agentDir)
	reg.Env = env()
	out, err := reg.CombinedOutput()
	if err != nil {
		t.Fatalf("agent register: %v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 3 || !strings.HasPrefix(fields[2], "mi-") {
		t.Fatalf("agent register printed %q", out)
	}
	s.nodeID = strings.TrimSuffix(fields[2], ".")
	s.agentDebug = freeAddr(t)
	s.agent = start(t, "agent", "run", "--state-dir", agentDir, "--shell", "/bin/bash", "--debug-listen", s.agentDebug)
	s.waitConnected()
	return s
}

func (s *stack) startServer(publicURL string) {
	if s.serverDebug == "" {
		s.serverDebug = freeAddr(s.t)
	}
	args := []string{"server", "--listen", s.addr, "--data-dir", s.dataDir, "--log-level", "debug", "--debug-listen", s.serverDebug}
	if publicURL != "" {
		args = append(args, "--public-url", publicURL)
	}
	s.server = start(s.t, args...)
	waitFor(s.t, 20*time.Second, "server answers", func() bool {
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (s *stack) waitConnected() {
	waitFor(s.t, 30*time.Second, "agent connected", func() bool {
		out, err := s.api.GetConnectionStatus(context.Background(), &ssm.GetConnectionStatusInput{Target: aws.String(s.nodeID)})
		return err == nil && out.Status == "connected"
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
