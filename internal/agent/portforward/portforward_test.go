package portforward_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/agent/channel"
	"github.com/tether-ssm/tether/internal/agent/channel/channeltest"
	"github.com/tether-ssm/tether/internal/agent/portforward"
	"github.com/xtaci/smux"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// echoServer listens on loopback and echoes every connection; it counts
// accepted connections.
func echoServer(t *testing.T) (port string, accepts *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepts = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepts
}

func run(t *testing.T, cfg portforward.Config, max int) (*channeltest.Client, <-chan error) {
	c := channeltest.New(t, max)
	done := make(chan error, 1)
	go func() { done <- portforward.Run(testCtx(t), cfg, c.Input(), c.Output()) }()
	return c, done
}

// clientConn is the client side of the stream for an smux client.
type clientConn struct {
	ctx context.Context
	c   *channeltest.Client
	r   io.Reader
}

func (cc *clientConn) Read(p []byte) (int, error)  { return cc.r.Read(p) }
func (cc *clientConn) Write(p []byte) (int, error) { return len(p), cc.c.Write(cc.ctx, p) }
func (cc *clientConn) Close() error                { return nil }

func TestMuxManyConnections(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	port, accepts := echoServer(t)
	c, done := run(t, portforward.Config{Host: "127.0.0.1", Port: port, Mode: portforward.Mux}, 1024)
	sess, err := smux.Client(&clientConn{ctx: ctx, c: c, r: c.StdoutReader()}, portforward.SmuxConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	const conns, size = 8, 512 << 10
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoOnce(sess, size, i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := accepts.Load(); n != conns {
		t.Fatalf("target saw %d connections, want %d", n, conns)
	}
	c.Send(ctx, channel.Input{Kind: channel.Flag, Flag: channel.FlagTerminateSession})
	if err := <-done; !errors.Is(err, portforward.ErrTerminated) {
		t.Fatalf("Run = %v, want ErrTerminated", err)
	}
}

// echoOnce sends size random bytes on a new stream and checks the echo.
func echoOnce(sess *smux.Session, size, i int) error {
	st, err := sess.OpenStream()
	if err != nil {
		return err
	}
	defer st.Close()
	data := make([]byte, size)
	rand.Read(data)
	go func() { st.Write(data) }()
	got := make([]byte, size)
	if _, err := io.ReadFull(st, got); err != nil {
		return errors.New("stream " + strconv.Itoa(i) + ": " + err.Error())
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		return errors.New("stream " + strconv.Itoa(i) + ": echo differs")
	}
	return nil
}

func TestMuxDialFailureFlag(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close() // nothing listens there now
	c, done := run(t, portforward.Config{Host: "127.0.0.1", Port: port, Mode: portforward.Mux}, 1024)
	sess, err := smux.Client(&clientConn{ctx: ctx, c: c, r: c.StdoutReader()}, portforward.SmuxConfig())
	if err != nil {
		t.Fatal(err)
	}
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("x"))
	c.WaitFlag(20*time.Second, channel.FlagConnectToPortError)
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run after input closed = %v", err)
	}
}

func TestBasicReconnectAfterDisconnectFlag(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	port, accepts := echoServer(t)
	c, done := run(t, portforward.Config{Host: "127.0.0.1", Port: port, Mode: portforward.Basic}, 1024)
	c.Write(ctx, []byte("first"))
	c.WaitStdout(20*time.Second, "first")
	c.Send(ctx, channel.Input{Kind: channel.Flag, Flag: channel.FlagDisconnectToPort})
	c.Write(ctx, []byte("second"))
	c.WaitStdout(20*time.Second, "firstsecond")
	if n := accepts.Load(); n != 2 {
		t.Fatalf("target saw %d connections, want 2 (re-dial after DisconnectToPort)", n)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStreamModeEndsWhenTargetCloses(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("SSH-2.0-fake\r\n"))
		c.Close()
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, done := run(t, portforward.Config{Host: "127.0.0.1", Port: port, Mode: portforward.Stream}, 1024)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil at target EOF", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("session did not end when the target closed")
	}
	if !bytes.Equal([]byte(c.Stdout()), []byte("SSH-2.0-fake\r\n")) {
		t.Fatalf("stdout = %q", c.Stdout())
	}
}

func TestUnknownMode(t *testing.T) {
	if err := portforward.Run(testCtx(t), portforward.Config{}, nil, channeltest.New(t, 1024).Output()); err == nil {
		t.Fatal("Run accepted mode 0")
	}
}
