package ssmcli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

const pluginNotFound = "SessionManagerPlugin is not found. Please refer to SessionManager Documentation here: http://docs.aws.amazon.com/console/systems-manager/session-manager-plugin-not-found"

// startSession implements AWS CLI v2's start-session: call StartSession,
// then hand the response to session-manager-plugin. Without the plugin the
// session is terminated again and exit status is 255.
func (inv *invocation) startSession(ctx context.Context, c *client, endpoint string) error {
	raw, parsed, err := inv.sendRaw(ctx, c, inv.op, inv.params)
	if err != nil {
		return err
	}
	path, lookErr := inv.cfg.LookPath("session-manager-plugin")
	if inv.inProcess(path, lookErr) {
		return inv.runInProcess(ctx, c, parsed, endpoint)
	}
	if lookErr != nil {
		term := inv.model.Ops["terminate-session"]
		sid, _ := parsed["SessionId"].(string)
		tp := map[string]any{"SessionId": sid}
		inv.ob.set(tp, []string{"SessionId"})
		if _, _, err := inv.sendRaw(ctx, c, term, tp); err != nil {
			return err
		}
		return &generalError{pluginNotFound}
	}
	argv := []string{
		"session-manager-plugin",
		inv.responseWithMetadata(raw, parsed),
		inv.set.region,
		"StartSession",
		inv.set.profile,
		jsonWriter{ob: inv.ob, ensureASCII: true}.encode(inv.params),
		strings.TrimSuffix(endpoint, "/"),
	}
	inv.debugf("Running %s", pyValueRepr(toAnyList(argv), nil))
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inv.cfg.Stdin, inv.cfg.Stdout, inv.cfg.Stderr
	cmd.Env = os.Environ()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
	runErr := cmd.Run()
	signal.Stop(sigs)
	if runErr == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &generalError{fmt.Sprintf("Command '%s' died with <Signals.%s: %d>.", pyValueRepr(toAnyList(argv), nil), signalName(ws.Signal()), int(ws.Signal()))}
		}
		return &generalError{fmt.Sprintf("Command '%s' returned non-zero exit status %d.", pyValueRepr(toAnyList(argv), nil), ee.ExitCode())}
	}
	return &generalError{runErr.Error()}
}

// inProcess reports whether the session runs with Tether's own client:
// RunSession is set, not disabled by TETHER_SSM_PLUGIN=external, and the
// plugin on PATH is missing or is this program.
func (inv *invocation) inProcess(path string, lookErr error) bool {
	if inv.cfg.RunSession == nil {
		return false
	}
	if v, _ := inv.cfg.LookupEnv("TETHER_SSM_PLUGIN"); v == "external" {
		return false
	}
	if lookErr != nil {
		return true
	}
	self, err := os.Executable()
	if err != nil {
		return false
	}
	a, err1 := os.Stat(path)
	b, err2 := os.Stat(self)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// runInProcess hands the started session to RunSession; its status is the
// command's.
func (inv *invocation) runInProcess(ctx context.Context, c *client, parsed map[string]any, endpoint string) error {
	str := func(k string) string { v, _ := parsed[k].(string); return v }
	ss := StartedSession{SessionID: str("SessionId"), TokenValue: str("TokenValue"), StreamURL: str("StreamUrl"),
		Region: inv.set.region, Profile: inv.set.profile, Endpoint: strings.TrimSuffix(endpoint, "/")}
	if tr, ok := c.httpc.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		ss.TLS = tr.TLSClientConfig.Clone()
	}
	if t, ok := inv.params["Target"].(string); ok {
		ss.Target = t
	}
	if ps, ok := inv.params["Parameters"].(map[string]any); ok {
		ss.Parameters = map[string][]string{}
		for k, v := range ps {
			if list, ok := v.([]any); ok {
				for _, x := range list {
					if s, ok := x.(string); ok {
						ss.Parameters[k] = append(ss.Parameters[k], s)
					}
				}
			}
		}
	}
	if code := inv.cfg.RunSession(ctx, ss); code != 0 {
		return exitCode(code)
	}
	return nil
}

func signalName(s syscall.Signal) string {
	names := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM",
		syscall.SIGQUIT: "SIGQUIT", syscall.SIGHUP: "SIGHUP", syscall.SIGSEGV: "SIGSEGV", syscall.SIGABRT: "SIGABRT", syscall.SIGPIPE: "SIGPIPE"}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("SIG%d", int(s))
}

// responseWithMetadata is json.dumps of boto's response dict including
// ResponseMetadata, as the plugin receives it.
func (inv *invocation) responseWithMetadata(raw *rawResponse, parsed map[string]any) string {
	out := copyValue(parsed, inv.ob).(map[string]any)
	keys := inv.ob.keys(out)
	headers := map[string]any{}
	var hkeys []string
	pairs := raw.headerPairs
	if pairs == nil {
		for k := range raw.header {
			pairs = append(pairs, [2]string{strings.ToLower(k), strings.Join(raw.header.Values(k), ", ")})
		}
		sort.Slice(pairs, func(i, j int) bool { return pairs[i][0] < pairs[j][0] })
	}
	for _, p := range pairs {
		if prev, ok := headers[p[0]]; ok {
			headers[p[0]] = prev.(string) + ", " + p[1]
			continue
		}
		headers[p[0]] = p[1]
		hkeys = append(hkeys, p[0])
	}
	inv.ob.set(headers, hkeys)
	meta := map[string]any{}
	var mkeys []string
	if id := raw.header.Get("x-amzn-RequestId"); id != "" {
		meta["RequestId"] = id
		mkeys = append(mkeys, "RequestId")
	}
	meta["HTTPStatusCode"] = float64(raw.status)
	meta["HTTPHeaders"] = headers
	meta["RetryAttempts"] = float64(raw.retries)
	mkeys = append(mkeys, "HTTPStatusCode", "HTTPHeaders", "RetryAttempts")
	inv.ob.set(meta, mkeys)
	out["ResponseMetadata"] = meta
	inv.ob.set(out, append(keys, "ResponseMetadata"))
	return jsonWriter{ob: inv.ob, ensureASCII: true}.encode(out)
}
