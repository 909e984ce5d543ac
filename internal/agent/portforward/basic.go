package portforward

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/tether-ssm/tether/internal/agent/channel"
)

// basicSession carries one target connection at a time.
type basicSession struct {
	cfg    Config
	out    channel.Output
	ctx    context.Context
	cancel context.CancelFunc // Stream mode: ends the session on target EOF

	mu   sync.Mutex // guards conn
	conn net.Conn
	wg   sync.WaitGroup
}

func runBasic(ctx context.Context, cfg Config, in <-chan channel.Input, out channel.Output) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &basicSession{cfg: cfg, out: out, ctx: ctx, cancel: cancel}
	if cfg.Mode == Stream {
		// SSH: the target speaks first, so connect at once.
		if _, err := b.connection(); err != nil {
			return err
		}
	}
	err := feed(ctx, in, b.write, func(f uint32) {
		if f == channel.FlagDisconnectToPort {
			b.disconnect()
		}
	})
	b.disconnect()
	b.wg.Wait()
	if cfg.Mode == Stream && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // the target closed: the normal end of an SSH session
	}
	return err
}

// connection returns the current target connection, dialling if needed.
func (b *basicSession) connection() (net.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return b.conn, nil
	}
	c, err := b.cfg.dial(b.ctx)
	if err != nil {
		b.cfg.logger().Warn("dial target failed", "addr", b.cfg.addr(), "err", err)
		b.out.Flag(b.ctx, channel.FlagConnectToPortError)
		return nil, err
	}
	b.conn = c
	b.wg.Add(1)
	go b.pump(c) // owner: runBasic; ends when c is closed or at EOF
	return c, nil
}

func (b *basicSession) write(p []byte) error {
	c, err := b.connection()
	if err != nil {
		return nil // reported with ConnectToPortError; the session goes on
	}
	if _, err := c.Write(p); err != nil {
		b.disconnect()
	}
	return nil
}

// pump sends what the target sends until it closes.
func (b *basicSession) pump(c net.Conn) {
	defer b.wg.Done()
	buf := make([]byte, b.out.MaxPayload())
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if b.out.Stdout(b.ctx, append([]byte(nil), buf[:n]...)) != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	b.mu.Lock()
	if b.conn == c {
		b.conn = nil
		c.Close()
	}
	b.mu.Unlock()
	if b.cfg.Mode == Stream {
		b.cancel()
	}
}

func (b *basicSession) disconnect() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
}
