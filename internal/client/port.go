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
	s      *Session
	mux    *smux.Session
	ctx    context.Context // ends when the forwarder is closed
	cancel context.CancelFunc

	// pending is the rest of the last Output payload; only smux's receive
	// goroutine (the one caller of streamRW.Read) touches it.
	pending []byte

	mu       sync.Mutex
	portErrs int // ConnectToPortError flags received
}

// NewPortForwarder starts multiplexing over s; it owns s's Read side.
func NewPortForwarder(s *Session) *PortForwarder {
	ctx, cancel := context.WithCancel(context.Background())
	f := &PortForwarder{s: s, ctx: ctx, cancel: cancel}
	f.mux, _ = smux.Client(streamRW{f}, portforward.SmuxConfig()) // only fails on a bad config
	return f
}

// read gives smux the agent's bytes straight from the session's payloads
// (no goroutine or pipe in between), counting port errors on the way.
func (f *PortForwarder) read(b []byte) (int, error) {
	for len(f.pending) == 0 {
		p, err := f.s.Read(f.ctx)
		if err != nil {
			return 0, err
		}
		switch p.Type {
		case wire.PayloadOutput:
			f.pending = p.Data
		case wire.PayloadFlag:
			if fl, err := wire.ParseFlag(p.Data); err == nil && fl == wire.FlagConnectToPortError {
				f.mu.Lock()
				f.portErrs++
				f.mu.Unlock()
			}
		}
	}
	n := copy(b, f.pending)
	f.pending = f.pending[n:]
	return n, nil
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
	f.cancel()
	f.mux.Close()
	return nil
}

// streamRW is the session's byte stream as smux sees it.
type streamRW struct{ f *PortForwarder }

func (rw streamRW) Read(p []byte) (int, error) { return rw.f.read(p) }

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

// Close is called by smux when its session ends: it unblocks read.
func (rw streamRW) Close() error { rw.f.cancel(); return nil }
