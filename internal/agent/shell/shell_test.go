package shell_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tether-ssm/tether/internal/agent/channel"
	"github.com/tether-ssm/tether/internal/agent/channel/channeltest"
	"github.com/tether-ssm/tether/internal/agent/shell"
)

const wait = 20 * time.Second

type result struct {
	code int
	err  error
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func startInteractive(t *testing.T, cfg shell.Config, opts shell.InteractiveOptions, max int) (*channeltest.Client, <-chan result) {
	c := channeltest.New(t, max)
	done := make(chan result, 1)
	go func() {
		code, err := shell.RunInteractive(testCtx(t), cfg, opts, c.Input(), c.Output())
		done <- result{code, err}
	}()
	return c, done
}

func awaitResult(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(wait):
		t.Fatal("session did not end")
		return result{}
	}
}

func TestInteractiveShellEchoResizeExit(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c, done := startInteractive(t, shell.Config{Shell: "/bin/sh"}, shell.InteractiveOptions{}, 1024)
	if err := c.Send(ctx, channel.Input{Kind: channel.Size, Cols: 123, Rows: 45}); err != nil {
		t.Fatal(err)
	}
	c.Write(ctx, []byte("echo hi-$((40+2))\n"))
	c.WaitStdout(wait, "hi-42")
	c.Write(ctx, []byte("stty size\n"))
	c.WaitStdout(wait, "45 123")
	c.Write(ctx, []byte("exit 3\n"))
	r := awaitResult(t, done)
	if r.err != nil || r.code != 3 {
		t.Fatalf("RunInteractive = %d, %v; want 3, nil", r.code, r.err)
	}
}

func TestInteractiveEnvironment(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c, done := startInteractive(t, shell.Config{Shell: "/bin/sh", Env: []string{"TETHER_X=yes"}}, shell.InteractiveOptions{}, 1024)
	c.Write(ctx, []byte("echo \"[$TERM][$LANG][$TETHER_X]\"; exit\n"))
	c.WaitStdout(wait, "[xterm-256color][")
	c.WaitStdout(wait, "][yes]")
	awaitResult(t, done)
}

// TestInteractiveCommandsOutputChunks checks that large output arrives
// whole, in messages no larger than MaxPayload, and never with a UTF-8
// sequence cut between two messages.
func TestInteractiveCommandsOutputChunks(t *testing.T) {
	t.Parallel()
	const maxPayload = 100
	c, done := startInteractive(t, shell.Config{}, shell.InteractiveOptions{
		Commands: `i=0; while [ $i -lt 3000 ]; do printf '€'; i=$((i+1)); done; echo; echo END`,
	}, maxPayload)
	r := awaitResult(t, done)
	if r.err != nil || r.code != 0 {
		t.Fatalf("RunInteractive = %d, %v", r.code, r.err)
	}
	out := c.Stdout()
	if got := strings.Count(out, "€"); got != 3000 {
		t.Fatalf("got %d euro signs, want 3000", got)
	}
	if !strings.Contains(out, "END") {
		t.Fatalf("output lost its end: %q", out[max(0, len(out)-50):])
	}
	for i, m := range c.StdoutMessages() {
		if len(m) > maxPayload {
			t.Fatalf("message %d has %d bytes", i, len(m))
		}
		if !utf8.Valid(m) {
			t.Fatalf("message %d splits a UTF-8 sequence: % x", i, m)
		}
	}
}

func TestInteractiveTerminateFlag(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c, done := startInteractive(t, shell.Config{Shell: "/bin/sh"}, shell.InteractiveOptions{}, 1024)
	c.Write(ctx, []byte("echo started; sleep 600\n"))
	c.WaitStdout(wait, "started")
	c.Send(ctx, channel.Input{Kind: channel.Flag, Flag: channel.FlagTerminateSession})
	r := awaitResult(t, done)
	if r.err != nil {
		t.Fatal(r.err)
	}
}

func TestInteractiveContextCancel(t *testing.T) {
	t.Parallel()
	c := channeltest.New(t, 1024)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan result, 1)
	go func() {
		code, err := shell.RunInteractive(ctx, shell.Config{Shell: "/bin/sh"}, shell.InteractiveOptions{Commands: "echo up; exec sleep 600"}, c.Input(), c.Output())
		done <- result{code, err}
	}()
	c.WaitStdout(wait, "up")
	cancel()
	r := awaitResult(t, done)
	if r.code != 128+1 && r.code != 128+9 { // SIGHUP, or SIGKILL
		t.Fatalf("exit code after cancel = %d, want death by signal", r.code)
	}
}

