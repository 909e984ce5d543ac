// Package certs makes and loads Tether's TLS material.
//
//   - Ensure keeps a self-signed development CA and a server certificate it
//     signs (ECDSA P-256) in a directory, generating them once and
//     re-issuing the server certificate when it nears expiry or does not
//     cover the wanted hosts: what `tether dev --tls` serves.
//   - ServerConfig loads a certificate and key file for `tether server
//     --tls-cert/--tls-key`.
//   - ClientConfig and HTTPClient build a client that trusts a CA bundle
//     (AWS_CA_BUNDLE, --ca-bundle): as in the AWS CLI, the bundle replaces
//     the system roots.
//
// Stdlib only; no package state.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// File names inside the directory given to Ensure.
const (
	CAFile     = "ca.pem"         // the CA certificate: what clients trust
	CAKeyFile  = "ca-key.pem"     // the CA's private key (0600)
	CertFile   = "server.pem"     // the server certificate
	KeyFile    = "server-key.pem" // the server's private key (0600)
	caSubject  = "Tether development CA"
	srvSubject = "Tether development server"
)

// Config tunes Ensure. The zero value of each field means its default.
type Config struct {
	// Hosts are the DNS names and IP addresses the server certificate
	// covers. Default 127.0.0.1, localhost and ::1.
	Hosts []string
	// CAValidity is the lifetime of a new CA. Default 10 years.
	CAValidity time.Duration
	// Validity is the lifetime of a new server certificate. Default 1 year.
	Validity time.Duration
	// Renew re-issues a certificate (or the CA) that expires within this
	// long. Default 30 days.
	Renew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults: loopback hosts, a 10-year CA, 1-year
// server certificates renewed 30 days before they expire.
func DefaultConfig() Config {
	return Config{Hosts: []string{"127.0.0.1", "localhost", "::1"}, CAValidity: 10 * 365 * 24 * time.Hour,
		Validity: 365 * 24 * time.Hour, Renew: 30 * 24 * time.Hour, Now: time.Now}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Hosts) == 0 {
		c.Hosts = d.Hosts
	}
	if c.CAValidity <= 0 {
		c.CAValidity = d.CAValidity
	}
	if c.Validity <= 0 {
		c.Validity = d.Validity
	}
	if c.Renew <= 0 {
		c.Renew = d.Renew
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Paths are the files Ensure keeps.
type Paths struct {
	CA, CAKey, Cert, Key string
}

// PathsIn returns the paths of the files in dir.
func PathsIn(dir string) Paths {
	return Paths{CA: filepath.Join(dir, CAFile), CAKey: filepath.Join(dir, CAKeyFile),
		Cert: filepath.Join(dir, CertFile), Key: filepath.Join(dir, KeyFile)}
}

// Ensure makes sure dir holds a usable CA and a server certificate signed
// by it for cfg.Hosts, generating what is missing, expiring within
// cfg.Renew, or (for the server certificate) not covering every host or
// not signed by the CA. A CA that is kept keeps clients' trust. Files that
// exist but cannot be parsed are an error, never overwritten.
func Ensure(dir string, cfg Config) (Paths, error) {
	cfg = cfg.withDefaults()
	p := PathsIn(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p, fmt.Errorf("certificate dir: %w", err)
	}
	now := cfg.Now()
	ca, caKey, err := loadPair(p.CA, p.CAKey)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ca = nil
	case err != nil:
		return p, fmt.Errorf("development CA: %w (remove %s and %s to make a new one)", err, p.CA, p.CAKey)
	}
	if ca == nil || !ca.IsCA || now.Add(cfg.Renew).After(ca.NotAfter) {
		if ca, caKey, err = newCA(now, cfg.CAValidity); err != nil {
			return p, err
		}
		if err := writePair(p.CA, p.CAKey, ca.Raw, caKey); err != nil {
			return p, err
		}
	}
	srv, _, err := loadPair(p.Cert, p.Key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return p, fmt.Errorf("development server certificate: %w (remove %s and %s to make a new one)", err, p.Cert, p.Key)
	}
	if srv != nil && usable(srv, ca, cfg.Hosts, now.Add(cfg.Renew)) {
		return p, nil
	}
	der, key, err := issue(ca, caKey, cfg.Hosts, now, cfg.Validity)
	if err != nil {
		return p, err
	}
	return p, writePair(p.Cert, p.Key, der, key)
}

// usable reports whether srv is signed by ca, covers every host and is
// still valid at t.
func usable(srv, ca *x509.Certificate, hosts []string, t time.Time) bool {
	if t.After(srv.NotAfter) || srv.CheckSignatureFrom(ca) != nil {
		return false
	}
	for _, h := range hosts {
		if srv.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)) // never fails with crypto/rand
	return n.Add(n, big.NewInt(1))
}

// newCA makes a self-signed CA certificate valid from an hour before now.
func newCA(now time.Time, validity time.Duration) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: caSubject + " (" + host + ")", Organization: []string{"Tether"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// issue makes a server certificate for hosts signed by ca.
func issue(ca *x509.Certificate, caKey any, hosts []string, now time.Time, validity time.Duration) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: srvSubject, Organization: []string{"Tether"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create server certificate: %w", err)
	}
	return der, key, nil
}

// loadPair reads a PEM certificate and its PEM private key. A missing
// file gives an error matching fs.ErrNotExist.
func loadPair(certPath, keyPath string) (*x509.Certificate, any, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	pair, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s, %s: %w", certPath, keyPath, err)
	}
	return pair.Leaf, pair.PrivateKey, nil
}

// writePair writes a certificate (0644) and its key (0600), each
// atomically (temporary file, then rename).
func writePair(certPath, keyPath string, der []byte, key any) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ServerConfig loads a PEM certificate (chain) and key for a server:
// TLS 1.2 or later. The files are watched: when either changes (a renewed
// certificate), the next handshake loads the pair again; a pair that does
// not load (say, half written) leaves the previous one in use.
func ServerConfig(certFile, keyFile string) (*tls.Config, error) {
	r := &reloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{GetCertificate: r.get, MinVersion: tls.VersionTLS12}, nil
}

// reloader serves a certificate pair, reloading it when its files change
// (two stats per handshake, next to the handshake's own cost).
type reloader struct {
	certFile, keyFile string

	mu    sync.Mutex // guards the following fields
	pair  *tls.Certificate
	stamp string // the files' sizes and modification times at load
}

func (r *reloader) fileStamp() string {
	var b strings.Builder
	for _, f := range []string{r.certFile, r.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

func (r *reloader) load() error {
	stamp := r.fileStamp()
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate: %w", err)
	}
	r.mu.Lock()
	r.pair, r.stamp = &pair, stamp
	r.mu.Unlock()
	return nil
}

// get is tls.Config.GetCertificate.
func (r *reloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	stale := r.fileStamp() != r.stamp
	r.mu.Unlock()
	if stale {
		r.load() // on failure the previous pair stays
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pair, nil
}

// ClientConfig returns a client configuration that trusts the PEM
// certificates of caFile, and only those (as AWS_CA_BUNDLE does for the
// AWS CLI and SDKs). An empty caFile means the system roots.
func ClientConfig(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificates in it", caFile)
	}
	c.RootCAs = pool
	return c, nil
}

// HTTPClient returns an HTTP/1.1 client (websocket upgrades need HTTP/1.1)
// with the default transport's proxy and timeouts and the TLS
// configuration tc (nil = system roots).
func HTTPClient(tc *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = false
	tr.TLSClientConfig = tc
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	return &http.Client{Transport: tr}
}
