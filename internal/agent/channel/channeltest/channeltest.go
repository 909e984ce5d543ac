// Package channeltest connects a session plugin to an in-process client, so
// plugins (real PTYs, real processes, real sockets) can be tested without a
// gateway. It is imported only by tests.
package channeltest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/agent/channel"
)

// Client is the client end of a plugin's channel. Its Input channel is
// unbuffered, so a plugin that stops reading pushes back on Send.
type Client struct {
	t          testing.TB
	in         chan channel.Input
	maxPayload int

	mu         sync.Mutex // guards the following fields
	cond       *sync.Cond
	stdout     bytes.Buffer
	stdoutMsgs [][]byte
	stderr     bytes.Buffer
	exitCode   *int
	flags      []uint32
	messages   int
	stdoutR    *io.PipeReader // when StdoutReader was called: stdout goes there too
	stdoutW    *io.PipeWriter
}

// New returns a client whose Output accepts payloads of at most maxPayload
// bytes; a larger payload fails the test.
func New(t testing.TB, maxPayload int) *Client {
	c := &Client{t: t, in: make(chan channel.Input), maxPayload: maxPayload}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Input is the channel to hand to the plugin.
func (c *Client) Input() <-chan channel.Input { return c.in }

// Output is the Output to hand to the plugin.
func (c *Client) Output() channel.Output { return (*output)(c) }

// Send delivers one input to the plugin, failing the test on timeout.
func (c *Client) Send(ctx context.Context, in channel.Input) error {
	select {
	case c.in <- in:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Write sends p as Data inputs of at most maxPayload bytes each.
func (c *Client) Write(ctx context.Context, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), c.maxPayload)
		if err := c.Send(ctx, channel.Input{Kind: channel.Data, Data: bytes.Clone(p[:n])}); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// Close closes the input channel (the client is gone for good).
func (c *Client) Close() { close(c.in) }

// StdoutReader returns a reader of everything sent as Output from now on.
// It blocks the plugin's Stdout while unread (backpressure).
func (c *Client) StdoutReader() io.Reader {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stdoutR, c.stdoutW = io.Pipe()
	return c.stdoutR
}

// Stdout returns what was sent as Output so far.
func (c *Client) Stdout() string { c.mu.Lock(); defer c.mu.Unlock(); return c.stdout.String() }

// StdoutMessages returns the payloads of the Output messages so far.
func (c *Client) StdoutMessages() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.stdoutMsgs...)
}

// Stderr returns what was sent as StdErr so far.
func (c *Client) Stderr() string { c.mu.Lock(); defer c.mu.Unlock(); return c.stderr.String() }

// ExitCode returns the exit code sent, if any.
func (c *Client) ExitCode() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exitCode == nil {
		return 0, false
	}
	return *c.exitCode, true
}

// Flags returns the flags sent so far.
func (c *Client) Flags() []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint32(nil), c.flags...)
}

// WaitStdout waits until stdout contains sub, failing the test after d.
func (c *Client) WaitStdout(d time.Duration, sub string) {
	c.t.Helper()
	if !c.waitFor(d, func() bool { return strings.Contains(c.stdout.String(), sub) }) {
		c.t.Fatalf("stdout never contained %q within %v; got:\n%s", sub, d, c.Stdout())
	}
}

// WaitFlag waits until flag f was sent, failing the test after d.
func (c *Client) WaitFlag(d time.Duration, f uint32) {
	c.t.Helper()
	ok := c.waitFor(d, func() bool {
		for _, x := range c.flags {
			if x == f {
				return true
			}
		}
		return false
	})
	if !ok {
		c.t.Fatalf("flag %d never sent within %v (flags %v)", f, d, c.Flags())
	}
}

// waitFor waits for cond (called with mu held) to become true.
func (c *Client) waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		c.cond.Wait()
	}
	return true
}

type output Client

func (o *output) record(p []byte, fn func(c *Client)) error {
	c := (*Client)(o)
	if len(p) > c.maxPayload {
		err := fmt.Errorf("payload of %d bytes exceeds MaxPayload %d", len(p), c.maxPayload)
		c.t.Error(err)
		return err
	}
	c.mu.Lock()
	fn(c)
	c.messages++
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

func (o *output) Stdout(_ context.Context, p []byte) error {
	var w *io.PipeWriter
	err := o.record(p, func(c *Client) {
		c.stdout.Write(p)
		c.stdoutMsgs = append(c.stdoutMsgs, bytes.Clone(p))
		w = c.stdoutW
	})
	if err == nil && w != nil {
		_, err = w.Write(p)
	}
	return err
}

func (o *output) Stderr(_ context.Context, p []byte) error {
	return o.record(p, func(c *Client) { c.stderr.Write(p) })
}

func (o *output) ExitCode(_ context.Context, code int) error {
	return o.record(nil, func(c *Client) { c.exitCode = &code })
}

func (o *output) Flag(_ context.Context, f uint32) error {
	return o.record(nil, func(c *Client) { c.flags = append(c.flags, f) })
}

func (o *output) MaxPayload() int { return o.maxPayload }
