package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestAWSCLIv2RunsCommandThroughTetherPlugin: the real `aws ssm
// start-session` (v2, Debian) with tether as its session-manager-plugin
// runs a command on the node and shows its output.
func TestAWSCLIv2RunsCommandThroughTetherPlugin(t *testing.T) {
	awsV2 := "/usr/bin/aws"
	if _, err := os.Stat(awsV2); err != nil {
		t.Skip("AWS CLI v2 (/usr/bin/aws) is not installed; .ci/run installs it")
	}
	s := newStack(t, stackOptions{})
	cmd := exec.Command(awsV2, "ssm", "start-session", "--endpoint-url", s.url, "--target", s.nodeID,
		"--document-name", "AWS-StartNonInteractiveCommand", "--parameters", `command=echo hello-$((6*7)); echo to-stderr >&2`)
	cmd.Env = env()
	cmd.Stdin = nil
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("aws ssm start-session: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("aws ssm start-session did not finish\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"Starting session with SessionId: alice-", "hello-42", "Exiting session with sessionId: alice-"} {
		if !strings.Contains(out, want) {
			t.Fatalf("stdout lacks %q:\n%s\nstderr:\n%s", want, out, stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "to-stderr") {
		t.Fatalf("stderr lacks the command's stderr:\n%s", stderr.String())
	}
}

// ptySession runs `tether ssm start-session` on a PTY.
type ptySession struct {
	t   *testing.T
	f   *os.File
	cmd *exec.Cmd
	mu  sync.Mutex
	buf bytes.Buffer
}

func startPTY(t *testing.T, s *stack, extra ...string) *ptySession {
	args := append([]string{"ssm", "start-session", "--endpoint-url", s.url, "--target", s.nodeID}, extra...)
	cmd := exec.Command(tetherBin, args...)
	cmd.Env = env("TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	p := &ptySession{t: t, f: f, cmd: cmd}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
		if t.Failed() {
			t.Logf("terminal:\n%s", p.screen())
		}
	})
	return p
}

func (p *ptySession) screen() string { p.mu.Lock(); defer p.mu.Unlock(); return p.buf.String() }

func (p *ptySession) expect(re string) {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	waitFor(p.t, 30*time.Second, fmt.Sprintf("the terminal shows %q", re), func() bool { return rx.MatchString(p.screen()) })
}

func (p *ptySession) typeLine(s string) {
	if _, err := p.f.Write([]byte(s + "\r")); err != nil {
		p.t.Fatal(err)
	}
}

// TestShellThroughPTY: an interactive shell with `tether ssm start-session`
// on a real terminal: echo comes back, a resize reaches `stty size`, exit
// ends the session.
func TestShellThroughPTY(t *testing.T) {
	s := newStack(t, stackOptions{})
	p := startPTY(t, s)
	p.expect(`Starting session with SessionId: alice-`)
	p.typeLine("echo hi-$((40+2))")
	p.expect(`hi-42`)
	p.typeLine("stty size")
	p.expect(`40 120`)
	if err := pty.Setsize(p.f, &pty.Winsize{Rows: 33, Cols: 101}); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(sigwinch)
	p.typeLine("stty size")
	p.expect(`33 101`)
	p.typeLine("exit")
	p.expect(`Exiting session with sessionId: alice-`)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("tether did not exit after the shell ended")
	}
}

// echoServer accepts connections and echoes them.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// startForward runs a port-forwarding session and returns the local port.
func startForward(t *testing.T, s *stack, doc, params string) (*proc, string) {
	p := start(t, "ssm", "start-session", "--endpoint-url", s.url, "--target", s.nodeID, "--document-name", doc, "--parameters", params)
	s.lastForward = p
	var port string
	rx := regexp.MustCompile(`Port (\d+) opened for sessionId alice-`)
	waitFor(t, 30*time.Second, "the local port opens", func() bool {
		m := rx.FindStringSubmatch(p.Output())
		if m != nil {
			port = m[1]
		}
		return m != nil
	})
	return p, port
}

// echoThrough sends n random bytes through addr and checks the echo.
func echoThrough(addr string, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	data := make([]byte, n)
	rand.Read(data)
	werr := make(chan error, 1)
	go func() { _, err := c.Write(data); werr <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(bufio.NewReader(c), got); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if err := <-werr; err != nil {
		return err
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		return errors.New("echo differs from what was sent")
	}
	return nil
}

// TestPortForwarding: local forwarding to a port on the node and
// remote-host forwarding, several connections at once.
func TestPortForwarding(t *testing.T) {
	s := newStack(t, stackOptions{})
	target := echoServer(t)
	host, port, _ := net.SplitHostPort(target)
	for _, tc := range []struct{ name, doc, params string }{
		{"local", "AWS-StartPortForwardingSession", "portNumber=" + port + ",localPortNumber=0"},
		{"remote host", "AWS-StartPortForwardingSessionToRemoteHost", "host=" + host + ",portNumber=" + port + ",localPortNumber=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, local := startForward(t, s, tc.doc, tc.params)
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for range 6 {
				wg.Add(1)
				go func() { defer wg.Done(); errs <- echoThrough("127.0.0.1:"+local, 1<<20) }()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestCommandExitCodeAndStreams: `tether ssm start-session` with a
// non-interactive command keeps stdout and stderr apart and exits with the
// command's exit code (the real plugin always exits 0).
func TestCommandExitCodeAndStreams(t *testing.T) {
	s := newStack(t, stackOptions{})
	cmd := exec.Command(tetherBin, "ssm", "start-session", "--endpoint-url", s.url, "--target", s.nodeID,
		"--document-name", "AWS-StartNonInteractiveCommand", "--parameters", `command=echo out-1; echo err-1 >&2; exit 7`)
	cmd.Env = env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("exit: %v; want status 7\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "out-1\n") || strings.Contains(stdout.String(), "err-1") {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "err-1\n") || strings.Contains(stderr.String(), "out-1") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
}
