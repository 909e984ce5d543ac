// Package faultproxy is a fault-injecting TCP proxy for tests and
// benchmarks: it forwards loopback connections to a target and can cut them
// (both sides see a reset or EOF), stall them (bytes stop flowing while the
// sockets stay open: a half-open network), or refuse new connections.
package faultproxy

import (
	"io"
	"net"
	"sync"
)

// Proxy forwards connections accepted on Addr to a target.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex // guards the following fields
	conns   map[*link]struct{}
	refuse  bool
	stalled chan struct{} // non-nil while stalled; closed to release
	cuts    int
	closed  bool // Close was called: a connection accepted meanwhile is closed at once
	wg      sync.WaitGroup
}

type link struct{ a, b net.Conn }

func (l *link) close() { l.a.Close(); l.b.Close() }

// New starts a proxy on 127.0.0.1 forwarding to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		t, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{a: c, b: t}
		p.mu.Lock()
		if p.closed { // accepted while Close ran: Close's Cut did not see it
			p.mu.Unlock()
			l.close()
			continue
		}
		p.conns[l] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(l, c, t)
		go p.pipe(l, t, c)
	}
}

// pipe copies src to dst, waiting while the proxy is stalled.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.conns, l)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.waitStall()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
					continue
				}
			}
			return
		}
	}
}

func (p *Proxy) waitStall() {
	p.mu.Lock()
	ch := p.stalled
	p.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// Cut closes every current connection; new ones are accepted as before.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.cuts++
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	return len(links)
}

// Cuts returns how many times Cut was called.
func (p *Proxy) Cuts() int { p.mu.Lock(); defer p.mu.Unlock(); return p.cuts }

// Conns returns the number of live connections.
func (p *Proxy) Conns() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.conns) }

// Stall stops moving bytes on every connection, old and new, while keeping
// them open, until Release.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == nil {
		p.stalled = make(chan struct{})
	}
}

// Release ends a Stall.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
}

// Refuse makes the proxy close new connections at once (true) or accept
// them again (false).
func (p *Proxy) Refuse(on bool) { p.mu.Lock(); p.refuse = on; p.mu.Unlock() }

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Release()
	p.Cut()
	p.wg.Wait()
	return nil
}
