package sigv4_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tether-ssm/tether/internal/sigv4"
)

type vector struct {
	Case    string `json:"case"`
	Request struct {
		Method  string      `json:"method"`
		Path    string      `json:"path"`
		Headers [][2]string `json:"headers"`
		Body    string      `json:"body"`
	} `json:"request"`
	Signature string `json:"signature"`
	SecretKey string `json:"secret_key"`
	Region    string `json:"region"`
	Service   string `json:"service"`
	OK        bool   `json:"ok"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("../../../shared/testdata/ssm/sigv4-test-vectors.json")
	if err != nil {
		t.Skipf("shared test vectors not available: %v", err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func vectorRequest(v vector) *http.Request {
	r := httptest.NewRequest(v.Request.Method, v.Request.Path, strings.NewReader(v.Request.Body))
	r.Header = http.Header{}
	for _, h := range v.Request.Headers {
		if strings.EqualFold(h[0], "host") {
			r.Host = h[1]
			continue
		}
		r.Header.Add(h[0], h[1])
	}
	return r
}

func TestVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Case, func(t *testing.T) {
			t.Parallel()
			r := vectorRequest(v)
			at, err := time.Parse(sigv4.TimeFormat, r.Header.Get("X-Amz-Date"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := sigv4.ParseAuthorization(r.Header.Get("Authorization"))
			if err != nil {
				t.Fatal(err)
			}
			if a.Signature != v.Signature || a.Region != v.Region || a.Service != v.Service {
				t.Fatalf("parsed %+v", a)
			}
			creds := sigv4.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: v.SecretKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
			ver := sigv4.New(sigv4.Config{Services: []string{"ssm"}, Now: func() time.Time { return at.Add(30 * time.Second) }},
				func(_ context.Context, id string) (sigv4.Credentials, error) {
					if id != creds.AccessKeyID {
						return sigv4.Credentials{}, sigv4.ErrUnknownKey
					}
					return creds, nil
				})
			res, err := ver.Verify(context.Background(), r, []byte(v.Request.Body))
			if (err == nil) != v.OK {
				t.Fatalf("Verify: %v, want ok=%v", err, v.OK)
			}
			if err == nil && (res.AccessKeyID != a.AccessKeyID || res.Region != v.Region) {
				t.Errorf("result %+v", res)
			}
			// One changed body byte must fail.
			bad := []byte(v.Request.Body)
			bad[len(bad)/2] ^= 1
			if _, err := ver.Verify(context.Background(), vectorRequest(v), bad); code(err) != sigv4.CodeInvalidSignature {
				t.Errorf("tampered body: %v", err)
			}
		})
	}
}

func code(err error) string {
	var e *sigv4.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return "<nil>"
	}
	return "other: " + err.Error()
}

const (
	akid   = "AKIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// signed builds a request signed by the SDK at time at.
func signed(t *testing.T, at time.Time, creds aws.Credentials, service, path, body string, mutate func(*http.Request)) *http.Request {
	t.Helper()
	r := httptest.NewRequest("POST", "http://127.0.0.1:8080"+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AmazonSSM.ResumeSession")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("User-Agent", "test/1.0") // unsigned headers may change
	if mutate != nil {
		mutate(r)
	}
	return r
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 19, 10, 33, 0, time.UTC)
	base := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	withToken := aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: secret, SessionToken: "FQoGZXIvYXdzEXAMPLETOKEN"}
	lookup := func(_ context.Context, id string) (sigv4.Credentials, error) {
		switch id {
		case akid:
			return sigv4.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, nil
		case "ASIATEMP":
			return sigv4.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: withToken.SessionToken}, nil
		case "BROKEN":
			return sigv4.Credentials{}, errors.New("database down")
		}
		return sigv4.Credentials{}, sigv4.ErrUnknownKey
	}
	ver := sigv4.New(sigv4.Config{Services: []string{"ssm", "ssmmessages"}, Now: func() time.Time { return now }}, lookup)
	body := `{"SessionId": "s-1"}`
	tests := []struct {
		name string
		req  *http.Request
		body string
		want string
	}{
		{"ok", signed(t, now, base, "ssm", "/", body, nil), body, "<nil>"},
		{"ok ssmmessages", signed(t, now, base, "ssmmessages", "/", body, nil), body, "<nil>"},
		{"ok path and query", signed(t, now, base, "ssm", "/some/prefix?b=2&a=1", body, nil), body, "<nil>"},
		{"ok session token", signed(t, now, withToken, "ssm", "/", body, nil), body, "<nil>"},
		{"ok skew 4m59s", signed(t, now.Add(-299*time.Second), base, "ssm", "/", body, nil), body, "<nil>"},
		{"missing token header", signed(t, now, withToken, "ssm", "/", body, func(r *http.Request) { r.Header.Del("X-Amz-Security-Token") }), body, sigv4.CodeUnrecognizedClient},
		{"wrong token", signed(t, now, withToken, "ssm", "/", body, func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "x") }), body, sigv4.CodeUnrecognizedClient},
		{"unexpected token", signed(t, now, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: "t"}, "ssm", "/", body, nil), body, sigv4.CodeUnrecognizedClient},
		{"no auth", signed(t, now, base, "ssm", "/", body, func(r *http.Request) { r.Header.Del("Authorization") }), body, sigv4.CodeMissingAuthToken},
		{"unknown key", signed(t, now, aws.Credentials{AccessKeyID: "AKIDNOPE", SecretAccessKey: secret}, "ssm", "/", body, nil), body, sigv4.CodeUnrecognizedClient},
		{"wrong secret", signed(t, now, aws.Credentials{AccessKeyID: akid, SecretAccessKey: "nope"}, "ssm", "/", body, nil), body, sigv4.CodeInvalidSignature},
		{"body changed", signed(t, now, base, "ssm", "/", body, nil), `{"SessionId": "s-2"}`, sigv4.CodeInvalidSignature},
		{"signed header changed", signed(t, now, base, "ssm", "/", body, func(r *http.Request) { r.Header.Set("X-Amz-Target", "AmazonSSM.TerminateSession") }), body, sigv4.CodeInvalidSignature},
		{"host changed", signed(t, now, base, "ssm", "/", body, func(r *http.Request) { r.Host = "evil:8080" }), body, sigv4.CodeInvalidSignature},
		{"path changed", signed(t, now, base, "ssm", "/", body, func(r *http.Request) { r.URL.Path = "/x" }), body, sigv4.CodeInvalidSignature},
		{"expired", signed(t, now.Add(-301*time.Second), base, "ssm", "/", body, nil), body, sigv4.CodeInvalidSignature},
		{"future", signed(t, now.Add(6*time.Minute), base, "ssm", "/", body, nil), body, sigv4.CodeInvalidSignature},
		{"wrong service", signed(t, now, base, "ec2", "/", body, nil), body, sigv4.CodeInvalidSignature},
		{"bad date header", signed(t, now, base, "ssm", "/", body, func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }), body, sigv4.CodeIncompleteSignature},
		{"garbage authorization", signed(t, now, base, "ssm", "/", body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }), body, sigv4.CodeIncompleteSignature},
		{"lookup failure", signed(t, now, aws.Credentials{AccessKeyID: "BROKEN", SecretAccessKey: secret}, "ssm", "/", body, nil), body, "other: look up access key: database down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ver.Verify(context.Background(), tc.req, []byte(tc.body))
			if got := code(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

func TestExpiredMessage(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 19, 20, 33, 0, time.UTC)
	ver := sigv4.New(sigv4.Config{Services: []string{"ssm"}, Now: func() time.Time { return now }}, func(context.Context, string) (sigv4.Credentials, error) {
		return sigv4.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, nil
	})
	r := signed(t, now.Add(-10*time.Minute), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, "ssm", "/", "{}", nil)
	_, err := ver.Verify(context.Background(), r, []byte("{}"))
	want := "InvalidSignatureException: Signature expired: 20261204T191033Z is now earlier than 20261204T191533Z (20261204T192033Z - 5 min.)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	sig := strings.Repeat("ab", 32)
	good := "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig
	a, err := sigv4.ParseAuthorization(good)
	if err != nil || a.AccessKeyID != "AKID" || a.Region != "us-east-1" || a.Service != "ssm" || len(a.SignedHeaders) != 2 || a.Signature != sig {
		t.Fatalf("%+v %v", a, err)
	}
	for _, bad := range []string{
		"", "AWS4-HMAC-SHA1 Credential=a", "AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/2026120/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request, SignedHeaders=Host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request, SignedHeaders=host;;a, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=XYZ",
		"AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request, Credential=x, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=" + sig + ", Extra=1",
	} {
		if _, err := sigv4.ParseAuthorization(bad); code(err) != sigv4.CodeIncompleteSignature {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// FuzzParseAuthorization: any header value parses or fails with an *Error,
// never panics, and what parses is well formed.
func FuzzParseAuthorization(f *testing.F) {
	sig := strings.Repeat("0f", 32)
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=//// , SignedHeaders=, Signature=",
		"AWS4-HMAC-SHA256 ,,,,", "AWS4-HMAC-SHA256 Credential==", "", "AWS x:y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := sigv4.ParseAuthorization(h)
		if err != nil {
			var e *sigv4.Error
			if !errors.As(err, &e) || e.Code == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if a.AccessKeyID == "" || len(a.Date) != 8 || len(a.Signature) != 64 || len(a.SignedHeaders) == 0 {
			t.Fatalf("accepted malformed %q: %+v", h, a)
		}
	})
}

// FuzzVerify: arbitrary header values on a request never panic the verifier.
func FuzzVerify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261204/us-east-1/ssm/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("0f", 32), "20261204T191033Z", "127.0.0.1:8080", "tok")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261204/us-east-1/ssm/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token;zz, Signature="+strings.Repeat("0f", 32), "20261204T191033Z", "", "")
	now := time.Date(2026, 12, 4, 19, 10, 33, 0, time.UTC)
	ver := sigv4.New(sigv4.Config{Now: func() time.Time { return now }}, func(context.Context, string) (sigv4.Credentials, error) {
		return sigv4.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, nil
	})
	f.Fuzz(func(t *testing.T, authz, date, host, token string) {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Amz-Date", date)
		r.Header.Set("X-Amz-Security-Token", token)
		r.Host = host
		if _, err := ver.Verify(context.Background(), r, []byte("{}")); err == nil {
			t.Fatalf("forged request verified: %q", authz)
		}
	})
}
