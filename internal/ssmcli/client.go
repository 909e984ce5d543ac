package ssmcli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// client sends awsJson1_1 requests with SigV4 signing and the standard
// retry mode of botocore.
type client struct {
	httpc       *http.Client
	url         string // full request URL
	region      string
	sign        bool
	creds       *aws.Credentials
	credsFn     func() (aws.Credentials, error)
	maxAttempts int
	userAgent   string
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	rand        func() float64
	debug       func(format string, args ...any)
}

// rawResponse is one HTTP response.
type rawResponse struct {
	status      int
	header      http.Header
	headerPairs [][2]string // lower-cased names and raw values in wire order
	body        []byte
	retries     int
}

// requestURL joins the endpoint and the operation path "/" like botocore.
func requestURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", &validationError{fmt.Sprintf("Bad value for --endpoint-url \"%s\": scheme is missing.  Must be of the form http://<hostname>/ or https://<hostname>/", endpoint)}
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), nil
}

// defaultEndpoint applies the SSM endpoint rule set.
func defaultEndpoint(region string, fips, dualstack bool) string {
	dns, dualDNS := "amazonaws.com", "api.aws"
	switch {
	case strings.HasPrefix(region, "cn-"):
		dns, dualDNS = "amazonaws.com.cn", "api.amazonwebservices.com.cn"
	case strings.HasPrefix(region, "us-iso-"):
		dns, dualDNS = "c2s.ic.gov", "c2s.ic.gov"
	case strings.HasPrefix(region, "us-isob-"):
		dns, dualDNS = "sc2s.sgov.gov", "sc2s.sgov.gov"
	}
	host := "ssm"
	if fips && !strings.HasPrefix(region, "us-gov-") {
		host = "ssm-fips"
	}
	if dualstack {
		return fmt.Sprintf("https://%s.%s.%s", host, region, dualDNS)
	}
	return fmt.Sprintf("https://%s.%s.%s", host, region, dns)
}

// newHTTPClient builds the transport for the TLS and timeout options.
func newHTTPClient(g *globals, s *settings, connectTimeout, readTimeout time.Duration) (*http.Client, error) {
	tr := &http.Transport{
		// HTTPS proxies are tunnelled by recordingDialers itself.
		Proxy: func(r *http.Request) (*url.URL, error) {
			if r.URL.Scheme == "https" {
				return nil, nil
			}
			return http.ProxyFromEnvironment(r)
		},
		ResponseHeaderTimeout: readTimeout,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		DisableCompression:    true,
	}
	if g.noVerifySSL {
		tr.TLSClientConfig.InsecureSkipVerify = true
	} else if s.caBundle != "" {
		pem, err := os.ReadFile(expandUser(s.caBundle))
		if err != nil {
			return nil, &caBundleError{err: err}
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig.RootCAs = pool
	}
	tr.DialContext, tr.DialTLSContext = recordingDialers(&net.Dialer{Timeout: connectTimeout}, tr.TLSClientConfig)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// caBundleError defers a missing CA bundle to request time, as botocore.
type caBundleError struct{ err error }

func (e *caBundleError) Error() string { return e.err.Error() }

// call performs one operation with retries and returns the final response.
func (c *client) call(ctx context.Context, target string, body []byte) (*rawResponse, error) {
	var lastErr error
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, target, body)
		retryable := false
		if err != nil {
			retryable = isRetryableNetErr(err)
			lastErr = err
		} else if resp.status >= 300 {
			retryable = isRetryableResponse(resp)
		} else {
			resp.retries = attempt
			return resp, nil
		}
		if !retryable {
			if resp != nil {
				resp.retries = attempt
			}
			return resp, err
		}
		if attempt+1 >= c.maxAttempts {
			if resp != nil {
				resp.retries = attempt
				return resp, &maxAttemptsReached{retries: attempt}
			}
			return nil, lastErr
		}
		delay := time.Duration(c.rand() * math.Min(20, math.Pow(2, float64(attempt))) * float64(time.Second))
		c.debug("Retry needed, retrying request after delay of: %v", delay)
		if err := c.sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// maxAttemptsReached marks a response that used up every attempt.
type maxAttemptsReached struct{ retries int }

func (e *maxAttemptsReached) Error() string { return "max attempts reached" }

func (c *client) once(ctx context.Context, target string, body []byte) (*rawResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("User-Agent", c.userAgent)
	if c.sign {
		if c.creds == nil {
			cr, err := c.credsFn()
			if err != nil {
				return nil, err
			}
			c.creds = &cr
		}
		sum := sha256.Sum256(body)
		req.ContentLength = 0 // sign content-type;host;x-amz-date;x-amz-target like botocore
		if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
			SignHTTP(ctx, *c.creds, req, hex.EncodeToString(sum[:]), "ssm", c.region, c.now().UTC()); err != nil {
			return nil, fmt.Errorf("sign request: %w", err)
		}
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Accept-Encoding", "identity")
	c.debug("Sending http request: POST %s %s", c.url, target)
	var conn net.Conn
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conn = i.Conn }}))
	resp, err := c.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	var pairs [][2]string
	if rc, ok := conn.(*recConn); ok {
		pairs = rc.headerPairs()
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	c.debug("Response headers: %v", resp.Header)
	c.debug("Response body:\n%s", data)
	return &rawResponse{status: resp.StatusCode, header: resp.Header, headerPairs: pairs, body: data}, nil
}

var throttlingCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
	"RequestThrottledException": true, "TooManyRequestsException": true,
	"ProvisionedThroughputExceededException": true, "TransactionInProgressException": true,
	"RequestLimitExceeded": true, "BandwidthLimitExceeded": true, "LimitExceededException": true,
	"RequestThrottled": true, "SlowDown": true, "PriorRequestNotComplete": true,
	"EC2ThrottledException": true,
}

var transientCodes = map[string]bool{
	"RequestTimeout": true, "RequestTimeoutException": true, "PriorRequestNotComplete": true,
}

func isRetryableResponse(r *rawResponse) bool {
	switch r.status {
	case 500, 502, 503, 504:
		return true
	}
	code, _ := parseErrorBody(r)
	return throttlingCodes[code] || transientCodes[code]
}

func isRetryableNetErr(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var cb *caBundleError
	var ce *configError
	return !errors.As(err, &cb) && !errors.As(err, &ce)
}

// parseErrorBody extracts code and message like botocore's JSON error
// parser, including the generic handling of HTML / empty 5xx bodies.
func parseErrorBody(r *rawResponse) (code, message string) {
	trimmed := bytes.TrimSpace(r.body)
	if r.status >= 500 && (len(trimmed) == 0 || bytes.HasPrefix(trimmed, []byte("<html>"))) {
		return fmt.Sprint(r.status), http.StatusText(r.status)
	}
	body := map[string]any{}
	if len(r.body) > 0 {
		var v any
		if err := json.Unmarshal(r.body, &v); err == nil {
			if m, ok := v.(map[string]any); ok {
				body = m
			}
		} else {
			body = map[string]any{"message": string(r.body)}
		}
	}
	if m, ok := body["message"]; ok {
		message = pyStr(m)
	} else if m, ok := body["Message"]; ok {
		message = pyStr(m)
	}
	code = fmt.Sprint(r.status)
	if t, ok := body["__type"]; ok {
		code = pyStr(t)
	}
	if i := strings.LastIndex(code, "#"); i >= 0 {
		code = code[i+1:]
	}
	return code, message
}

// netErrorText renders a transport error like botocore's exceptions.
func netErrorText(err error, u string) string {
	var cb *caBundleError
	if errors.As(err, &cb) {
		return fmt.Sprintf("SSL validation failed for %s [Errno 2] No such file or directory", u)
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return fmt.Sprintf("SSL validation failed for %s [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:992)", u)
	}
	var hn x509.HostnameError
	if errors.As(err, &hn) {
		return fmt.Sprintf("SSL validation failed for %s [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid for '%s'. (_ssl.c:992)", u, hn.Host)
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) {
		return fmt.Sprintf("SSL validation failed for %s [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s (_ssl.c:992)", u, ci.Error())
	}
	var te interface{ Timeout() bool }
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		if oe.Timeout() {
			return fmt.Sprintf("Connect timeout on endpoint URL: \"%s\"", u)
		}
		return fmt.Sprintf("Could not connect to the endpoint URL: \"%s\"", u)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("Could not connect to the endpoint URL: \"%s\"", u)
	}
	if errors.As(err, &te) && te.Timeout() {
		return fmt.Sprintf("Read timeout on endpoint URL: \"%s\"", u)
	}
	var ue *url.Error
	if errors.As(err, &ue) && strings.Contains(ue.Err.Error(), "tls") {
		return fmt.Sprintf("SSL validation failed for %s %s", u, ue.Err.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Sprintf("Connection was closed before we received a valid response from endpoint URL: \"%s\".", u)
	}
	return fmt.Sprintf("Could not connect to the endpoint URL: \"%s\"", u)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func defaultRand() float64 { return rand.Float64() }
