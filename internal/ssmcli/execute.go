package ssmcli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func osToken() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "Linux"
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return "Linux/" + b.String()
}

// execute runs a parsed operation: parameters, skeletons, the request(s)
// and the output, in the order awscli performs them.
func (inv *invocation) execute(ctx context.Context) error {
	set, err := loadSettings(ctx, inv.g, inv.cfg.getenv)
	if err != nil {
		return err
	}
	inv.set = set
	if inv.g.hasQuery {
		if inv.q, err = compileQuery(inv.g.query); err != nil {
			return err
		}
		inv.ob.hashes = inv.q.hashes
	}
	if set.timestampFormat != "iso8601" && set.timestampFormat != "wire" {
		return &configError{fmt.Sprintf(`Unknown cli_timestamp_format value: %s, valid values are "wire" or "iso8601"`, set.timestampFormat)}
	}
	paginate, err := inv.paginationWanted()
	if err != nil {
		return err
	}
	if inv.params, err = buildParams(inv.op, inv.specs, inv.opts, inv.ob); err != nil {
		return err
	}
	if err := applyCLIInput(inv.opts, inv.params, inv.ob); err != nil {
		return err
	}
	skel, hasSkel := inv.opts.get("--generate-cli-skeleton")
	if hasSkel && skel != "output" {
		return inv.inputSkeleton(skel)
	}
	if pg := inv.op.Pager; pg != nil {
		// Pagination parameters given through --cli-input-* turn it off too.
		if _, ok := inv.params[pg.InputToken]; ok {
			paginate = false
		}
		if _, ok := inv.params[pg.LimitKey]; ok {
			paginate = false
		}
	}
	c, endpoint, err := inv.newClient(ctx)
	if err != nil {
		return err
	}
	if hasSkel {
		if err := validateParams(inv.params, inv.op.Input, inv.ob); err != nil {
			return err
		}
		return inv.outputSkeleton()
	}
	if inv.g.noVerifySSL && strings.HasPrefix(c.url, "https://") {
		// urllib3's warning, as the Debian CLI prints it.
		fmt.Fprintf(inv.cfg.Stderr, "/usr/lib/python3/dist-packages/urllib3/connectionpool.py:1065: InsecureRequestWarning: Unverified HTTPS request is being made to host '%s'. Adding certificate verification is strongly advised. See: https://urllib3.readthedocs.io/en/1.26.x/advanced-usage.html#ssl-warnings\n  warnings.warn(\n", hostOf(c.url))
	}
	inv.debugf("Making request for OperationModel(name=%s) with params: %s", inv.op.Name, pyValueRepr(inv.params, inv.ob))
	switch {
	case inv.op.CLIName == "start-session":
		return inv.startSession(ctx, c, endpoint)
	case paginate:
		return inv.paginated(ctx, c)
	}
	resp, err := inv.send(ctx, c, inv.params)
	if err != nil {
		return err
	}
	return inv.output(single(resp))
}

// paginationWanted applies awscli's paging rules: auto-pagination unless
// --no-paginate or a manual token/limit option, and no paging options
// together with --no-paginate.
func (inv *invocation) paginationWanted() (bool, error) {
	pg := inv.op.Pager
	if pg == nil {
		return false, nil
	}
	paginate := !inv.g.noPaginate
	for _, opt := range []string{"--" + xformName(pg.InputToken), "--" + xformName(pg.LimitKey)} {
		if inv.opts.has(opt) {
			paginate = false
		}
	}
	if paginate {
		return true, nil
	}
	var used []string
	for _, p := range []string{"--starting-token", "--page-size", "--max-items"} {
		if v, ok := inv.opts.get(p); ok && v != "" && v != "0" { // Python truthiness
			used = append(used, p)
		}
	}
	if len(used) > 0 {
		return false, &validationError{"Cannot specify --no-paginate along with pagination arguments: " + strings.Join(used, ", ")}
	}
	return false, nil
}

