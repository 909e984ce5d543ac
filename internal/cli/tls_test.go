package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/auth"
	"github.com/tether-ssm/tether/internal/certs"
)

func TestServerTLSOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := certs.Ensure(filepath.Join(dir, "tls"), certs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	relative := write("relative.yaml", "tls_cert: tls/server.pem\ntls_key: tls/server-key.pem\n")
	onlyCert := write("only-cert.yaml", "tls_cert: tls/server.pem\n")
	missing := filepath.Join(dir, "nope.pem")
	tests := []struct {
		name    string
		o       serverOptions
		config  string // config file, loaded as --config
		wantTLS bool
		err     string
	}{
		{name: "none", wantTLS: false},
		{name: "flags", o: serverOptions{TLSCert: p.Cert, TLSKey: p.Key}, wantTLS: true},
		{name: "config relative to its file", config: relative, wantTLS: true},
		{name: "flags win over config", o: serverOptions{TLSCert: missing, TLSKey: p.Key}, config: relative, err: "load TLS certificate"},
		{name: "cert without key", o: serverOptions{TLSCert: p.Cert}, err: "--tls-cert and --tls-key: give both or neither"},
		{name: "key without cert", o: serverOptions{TLSKey: p.Key}, err: "give both or neither"},
		{name: "config cert without key", config: onlyCert, err: "config tls_cert and tls_key: give both or neither"},
		{name: "missing file", o: serverOptions{TLSCert: missing, TLSKey: p.Key}, err: "no such file"},
		{name: "mismatched key", o: serverOptions{TLSCert: p.Cert, TLSKey: p.CAKey}, err: "private key does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f serverFile
			if tc.config != "" {
				var err error
				if f, err = loadServerFile(tc.config, true); err != nil {
					t.Fatal(err)
				}
			}
			conf, err := serverTLS(tc.o, f)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (conf != nil) != tc.wantTLS {
				t.Fatalf("TLS = %v, want %v", conf != nil, tc.wantTLS)
			}
		})
	}
}

// TestServerServesTLS starts the server with a certificate: its URLs are
// https, a client trusting the CA gets AWS-shaped answers over HTTP/1.1,
// one that does not gets a certificate error, and plain HTTP is refused.
func TestServerServesTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := certs.Ensure(dir, certs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedBuffer
	rs, err := startServer(ctx, serverOptions{Listen: "127.0.0.1:0", DataDir: dir, LogLevel: "warn",
		TLSCert: p.Cert, TLSKey: p.Key}, &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.wait(canceledContext())
	if !strings.HasPrefix(rs.url, "https://127.0.0.1:") || rs.publicURL != rs.url {
		t.Fatalf("url %q, public URL %q: want https", rs.url, rs.publicURL)
	}
	trusted, err := certs.ClientConfig(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	post := func(hc *http.Client, url string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "AmazonSSM.DescribeSessions")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		return hc.Do(req)
	}
	t.Run("trusted", func(t *testing.T) {
		for _, hc := range []*http.Client{certs.HTTPClient(trusted), {Transport: &http.Transport{TLSClientConfig: trusted, ForceAttemptHTTP2: true}}} {
			resp, err := post(hc, rs.url+"/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "MissingAuthenticationToken") || resp.ProtoMajor != 1 {
				t.Errorf("%s %d %s", resp.Proto, resp.StatusCode, b)
			}
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		_, err := post(certs.HTTPClient(nil), rs.url+"/")
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("err = %v, want an unknown authority", err)
		}
	})
	t.Run("plain http", func(t *testing.T) {
		resp, err := post(&http.Client{Timeout: 10 * time.Second}, "http://"+strings.TrimPrefix(rs.url, "https://")+"/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || strings.Contains(string(b), "MissingAuthenticationToken") {
				t.Fatalf("plain HTTP served: %d %s", resp.StatusCode, b)
			}
		}
	})
}

// TestServerTLSPlainPublicURL: a plain public URL on a TLS server is
// allowed (a proxy may be in front) but warned about.
func TestServerTLSPlainPublicURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := certs.Ensure(dir, certs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		public string
		warn   bool
	}{
		{"http://tether.example.com", true},
		{"ws://tether.example.com", true},
		{"https://tether.example.com", false},
		{"", false},
	} {
		t.Run(tc.public, func(t *testing.T) {
			var logs lockedBuffer
			rs, err := startServer(context.Background(), serverOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir(), LogLevel: "warn",
				PublicURL: tc.public, TLSCert: p.Cert, TLSKey: p.Key}, &logs)
			if err != nil {
				t.Fatal(err)
			}
			rs.wait(canceledContext())
			if got := strings.Contains(logs.String(), "--public-url is plain"); got != tc.warn {
				t.Errorf("warned %v, want %v: %s", got, tc.warn, logs.String())
			}
		})
	}
}

func TestDevCertsAndEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		listen string
		host   string // a host the certificate must also cover
	}{
		{"127.0.0.1:8080", "127.0.0.1"},
		{"localhost:8080", "localhost"},
		{"0.0.0.0:8080", "::1"},
		{"127.0.0.2:8080", "127.0.0.2"},
	}
	for _, tc := range tests {
		t.Run(tc.listen, func(t *testing.T) {
			d := filepath.Join(dir, strings.ReplaceAll(tc.listen, ":", "_"))
			p, err := devCerts(serverOptions{Listen: tc.listen, DataDir: d})
			if err != nil {
				t.Fatal(err)
			}
			if p.CA != filepath.Join(d, certs.CAFile) || !filepath.IsAbs(p.CA) {
				t.Errorf("CA at %s", p.CA)
			}
			conf, err := certs.ServerConfig(p.Cert, p.Key)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := conf.GetCertificate(nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := pair.Leaf.VerifyHostname(tc.host); err != nil {
				t.Error(err)
			}
			env := filepath.Join(d, "env")
			u := auth.User{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s"}
			if err := writeDevEnv(env, u, "https://"+tc.listen, "mi-0123456789abcdef0", p.CA); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(env)
			if want := "export AWS_CA_BUNDLE='" + p.CA + "'\n"; !strings.Contains(string(b), want) {
				t.Errorf("env file lacks %q:\n%s", want, b)
			}
		})
	}
	t.Run("no TLS, no CA line", func(t *testing.T) {
		env := filepath.Join(dir, "env")
		if err := writeDevEnv(env, auth.User{}, "http://127.0.0.1:8080", "mi-0123456789abcdef0", ""); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(env); strings.Contains(string(b), "AWS_CA_BUNDLE") {
			t.Errorf("env file names a CA:\n%s", b)
		}
	})
}
