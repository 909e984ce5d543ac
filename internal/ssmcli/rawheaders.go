package ssmcli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// recConn records the bytes of each response head so that header names,
// order and values (including trailing spaces) are available as the wire
// carried them; net/http canonicalises and trims them.
type recConn struct {
	net.Conn
	mu        sync.Mutex
	buf       bytes.Buffer
	capturing bool
}

func (c *recConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf.Reset()
	c.capturing = true
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if c.capturing && n > 0 {
		c.buf.Write(p[:n])
		if bytes.Contains(c.buf.Bytes(), []byte("\r\n\r\n")) || c.buf.Len() > 1<<20 {
			c.capturing = false
		}
	}
	c.mu.Unlock()
	return n, err
}

// headerPairs parses the recorded response head.
func (c *recConn) headerPairs() [][2]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	head, _, _ := bytes.Cut(c.buf.Bytes(), []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	var out [][2]string
	for _, l := range lines[min(1, len(lines)):] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		out = append(out, [2]string{strings.ToLower(name), strings.TrimLeft(val, " \t")})
	}
	return out
}

func recordingDialers(d *net.Dialer, cfg *tls.Config) (func(context.Context, string, string) (net.Conn, error), func(context.Context, string, string) (net.Conn, error)) {
	plain := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recConn{Conn: c}, nil
	}
	secure := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialMaybeProxied(ctx, d, network, addr)
		if err != nil {
			return nil, err
		}
		tc := cfg.Clone()
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			tc.ServerName = host
		}
		conn := tls.Client(c, tc)
		if err := conn.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return &recConn{Conn: conn}, nil
	}
	return plain, secure
}

// dialMaybeProxied opens a TCP connection to addr, through an HTTPS_PROXY
// CONNECT tunnel when the environment configures one for it. (TLS to the
// target is done by the caller so that the response head stays readable.)
func dialMaybeProxied(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	req := &http.Request{URL: &url.URL{Scheme: "https", Host: addr}}
	proxy, err := http.ProxyFromEnvironment(req)
	if err != nil || proxy == nil {
		return d.DialContext(ctx, network, addr)
	}
	paddr := proxy.Host
	if proxy.Port() == "" {
		paddr = net.JoinHostPort(proxy.Hostname(), "80")
	}
	c, err := d.DialContext(ctx, network, paddr)
	if err != nil {
		return nil, err
	}
	connect := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if u := proxy.User; u != nil {
		pw, _ := u.Password()
		connect += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)) + "\r\n"
	}
	if _, err := io.WriteString(c, connect+"\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("proxy CONNECT %s: %s", addr, resp.Status)
	}
	if br.Buffered() > 0 {
		c.Close()
		return nil, fmt.Errorf("proxy CONNECT %s: unexpected data after response", addr)
	}
	return c, nil
}
