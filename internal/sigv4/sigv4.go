// Package sigv4 verifies AWS Signature Version 4 on incoming requests (the
// server side of SigV4, header form). The expected signature is computed by
// aws-sdk-go-v2's own v4 signer over exactly the headers the client listed in
// SignedHeaders, then compared in constant time, so Tether signs the way the
// SDKs do by construction.
//
// Errors are *Error values whose Code is the AWS error type a client expects
// (MissingAuthenticationTokenException, IncompleteSignatureException,
// InvalidSignatureException, UnrecognizedClientException); callers map them
// to their protocol's error shape.
package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Algorithm is the only signing algorithm supported.
const Algorithm = "AWS4-HMAC-SHA256"

// TimeFormat is the X-Amz-Date layout.
const TimeFormat = "20060102T150405Z"

// AWS error types returned in Error.Code.
const (
	CodeMissingAuthToken    = "MissingAuthenticationTokenException"
	CodeIncompleteSignature = "IncompleteSignatureException"
	CodeInvalidSignature    = "InvalidSignatureException"
	CodeUnrecognizedClient  = "UnrecognizedClientException"
)

// Error is a verification failure.
type Error struct {
	Code    string // AWS error type
	Message string // the message AWS sends for it
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrUnknownKey is returned by a CredentialsLookup for an access key id it
// does not know.
var ErrUnknownKey = errors.New("unknown access key id")

// Credentials are the secret side of an access key.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken, when set, must be sent as X-Amz-Security-Token (and
	// signed); when empty, a request carrying a token is rejected.
	SessionToken string
}

// CredentialsLookup returns the credentials of an access key id, or an error
// wrapping ErrUnknownKey.
type CredentialsLookup func(ctx context.Context, accessKeyID string) (Credentials, error)

// Config configures a Verifier.
type Config struct {
	// Services lists the accepted service names of the credential scope
	// ("ssm", later "ssmmessages"). Empty means any.
	Services []string
	// Region, when set, is the only accepted region of the credential scope.
	// Empty accepts any region (clients sign with whatever region they use).
	Region string
	// MaxSkew is the largest accepted difference between X-Amz-Date and the
	// server clock. Zero means 5 minutes.
	MaxSkew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig accepts service "ssm" in any region with 5 minutes of skew.
func DefaultConfig() Config {
	return Config{Services: []string{"ssm"}, MaxSkew: 5 * time.Minute}
}

// Verifier verifies signed requests. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	lookup CredentialsLookup
	signer *v4.Signer
}

// New returns a Verifier that finds secrets with lookup.
func New(cfg Config, lookup CredentialsLookup) *Verifier {
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg, lookup: lookup, signer: v4.NewSigner()}
}

// Result describes a verified request.
type Result struct {
	AccessKeyID string
	Region      string
	Service     string
	SignedAt    time.Time
}

// Verify checks the SigV4 Authorization header of r against body (the
// complete request body; r.Body is not read).
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (Result, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return Result{}, errorf(CodeMissingAuthToken, "Missing Authentication Token")
	}
	a, err := ParseAuthorization(authz)
	if err != nil {
		return Result{}, err
	}
	signedAt, err := v.checkDateAndScope(r, a)
	if err != nil {
		return Result{}, err
	}
	creds, err := v.lookup(ctx, a.AccessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return Result{}, errorf(CodeUnrecognizedClient, "The security token included in the request is invalid.")
		}
		return Result{}, fmt.Errorf("look up access key: %w", err)
	}
	if tok := r.Header.Get("X-Amz-Security-Token"); tok != creds.SessionToken {
		return Result{}, errorf(CodeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	want, err := v.expectedSignature(ctx, r, body, a, creds, signedAt)
	if err != nil {
		return Result{}, err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.Signature)) != 1 {
		return Result{}, errorf(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return Result{AccessKeyID: a.AccessKeyID, Region: a.Region, Service: a.Service, SignedAt: signedAt}, nil
}

// checkDateAndScope validates X-Amz-Date against the clock and the
// credential scope against the configuration.
func (v *Verifier) checkDateAndScope(r *http.Request, a Authorization) (time.Time, error) {
	if !hasString(a.SignedHeaders, "host") {
		return time.Time{}, errorf(CodeIncompleteSignature, "Signature must include the host header.")
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" || !hasString(a.SignedHeaders, "x-amz-date") {
		return time.Time{}, errorf(CodeIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header, signed. Authorization=%s", Algorithm)
	}
	signedAt, err := time.Parse(TimeFormat, date)
	if err != nil {
		return time.Time{}, errorf(CodeIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", date)
	}
	now := v.cfg.Now().UTC()
	if signedAt.Before(now.Add(-v.cfg.MaxSkew)) {
		return time.Time{}, errorf(CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s.)",
			date, now.Add(-v.cfg.MaxSkew).Format(TimeFormat), now.Format(TimeFormat), skewText(v.cfg.MaxSkew))
	}
	if signedAt.After(now.Add(v.cfg.MaxSkew)) {
		return time.Time{}, errorf(CodeInvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
			date, now.Add(v.cfg.MaxSkew).Format(TimeFormat), now.Format(TimeFormat), skewText(v.cfg.MaxSkew))
	}
	if a.Date != signedAt.Format("20060102") {
		return time.Time{}, errorf(CodeInvalidSignature, "Credential should be scoped to a valid date. Got %s, expected %s.", a.Date, signedAt.Format("20060102"))
	}
	if len(v.cfg.Services) > 0 && !hasString(v.cfg.Services, a.Service) {
		return time.Time{}, errorf(CodeInvalidSignature, "Credential should be scoped to correct service: '%s'.", strings.Join(v.cfg.Services, "' or '"))
	}
	if v.cfg.Region != "" && a.Region != v.cfg.Region {
		return time.Time{}, errorf(CodeInvalidSignature, "Credential should be scoped to a valid region, not '%s'.", a.Region)
	}
	return signedAt, nil
}

func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return d.String()
}

// expectedSignature signs a copy of r that carries only the headers the
// client signed, with the SDK's signer, and returns its signature.
func (v *Verifier) expectedSignature(ctx context.Context, r *http.Request, body []byte, a Authorization, creds Credentials, signedAt time.Time) (string, error) {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	c := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: make(http.Header, len(a.SignedHeaders))}
	for _, h := range a.SignedHeaders {
		switch h {
		case "host":
			continue // taken from c.Host
		case "content-length":
			c.ContentLength = int64(len(body))
			continue
		}
		vals := r.Header.Values(h)
		if len(vals) == 0 {
			return "", errorf(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided: signed header %s is missing.", h)
		}
		c.Header[http.CanonicalHeaderKey(h)] = vals
	}
	sum := sha256.Sum256(body)
	ac := aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}
	if err := v.signer.SignHTTP(ctx, ac, c, hex.EncodeToString(sum[:]), a.Service, a.Region, signedAt); err != nil {
		return "", fmt.Errorf("compute signature: %w", err)
	}
	got, err := ParseAuthorization(c.Header.Get("Authorization"))
	if err != nil {
		return "", fmt.Errorf("parse computed signature: %w", err)
	}
	if strings.Join(got.SignedHeaders, ";") != strings.Join(a.SignedHeaders, ";") {
		// The SDK signs a different header set (e.g. a header it ignores by
		// rule was listed): the signatures cannot match.
		return "", errorf(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided: unsupported signed headers %s.", strings.Join(a.SignedHeaders, ";"))
	}
	return got.Signature, nil
}

func hasString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
