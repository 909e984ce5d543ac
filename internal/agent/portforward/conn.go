package portforward

import (
	"context"
	"io"
	"sync"

	"github.com/tether-ssm/tether/internal/agent/channel"
)

// streamConn presents the session's byte stream as an io.ReadWriteCloser
// for smux: Read returns client Data in order, Write sends Output messages
// of at most MaxPayload bytes. Reads push back through an io.Pipe: deliver
// blocks until smux has read the bytes.
type streamConn struct {
	ctx  context.Context
	out  channel.Output
	pr   *io.PipeReader
	pw   *io.PipeWriter
	wmu  sync.Mutex // serialises Write so chunks of one call stay together
	once sync.Once
}

func newStreamConn(ctx context.Context, out channel.Output) *streamConn {
	pr, pw := io.Pipe()
	return &streamConn{ctx: ctx, out: out, pr: pr, pw: pw}
}

// deliver hands client bytes to the reader side.
func (c *streamConn) deliver(p []byte) error {
	_, err := c.pw.Write(p)
	if err == io.ErrClosedPipe {
		return nil // smux is gone; drop input as a closed socket would
	}
	return err
}

// closeRead makes Read return EOF once delivered bytes are consumed.
func (c *streamConn) closeRead() { c.pw.Close() }

func (c *streamConn) Read(p []byte) (int, error) { return c.pr.Read(p) }

func (c *streamConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	max := c.out.MaxPayload()
	n := 0
	for n < len(p) {
		k := min(len(p)-n, max)
		if err := c.out.Stdout(c.ctx, p[n:n+k]); err != nil { // Stdout copies
			return n, err
		}
		n += k
	}
	return n, nil
}

func (c *streamConn) Close() error {
	c.once.Do(func() { c.pr.Close(); c.pw.Close() })
	return nil
}
