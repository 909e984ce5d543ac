package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(path, strings.TrimSuffix(path, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf
}

func TestEnsureGenerates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	p, err := Ensure(dir, Config{Now: clock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	ca, srv := readCert(t, p.CA), readCert(t, p.Cert)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1", true},
		{"localhost", true},
		{"::1", true},
		{"example.com", false},
		{"10.0.0.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			_, err := srv.Verify(x509.VerifyOptions{DNSName: tc.host, Roots: pool, CurrentTime: t0,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if (err == nil) != tc.ok {
				t.Fatalf("verify for %s: %v, want ok=%v", tc.host, err, tc.ok)
			}
		})
	}
	t.Run("modes", func(t *testing.T) {
		for path, want := range map[string]os.FileMode{p.CA: 0o644, p.CAKey: 0o600, p.Cert: 0o644, p.Key: 0o600} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
			}
		}
	})
	t.Run("ecdsa p-256", func(t *testing.T) {
		for _, c := range []*x509.Certificate{ca, srv} {
			if c.PublicKeyAlgorithm != x509.ECDSA || c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
				t.Errorf("%s: %v / %v", c.Subject, c.PublicKeyAlgorithm, c.SignatureAlgorithm)
			}
		}
		if !ca.IsCA || srv.IsCA {
			t.Errorf("IsCA: ca %v, server %v", ca.IsCA, srv.IsCA)
		}
	})
}

// TestEnsureReuse: what is kept and what is re-issued on a later run.
func TestEnsureReuse(t *testing.T) {
	year := 365 * 24 * time.Hour
	tests := []struct {
		name           string
		second         Config
		newCA, newCert bool
	}{
		{"same day", Config{Now: clock(t0.Add(time.Hour))}, false, false},
		{"server cert near expiry", Config{Now: clock(t0.Add(year - 10*24*time.Hour))}, false, true},
		{"server cert expired", Config{Now: clock(t0.Add(2 * year))}, false, true},
		{"another host", Config{Now: clock(t0), Hosts: []string{"127.0.0.1", "localhost", "::1", "tether.test"}}, false, true},
		{"fewer hosts", Config{Now: clock(t0), Hosts: []string{"localhost"}}, false, false},
		{"CA near expiry", Config{Now: clock(t0.Add(10*year - 24*time.Hour))}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := Ensure(dir, Config{Now: clock(t0)})
			if err != nil {
				t.Fatal(err)
			}
			ca1, _ := os.ReadFile(p.CA)
			srv1, _ := os.ReadFile(p.Cert)
			if _, err := Ensure(dir, tc.second); err != nil {
				t.Fatal(err)
			}
			ca2, _ := os.ReadFile(p.CA)
			srv2, _ := os.ReadFile(p.Cert)
			if got := !bytes.Equal(ca1, ca2); got != tc.newCA {
				t.Errorf("new CA: %v, want %v", got, tc.newCA)
			}
			if got := !bytes.Equal(srv1, srv2); got != tc.newCert {
				t.Errorf("new server certificate: %v, want %v", got, tc.newCert)
			}
			ca, srv := readCert(t, p.CA), readCert(t, p.Cert)
			if err := srv.CheckSignatureFrom(ca); err != nil {
				t.Errorf("server certificate not signed by the CA: %v", err)
			}
		})
	}
}

