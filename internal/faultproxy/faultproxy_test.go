package faultproxy

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echo starts a TCP echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
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
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

// proxyToEcho starts a proxy in front of a new echo server, closed when
// the test ends.
func proxyToEcho(t *testing.T) *Proxy {
	t.Helper()
	p, err := New(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// dial connects to p, closed when the test ends.
func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestForwardCutRefuse(t *testing.T) {
	p := proxyToEcho(t)
	c := dial(t, p)
	if got, err := roundTrip(c, "hello"); got != "hello" || err != nil {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	if n := p.Cut(); n != 1 || p.Cuts() != 1 {
		t.Fatalf("Cut closed %d connections (Cuts %d), want 1", n, p.Cuts())
	}
	if _, err := roundTrip(c, "x"); err == nil {
		t.Fatal("a cut connection still carries bytes")
	}
	p.Refuse(true)
	r := dial(t, p)
	if _, err := roundTrip(r, "x"); err == nil {
		t.Fatal("a refused connection carries bytes")
	}
	p.Refuse(false)
	ok := dial(t, p)
	if got, err := roundTrip(ok, "again"); got != "again" || err != nil {
		t.Fatalf("after Refuse(false): %q, %v", got, err)
	}
}

func TestStallRelease(t *testing.T) {
	p := proxyToEcho(t)
	c := dial(t, p)
	p.Stall()
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4)); err == nil {
		t.Fatalf("read %d bytes through a stalled proxy", n)
	}
	p.Release()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after Release: %q, %v", buf, err)
	}
}

// TestCloseWhileAccepting: connections arriving while Close runs must not
// keep it waiting (one accepted between its Cut and the listener closing
// used to be piped for ever).
func TestCloseWhileAccepting(t *testing.T) {
	for range 20 {
		p, err := New(echo(t))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if c, err := net.Dial("tcp", p.Addr()); err == nil {
						defer c.Close()
					} else {
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { p.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return while connections were arriving")
		}
		close(stop)
		wg.Wait()
	}
}
