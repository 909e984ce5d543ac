package client

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/tether-ssm/tether/internal/agent/portforward"
	"github.com/tether-ssm/tether/internal/wire"
	"github.com/xtaci/smux"
)

// ErrConnectToPort is reported when the agent could not reach the target
// port (the agent's ConnectToPortError flag).
var ErrConnectToPort = errors.New("connection to destination port failed, check the agent's logs")

// PortForwarder multiplexes TCP connections over a Port session with smux,
// as the real plugin's MuxPortForwarding does: the client is the smux
// client, every local connection one smux stream.
type PortForwarder struct {
	s   *Session
	mux *smux.Session
	pr  *io.PipeReader
	pw  *io.PipeWriter

	mu       sync.Mutex
	portErrs int // ConnectToPortError flags received
	wg       sync.WaitGroup
}

// NewPortForwarder starts multiplexing over s; it owns s's Read side.
func NewPortForwarder(s *Session) *PortForwarder {
	pr, pw := io.Pipe()
	f := &PortForwarder{s: s, pr: pr, pw: pw}
	f.mux, _ = smux.Client(streamRW{f}, portforward.SmuxConfig()) // only fails on a bad config
	f.wg.Add(1)
	go f.pump()
	return f
}

// pump feeds the agent's bytes to smux until the session ends.
func (f *PortForwarder) pump() {
	defer f.wg.Done()
	for {
		p, err := f.s.Read(context.Background())
		if err != nil {
			f.pw.CloseWithError(err)
			return
		}
		switch p.Type {
		case wire.PayloadOutput:
			if _, err := f.pw.Write(p.Data); err != nil {
				return
			}
		case wire.PayloadFlag:
			if fl, err := wire.ParseFlag(p.Data); err == nil && fl == wire.FlagConnectToPortError {
				f.mu.Lock()
				f.portErrs++
				f.mu.Unlock()
			}
		}
	}
}

// PortErrors returns how many connections the agent could not forward.
func (f *PortForwarder) PortErrors() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.portErrs
}

// Dial opens a new forwarded connection.
func (f *PortForwarder) Dial() (net.Conn, error) {
	return f.mux.OpenStream()
}

// Serve forwards every connection accepted on ln until ln is closed or the
// session ends. onAccept, if set, is called for each connection.
func (f *PortForwarder) Serve(ln net.Listener, onAccept func(net.Conn)) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		if onAccept != nil {
			onAccept(c)
		}
		st, err := f.mux.OpenStream()
		if err != nil {
			c.Close()
			return err
		}
		go splice(c, st)
	}
}

// splice copies both ways and closes both when either side is done.
func splice(a net.Conn, b *smux.Stream) {
	done := make(chan struct{}, 2)
	go func() { portforward.CopyToMux(b, a); b.Close(); done <- struct{}{} }()
	go func() { io.Copy(a, b); a.Close(); done <- struct{}{} }()
	<-done
	<-done
}

// Close stops multiplexing.
func (f *PortForwarder) Close() error {
	f.mux.Close()
	f.pr.Close()
	return nil
}

// streamRW is the session's byte stream as smux sees it.
type streamRW struct{ f *PortForwarder }

func (rw streamRW) Read(p []byte) (int, error) { return rw.f.pr.Read(p) }

func (rw streamRW) Write(p []byte) (int, error) {
	select {
	case <-rw.f.s.Handshaked(): // the agent discards data sent before
	case <-rw.f.s.Done():
		return 0, ErrEnded
	}
	if err := rw.f.s.Write(context.Background(), wire.PayloadOutput, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (rw streamRW) Close() error { return nil }