func TestEnsureRefusesCorruptFiles(t *testing.T) {
	tests := []struct{ name, file string }{
		{"CA", CAFile},
		{"CA key", CAKeyFile},
		{"server certificate", CertFile},
		{"server key", KeyFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Ensure(dir, Config{Now: clock(t0)}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.file)
			if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Ensure(dir, Config{Now: clock(t0)})
			if err == nil || !strings.Contains(err.Error(), "remove") {
				t.Fatalf("err = %v, want an error saying to remove the files", err)
			}
			if b, _ := os.ReadFile(path); string(b) != "garbage" {
				t.Error("the corrupt file was overwritten")
			}
		})
	}
}

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	p, err := Ensure(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Ensure(filepath.Join(dir, "other"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("no certificates here\n"), 0o600)
	srvConf, err := ServerConfig(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(ln, srvConf))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	tests := []struct {
		name, ca, host string
		loadErr        string // substring of ClientConfig's error
		unknownCA      bool   // the request fails with x509.UnknownAuthorityError
	}{
		{name: "trusted, 127.0.0.1", ca: p.CA, host: "127.0.0.1"},
		{name: "trusted, localhost", ca: p.CA, host: "localhost"},
		{name: "another CA", ca: other.CA, host: "127.0.0.1", unknownCA: true},
		{name: "system roots", ca: "", host: "127.0.0.1", unknownCA: true},
		{name: "missing bundle", ca: filepath.Join(dir, "nope.pem"), loadErr: "no such file"},
		{name: "no certificates", ca: empty, loadErr: "no PEM certificates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc2, err := ClientConfig(tc.ca)
			if tc.loadErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.loadErr) {
					t.Fatalf("err = %v, want %q", err, tc.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(tc.host, port)+"/", nil)
			resp, err := HTTPClient(tc2).Do(req)
			var ua x509.UnknownAuthorityError
			switch {
			case tc.unknownCA:
				if !errors.As(err, &ua) {
					t.Fatalf("err = %v, want an unknown authority", err)
				}
			case err != nil:
				t.Fatal(err)
			default:
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "ok" || resp.ProtoMajor != 1 {
					t.Fatalf("got %q over %s", b, resp.Proto)
				}
			}
		})
	}
}

func TestServerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	p, err := Ensure(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, cert, key string }{
		{"missing cert", filepath.Join(dir, "nope.pem"), p.Key},
		{"missing key", p.Cert, filepath.Join(dir, "nope.pem")},
		{"mismatched", p.Cert, p.CAKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ServerConfig(tc.cert, tc.key); err == nil || !strings.HasPrefix(err.Error(), "load TLS certificate") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestServerConfigReloads: a renewed pair is served from the next
// handshake on; a broken one leaves the previous pair in use.
func TestServerConfigReloads(t *testing.T) {
	dir := t.TempDir()
	paths := make([]Paths, 2)
	for i := range paths {
		p, err := Ensure(filepath.Join(dir, strconv.Itoa(i)), Config{})
		if err != nil {
			t.Fatal(err)
		}
		paths[i] = p
	}
	live := Paths{Cert: filepath.Join(dir, "live.pem"), Key: filepath.Join(dir, "live-key.pem")}
	install := func(t *testing.T, cert, key []byte) {
		t.Helper()
		if err := writeFile(live.Key, key, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := writeFile(live.Cert, cert, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	install(t, read(paths[0].Cert), read(paths[0].Key))
	conf, err := ServerConfig(live.Cert, live.Key)
	if err != nil {
		t.Fatal(err)
	}
	serial := func(p Paths) string { return readCert(t, p.Cert).SerialNumber.String() }
	tests := []struct {
		name       string
		cert, key  []byte // installed before the handshake; nil = leave as is
		wantSerial string
	}{
		{"initial", nil, nil, serial(paths[0])},
		{"unchanged", nil, nil, serial(paths[0])},
		{"renewed", read(paths[1].Cert), read(paths[1].Key), serial(paths[1])},
		{"half written", []byte("-----BEGIN CERTIFICATE-----\n"), read(paths[1].Key), serial(paths[1])},
		{"mismatched", read(paths[0].Cert), read(paths[1].Key), serial(paths[1])},
		{"back to the first", read(paths[0].Cert), read(paths[0].Key), serial(paths[0])},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cert != nil {
				install(t, tc.cert, tc.key)
			}
			pair, err := conf.GetCertificate(&tls.ClientHelloInfo{})
			if err != nil {
				t.Fatal(err)
			}
			if got := pair.Leaf.SerialNumber.String(); got != tc.wantSerial {
				t.Fatalf("serving serial %s, want %s", got, tc.wantSerial)
			}
		})
	}
}