func startCommand(t *testing.T, opts shell.CommandOptions) (*channeltest.Client, <-chan result) {
	c := channeltest.New(t, 1024)
	done := make(chan result, 1)
	go func() {
		code, err := shell.RunCommand(testCtx(t), shell.Config{}, opts, c.Input(), c.Output())
		done <- result{code, err}
	}()
	return c, done
}

func TestCommandSeparateStreamsAndExitCode(t *testing.T) {
	t.Parallel()
	c, done := startCommand(t, shell.CommandOptions{
		Commands: "echo out1; echo err1 >&2; echo out2; exit 7", SeparateOutput: true,
	})
	r := awaitResult(t, done)
	if r.err != nil || r.code != 7 {
		t.Fatalf("RunCommand = %d, %v; want 7", r.code, r.err)
	}
	if c.Stdout() != "out1\nout2\n" || c.Stderr() != "err1\n" {
		t.Fatalf("stdout %q, stderr %q", c.Stdout(), c.Stderr())
	}
	if code, ok := c.ExitCode(); !ok || code != 7 {
		t.Fatalf("ExitCode message = %d, %v; want 7", code, ok)
	}
}

func TestCommandMergedHasNoExitCodeMessage(t *testing.T) {
	t.Parallel()
	c, done := startCommand(t, shell.CommandOptions{Commands: "echo a; echo b >&2; echo c"})
	r := awaitResult(t, done)
	if r.err != nil || r.code != 0 {
		t.Fatalf("RunCommand = %d, %v", r.code, r.err)
	}
	if c.Stdout() != "a\nb\nc\n" || c.Stderr() != "" {
		t.Fatalf("stdout %q, stderr %q", c.Stdout(), c.Stderr())
	}
	if _, ok := c.ExitCode(); ok {
		t.Fatal("merged output sent an ExitCode message")
	}
}

func TestCommandLargeOutput(t *testing.T) {
	t.Parallel()
	c, done := startCommand(t, shell.CommandOptions{Commands: "head -c 300000 /dev/zero | tr '\\0' x", SeparateOutput: true, StdoutPrefix: "o:"})
	r := awaitResult(t, done)
	if r.err != nil || r.code != 0 {
		t.Fatalf("RunCommand = %d, %v", r.code, r.err)
	}
	var total int
	for _, m := range c.StdoutMessages() {
		if !strings.HasPrefix(string(m), "o:") || len(m) > 1024 {
			t.Fatalf("message %q… lacks its prefix or is too long (%d)", m[:min(10, len(m))], len(m))
		}
		total += len(m) - 2
	}
	if total != 300000 {
		t.Fatalf("received %d bytes of output, want 300000", total)
	}
}

func TestCommandCtrlCSignal(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c, done := startCommand(t, shell.CommandOptions{
		Commands: "trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 0.05; done", SeparateOutput: true,
	})
	c.WaitStdout(wait, "ready")
	c.Write(ctx, []byte{0x03})
	r := awaitResult(t, done)
	if r.code != 5 || !strings.Contains(c.Stdout(), "got-int") {
		t.Fatalf("after Ctrl-C: code %d, stdout %q", r.code, c.Stdout())
	}
}

func TestCommandBadPrefix(t *testing.T) {
	t.Parallel()
	_, err := shell.RunCommand(testCtx(t), shell.Config{}, shell.CommandOptions{Commands: "true", StdoutPrefix: "bad prefix!"}, nil, channeltest.New(t, 1024).Output())
	if err == nil {
		t.Fatal("RunCommand accepted an invalid prefix")
	}
}

func TestRunAsUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("run-as needs root")
	}
	c2 := channeltest.New(t, 1024)
	code, err := shell.RunCommand(testCtx(t), shell.Config{RunAsUser: "nobody", Shell: "/bin/sh"}, shell.CommandOptions{Commands: "id -un"}, c2.Input(), c2.Output())
	if err != nil || code != 0 || strings.TrimSpace(c2.Stdout()) != "nobody" {
		t.Fatalf("run as nobody: code %d, err %v, stdout %q", code, err, c2.Stdout())
	}
}

func TestRunAsUnknownUser(t *testing.T) {
	t.Parallel()
	_, err := shell.RunCommand(testCtx(t), shell.Config{RunAsUser: "no-such-user-tether"}, shell.CommandOptions{Commands: "true"}, nil, channeltest.New(t, 1024).Output())
	if err == nil || !strings.Contains(err.Error(), "run-as user") {
		t.Fatalf("err = %v", err)
	}
}