// newClient does what botocore's create_client checks: retry mode,
// timeouts, region, endpoint, TLS settings.
func (inv *invocation) newClient(ctx context.Context) (*client, string, error) {
	set := inv.set
	if err := set.validateRetryMode(); err != nil {
		return nil, "", err
	}
	connectTimeout, readTimeout := 60*time.Second, 60*time.Second
	for _, t := range []struct {
		given bool
		value string
		dst   *time.Duration
	}{{inv.g.hasReadTimeout, inv.g.readTimeout, &readTimeout}, {inv.g.hasConnTimeout, inv.g.connectTimeout, &connectTimeout}} {
		if !t.given {
			continue
		}
		n, err := pyInt(t.value)
		if err != nil {
			return nil, "", &generalError{err.Error()}
		}
		*t.dst = time.Duration(n) * time.Second
	}
	if set.region == "" && !(set.regionSet && (inv.g.hasEndpoint || set.endpointURL != "")) {
		return nil, "", &configError{`You must specify a region. You can also configure your region by running "aws configure".`}
	}
	endpoint := set.endpointURL
	if inv.g.hasEndpoint {
		endpoint = inv.g.endpointURL
	}
	if endpoint == "" {
		endpoint = defaultEndpoint(set.region, isTrue(inv.cfg.getenv("AWS_USE_FIPS_ENDPOINT")), isTrue(inv.cfg.getenv("AWS_USE_DUALSTACK_ENDPOINT")))
	}
	u, err := requestURL(endpoint)
	if err != nil {
		return nil, "", err
	}
	httpc, err := newHTTPClient(inv.g, set, connectTimeout, readTimeout)
	if err != nil {
		return nil, "", &generalError{netErrorText(err, u)}
	}
	return &client{
		httpc: httpc, url: u, region: set.region, sign: !inv.g.noSignRequest,
		credsFn:     func() (aws.Credentials, error) { return set.credentials(ctx) },
		maxAttempts: max(set.maxAttempts, 1),
		userAgent:   fmt.Sprintf("%s command/ssm.%s", inv.versionString(), inv.op.CLIName),
		now:         inv.cfg.Now, sleep: inv.cfg.Sleep, rand: defaultRand, debug: inv.debugf,
	}, endpoint, nil
}

func isTrue(s string) bool { return strings.EqualFold(s, "true") }

func hostOf(u string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if i := strings.IndexAny(h, "/"); i >= 0 {
		h = h[:i]
	}
	if i := strings.LastIndex(h, ":"); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return strings.Trim(h, "[]")
}

// send serialises params, performs the call and parses the result.
func (inv *invocation) send(ctx context.Context, c *client, params map[string]any) (map[string]any, error) {
	_, m, err := inv.sendRaw(ctx, c, inv.op, params)
	return m, err
}

func (inv *invocation) sendRaw(ctx context.Context, c *client, op *Operation, params map[string]any) (*rawResponse, map[string]any, error) {
	if err := validateParams(params, op.Input, inv.ob); err != nil {
		return nil, nil, err
	}
	wire := serializeParams(copyValue(params, inv.ob), op.Input)
	body := []byte(jsonWriter{ob: inv.ob, ensureASCII: true}.encode(wire))
	resp, err := c.call(ctx, inv.model.TargetPrefix+"."+op.Name, body)
	if err != nil {
		if ma, ok := err.(*maxAttemptsReached); ok && resp != nil {
			code, msg := parseErrorBody(resp)
			return nil, nil, &serviceError{code: code, message: msg, operation: op.Name, retries: ma.retries, maxAttemptsReached: true, status: resp.status}
		}
		var ce *configError
		if errors.As(err, &ce) {
			return nil, nil, err
		}
		return nil, nil, &generalError{netErrorText(err, c.url)}
	}
	if resp.status >= 300 {
		code, msg := parseErrorBody(resp)
		return nil, nil, &serviceError{code: code, message: msg, operation: op.Name, retries: resp.retries, status: resp.status}
	}
	inv.debugf("RequestId: %s", resp.header.Get("x-amzn-RequestId"))
	ts := timestampFormatter{wire: inv.set.timestampFormat == "wire", loc: time.Local}
	return resp, parseResponseBody(resp.body, op.Output, ts, inv.ob), nil
}

// copyValue deep-copies a value, keeping key order.
func copyValue(v any, ob *orderBook) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		keys := ob.keys(x)
		for _, k := range keys {
			out[k] = copyValue(x[k], ob)
		}
		ob.set(out, keys)
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyValue(e, ob)
		}
		return out
	}
	return v
}
