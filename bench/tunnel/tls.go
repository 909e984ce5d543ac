package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/tether-ssm/tether/bench/internal/benchstack"
	"github.com/tether-ssm/tether/internal/certs"
)

// tlsStack is a second `tether server` serving HTTPS/WSS with a
// certificate from a throw-away CA (internal/certs), and its own agent:
// the TLS path of the throughput runs, every link encrypted.
type tlsStack struct {
	srv    *benchstack.Server
	agent  *benchstack.Proc
	url    string
	node   string
	env    []string // AWS_CA_BUNDLE for the clients
	cipher string   // what a Go client negotiates, e.g. "TLS 1.3 TLS_AES_128_GCM_SHA256"
}

func startTLSStack(ctx context.Context, s *stack) (*tlsStack, error) {
	dir := filepath.Join(s.dir, "tls-server")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p, err := certs.Ensure(filepath.Join(dir, "tls"), certs.Config{})
	if err != nil {
		return nil, err
	}
	ts := &tlsStack{env: []string{"AWS_CA_BUNDLE=" + p.CA}}
	if ts.srv, err = benchstack.StartServer(s.bin, dir, "warn", nil, "tls_cert: "+p.Cert, "tls_key: "+p.Key); err != nil {
		return nil, err
	}
	s.track(ts.srv.Proc)
	ts.url = "https://" + ts.srv.Addr
	tc, err := certs.ClientConfig(p.CA)
	if err != nil {
		ts.stop()
		return nil, err
	}
	if ts.cipher, err = negotiated(ts.srv.Addr, tc); err != nil {
		ts.stop()
		return nil, err
	}
	api := ssm.New(ssm.Options{Region: benchstack.Region, BaseEndpoint: aws.String(ts.url), HTTPClient: certs.HTTPClient(tc),
		Credentials: credentials.NewStaticCredentialsProvider(benchstack.AccessKey, benchstack.SecretKey, "")})
	if ts.agent, ts.node, err = benchstack.StartAgent(ctx, api, s.bin, ts.url, filepath.Join(s.dir, "tls-agent"), "/bin/sh", ts.env...); err != nil {
		ts.stop()
		return nil, err
	}
	s.track(ts.agent)
	return ts, nil
}

// negotiated is the protocol version and cipher suite a Go client gets.
func negotiated(addr string, tc *tls.Config) (string, error) {
	c, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		return "", fmt.Errorf("TLS handshake with the server: %w", err)
	}
	defer c.Close()
	st := c.ConnectionState()
	return tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite), nil
}

func (ts *tlsStack) stop() {
	if ts.agent != nil {
		ts.agent.Stop()
	}
	ts.srv.Stop()
}
