// Package portforward runs the agent's Port session document: it connects
// the session's byte stream to a TCP port on the node (localhost) or on a
// host the node can reach (remote-host forwarding, SSH).
//
// Three modes, chosen by the session's properties and the client's version
// as the real agent chooses them (protocol.md §6.2–§6.4):
//   - Mux: the stream carries an smux (v1) session; the client is the smux
//     client, the agent the server; each smux stream is one TCP connection
//     to the target, so many connections share one session. Used for
//     LocalPortForwarding with any current client.
//   - Basic: the stream is the bytes of one TCP connection at a time; a
//     DisconnectToPort flag closes it and the next data re-dials.
//   - Stream: like Basic, but the target closing its connection ends the
//     session (AWS-StartSSHSession used as an SSH ProxyCommand).
package portforward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/tether-ssm/tether/internal/agent/channel"
	"github.com/xtaci/smux"
)

// Mode is how the session's bytes map to TCP connections.
type Mode int

// Modes; see the package doc.
const (
	Mux Mode = iota + 1
	Basic
	Stream
)

// Config configures one port-forwarding session.
type Config struct {
	// Host and Port name the target. Empty Host means "localhost".
	Host, Port string
	Mode       Mode
	// Dial connects to the target; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

func (c Config) addr() string {
	host := c.Host
	if host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, c.Port)
}

func (c Config) dial(ctx context.Context) (net.Conn, error) {
	if c.Dial != nil {
		return c.Dial(ctx, "tcp", c.addr())
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", c.addr())
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// ErrTerminated is returned when the client ends the session with a
// TerminateSession flag.
var ErrTerminated = errors.New("session terminated by the client")

// Run forwards until the client terminates the session (ErrTerminated), the
// input channel is closed (nil), ctx is done, or in Stream mode the target
// closes its connection (nil).
func Run(ctx context.Context, cfg Config, in <-chan channel.Input, out channel.Output) error {
	switch cfg.Mode {
	case Mux:
		return runMux(ctx, cfg, in, out)
	case Basic, Stream:
		return runBasic(ctx, cfg, in, out)
	default:
		return fmt.Errorf("unknown port forwarding mode %d", cfg.Mode)
	}
}

// SmuxConfig is the smux configuration both ends must share: protocol
// version 1 and keepalive off (protocol.md §6.3 — the real plugin turns it
// off for agents newer than 3.1.1511.0, and a mismatch kills idle sessions
// after 30 s).
func SmuxConfig() *smux.Config {
	c := smux.DefaultConfig()
	c.Version = 1
	c.KeepAliveDisabled = true
	c.MaxFrameSize = FrameSize
	return c
}

// FrameSize is the largest smux frame payload Tether sends: with smux's
// 8-byte header a full frame is exactly one 64 KiB fast-mode stream message
// (stream.DefaultConfig), half as many messages per byte as smux's default
// 32 KiB. Receivers of any smux implementation accept frames up to 65535
// bytes; interop-mode streams split frames into 1 KiB messages anyway.
const FrameSize = 64<<10 - 8

// CopyToMux copies src into an smux stream in reads of up to one frame
// (io.Copy would use the source's WriteTo, with 32 KiB reads).
func CopyToMux(dst io.Writer, src io.Reader) (int64, error) {
	return io.CopyBuffer(dst, struct{ io.Reader }{src}, make([]byte, FrameSize))
}

// runMux serves smux streams carried by the session.
func runMux(ctx context.Context, cfg Config, in <-chan channel.Input, out channel.Output) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn := newStreamConn(ctx, out)
	sess, err := smux.Server(conn, SmuxConfig())
	if err != nil {
		return fmt.Errorf("start smux: %w", err)
	}
	defer sess.Close()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { // owner: runMux; ends when the smux session closes
		defer wg.Done()
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveStream(ctx, cfg, st, out)
			}()
		}
	}()
	err = feed(ctx, in, conn.deliver, nil)
	conn.closeRead()
	sess.Close()
	return err
}

// serveStream connects one smux stream to a new target connection.
func serveStream(ctx context.Context, cfg Config, st *smux.Stream, out channel.Output) {
	defer st.Close()
	target, err := cfg.dial(ctx)
	if err != nil {
		cfg.logger().Warn("dial target failed", "addr", cfg.addr(), "err", err)
		out.Flag(ctx, channel.FlagConnectToPortError)
		return
	}
	defer target.Close()
	splice(st, target)
}

// splice copies both ways until both directions are done, half-closing
// each side when the other reaches EOF.
func splice(a io.ReadWriteCloser, b net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(b, a)
		if tc, ok := b.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		} else {
			b.Close()
		}
		close(done)
	}()
	CopyToMux(a, b)
	a.Close() // smux FIN: the target finished sending
	<-done
}

// feed dispatches client input: Data to deliver, flags to onFlag (nil means
// only TerminateSession matters). It returns ErrTerminated on a
// TerminateSession flag and nil when in closes.
func feed(ctx context.Context, in <-chan channel.Input, deliver func([]byte) error, onFlag func(uint32)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case msg, ok := <-in:
			if !ok {
				return nil
			}
			switch msg.Kind {
			case channel.Data:
				if err := deliver(msg.Data); err != nil {
					return err
				}
			case channel.Flag:
				if msg.Flag == channel.FlagTerminateSession {
					return ErrTerminated
				}
				if onFlag != nil {
					onFlag(msg.Flag)
				}
			}
		}
	}
}
