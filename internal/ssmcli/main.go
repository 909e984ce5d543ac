package ssmcli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Config carries the environment of one invocation. The zero value uses
// the process's streams, environment and clock.
type Config struct {
	Stdin  io.Reader // nil: os.Stdin
	Stdout io.Writer // nil: os.Stdout
	Stderr io.Writer // nil: os.Stderr
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// LookPath finds executables (session-manager-plugin, the pager);
	// nil means exec.LookPath.
	LookPath func(string) (string, error)
	// Now is the clock used for signing; nil means time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil sleeps for real.
	Sleep func(context.Context, time.Duration) error
	// Version is printed by --version after "tether/".
	Version string
	// RunSession, if set, runs start-session's session in-process with
	// Tether's own client (automatic resume, the command's exit code) when
	// no session-manager-plugin is on PATH or the one found is this very
	// program. It returns the exit status. Nil, or the environment variable
	// TETHER_SSM_PLUGIN=external, keeps the AWS CLI's behaviour: run the
	// plugin found on PATH, or terminate the session and fail without one.
	RunSession func(ctx context.Context, s StartedSession) int
	// Logger receives debug records; nil discards them (--debug still
	// writes to stderr).
	Logger *slog.Logger
}

// StartedSession is what RunSession needs: the StartSession response and
// where it came from.
type StartedSession struct {
	SessionID, TokenValue, StreamURL string
	Region, Profile, Endpoint        string
	Target                           string
	Parameters                       map[string][]string
	// TLS is the API calls' TLS configuration (--ca-bundle,
	// AWS_CA_BUNDLE, the profile's ca_bundle, --no-verify-ssl), for the
	// session's own connections.
	TLS *tls.Config
}

// DefaultConfig returns a Config bound to the process.
func DefaultConfig() Config {
	return Config{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv,
		LookPath: exec.LookPath, Now: time.Now, Sleep: sleepCtx}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.Stdin == nil {
		c.Stdin = d.Stdin
	}
	if c.Stdout == nil {
		c.Stdout = d.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = d.Stderr
	}
	if c.LookupEnv == nil {
		c.LookupEnv = d.LookupEnv
	}
	if c.LookPath == nil {
		c.LookPath = d.LookPath
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Sleep == nil {
		c.Sleep = d.Sleep
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) getenv(k string) string {
	v, _ := c.LookupEnv(k)
	return v
}

// globals are the parsed global options.
type globals struct {
	debug, noVerifySSL, noPaginate, noSignRequest, noCLIPager bool
	endpointURL, output, query, profile, region, color        string
	caBundle, readTimeout, connectTimeout                     string
	hasQuery, hasEndpoint, hasReadTimeout, hasConnTimeout     bool
	autoPrompt                                                string // "true", "false" or "" (unset)
	hasRegion                                                 bool
}

func globalsFrom(p *parsedOpts) *globals {
	g := &globals{color: "auto"}
	str := func(k string) string { v, _ := p.get(k); return v }
	g.debug = p.has("--debug")
	g.noVerifySSL = p.has("--no-verify-ssl")
	g.noPaginate = p.has("--no-paginate")
	g.noSignRequest = p.has("--no-sign-request")
	g.noCLIPager = p.has("--no-cli-pager")
	g.endpointURL, g.hasEndpoint = p.get("--endpoint-url")
	g.output = str("--output")
	g.query, g.hasQuery = p.get("--query")
	g.profile = str("--profile")
	g.region, g.hasRegion = p.get("--region")
	if v, ok := p.get("--color"); ok {
		g.color = v
	}
	g.caBundle = str("--ca-bundle")
	g.autoPrompt, _ = p.get("--cli-auto-prompt")
	g.readTimeout, g.hasReadTimeout = p.get("--cli-read-timeout")
	g.connectTimeout, g.hasConnTimeout = p.get("--cli-connect-timeout")
	return g
}

// Main runs `tether ssm <args>` and returns the process exit code.
func Main(ctx context.Context, args []string, cfg Config) int {
	cfg.fill()
	inv := &invocation{cfg: cfg, ob: newOrderBook()}
	err := inv.run(ctx, args)
	if err == nil {
		return exitOK
	}
	if code, ok := err.(exitCode); ok {
		return int(code)
	}
	return reportError(cfg.Stderr, err)
}

// exitCode ends an invocation with a code after output was written.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// invocation is the state of one command run.
type invocation struct {
	cfg    Config
	ob     *orderBook
	model  *Model
	g      *globals
	op     *Operation
	opts   *parsedOpts
	specs  []*optSpec
	set    *settings
	q      *query
	params map[string]any
}

func (inv *invocation) debugf(format string, args ...any) {
	if inv.g != nil && inv.g.debug {
		fmt.Fprintf(inv.cfg.Stderr, "%s - MainThread - tether.ssm - DEBUG - %s\n",
			inv.cfg.Now().Format("2006-01-02 15:04:05,000"), fmt.Sprintf(format, args...))
	}
	inv.cfg.Logger.Debug(fmt.Sprintf(format, args...))
}

func (inv *invocation) versionString() string {
	v := inv.cfg.Version
	if v == "" {
		v = "dev"
	}
	return fmt.Sprintf("tether/%s aws-cli/2.9.19-compatible %s", v, osToken())
}

func (inv *invocation) run(ctx context.Context, args []string) error {
	m, err := loadModel()
	if err != nil {
		return &generalError{err.Error()}
	}
	inv.model = m
	gp := &parsedOpts{}
	gt := newOptTable(globalSpecs())
	rest, err := gt.parse(args, gp, func(s *optSpec) error {
		if s.name == "--version" {
			return versionRequested{}
		}
		return nil
	})
	if _, ok := err.(versionRequested); ok {
		fmt.Fprintln(inv.cfg.Stdout, inv.versionString())
		return nil
	}
	if err != nil {
		return err
	}
	inv.g = globalsFrom(gp)
	inv.debugf("CLI version: %s", inv.versionString())
	inv.debugf("Arguments entered to CLI: %s", pyValueRepr(toAnyList(append([]string{"ssm"}, args...)), nil))
	opName, rest, err := inv.pickOperation(rest)
	if err != nil {
		return err
	}
	if opName == "help" || (len(rest) == 1 && rest[0] == "help") {
		return inv.help(opName)
	}
	op, ok := m.Ops[opName]
	if !ok {
		return &validationError{fmt.Sprintf("tether ssm does not implement %s; supported operations: %s", opName, strings.Join(supportedOps(m), ", "))}
	}
	inv.op = op
	if err := inv.parseOperation(rest); err != nil {
		return err
	}
	return inv.execute(ctx)
}

func toAnyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func supportedOps(m *Model) []string {
	var out []string
	for _, n := range m.AllOperations {
		if _, ok := m.Ops[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// pickOperation is the service parser: the first positional argument.
func (inv *invocation) pickOperation(rest []string) (string, []string, error) {
	empty := newOptTable(nil)
	for i, a := range rest {
		if a == "--" {
			break
		}
		if empty.isOptionLike(a) {
			continue
		}
		choices := append(append([]string{}, inv.model.AllOperations...), "wait", "help")
		if !contains(choices, a) {
			return "", nil, &argError{"argument operation: " + invalidChoiceMsg(a, choices)}
		}
		out := append(append([]string{}, rest[:i]...), rest[i+1:]...)
		return a, out, nil
	}
	return "", nil, &argError{"the following arguments are required: operation"}
}

// parseOperation is the operation's argument-table parser.
func (inv *invocation) parseOperation(rest []string) error {
	inv.specs = operationSpecs(inv.op)
	inv.opts = &parsedOpts{}
	extra, err := newOptTable(inv.specs).parse(rest, inv.opts, nil)
	if err != nil {
		return err
	}
	if inv.autoPrompt() {
		if err := inv.promptRequired(); err != nil {
			return err
		}
	}
	if !requiredOverridden(rest) {
		var missing []string
		for _, s := range inv.specs {
			if s.required && !inv.opts.has(s.dest) {
				missing = append(missing, s.name)
			}
		}
		if len(missing) > 0 {
			return &argError{"the following arguments are required: " + strings.Join(missing, ", ")}
		}
	}
	if len(extra) > 0 {
		return &unknownArgsError{extra}
	}
	return nil
}

func (inv *invocation) help(opName string) error {
	w := inv.cfg.Stdout
	if opName == "help" || opName == "" {
		fmt.Fprintf(w, "usage: tether ssm <operation> [parameters]\n\noperations:\n")
		for _, n := range supportedOps(inv.model) {
			fmt.Fprintf(w, "  %s\n", n)
		}
		return nil
	}
	op, ok := inv.model.Ops[opName]
	if !ok {
		return &validationError{fmt.Sprintf("tether ssm does not implement %s", opName)}
	}
	fmt.Fprintf(w, "%s\n\nSYNOPSIS\n  tether ssm %s\n", op.CLIName, op.CLIName)
	for _, s := range operationSpecs(op) {
		req := ""
		if s.required {
			req = " (required)"
		}
		fmt.Fprintf(w, "    %s%s\n", s.name, req)
	}
	return nil
}
