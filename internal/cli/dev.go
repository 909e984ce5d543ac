package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tether-ssm/tether/internal/agent"
	"github.com/tether-ssm/tether/internal/agent/shell"
	"github.com/tether-ssm/tether/internal/auth"
	"github.com/tether-ssm/tether/internal/certs"
	"github.com/tether-ssm/tether/internal/nodes"
)

// devRegion is the region of `tether dev`'s credentials and env file.
const devRegion = "us-east-1"

// runDev is `tether dev`: the server with embedded storage, an admin user,
// and this machine registered as a managed node served by an embedded
// agent — everything a newcomer needs, in one command.
func runDev(ctx context.Context, args []string, stdio IO) int {
	fset := flag.NewFlagSet("tether dev", flag.ContinueOnError)
	fset.SetOutput(stdio.Err)
	o := serverOptions{}
	fset.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "address to serve the API and gateway on")
	fset.StringVar(&o.DataDir, "data-dir", ".tether-dev", "directory for the database, keys, credentials and the env file")
	fset.StringVar(&o.LogLevel, "log-level", "warn", "debug, info, warn or error")
	shellPath := fset.String("shell", "", "shell for sessions (default: your login shell)")
	useTLS := fset.Bool("tls", false, "serve HTTPS and WSS with a development CA kept in the data dir (ca.pem; the env file sets AWS_CA_BUNDLE)")
	if err := fset.Parse(args); err != nil {
		return flagExit(err)
	}
	if *useTLS {
		paths, err := devCerts(o)
		if err != nil {
			fmt.Fprintf(stdio.Err, "tether dev: %v\n", err)
			return 1
		}
		o.TLSCert, o.TLSKey, o.caBundle = paths.Cert, paths.Key, paths.CA
	}
	if err := dev(ctx, o, *shellPath, stdio); err != nil {
		fmt.Fprintf(stdio.Err, "tether dev: %v\n", err)
		return 1
	}
	return 0
}

func dev(ctx context.Context, o serverOptions, shellPath string, stdio IO) error {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	user, err := devUser(filepath.Join(o.DataDir, "config.yaml"))
	if err != nil {
		return err
	}
	rs, err := startServer(ctx, o, stdio.Err)
	if err != nil {
		return err
	}
	hc, err := agentHTTPClient(o.caBundle)
	if err != nil {
		rs.wait(canceledContext())
		return err
	}
	reg, err := devRegistration(ctx, rs, filepath.Join(o.DataDir, "agent"), hc)
	if err != nil {
		rs.wait(canceledContext())
		return err
	}
	a, err := agent.New(agent.Config{Registration: reg, Shell: shell.Config{Shell: shellPath, Logger: rs.log},
		HTTPClient: hc, Logger: rs.log})
	if err != nil {
		rs.wait(canceledContext())
		return err
	}
	agentCtx, stopAgent := context.WithCancel(context.WithoutCancel(ctx))
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); a.Run(agentCtx) }()

	envPath := filepath.Join(o.DataDir, "env")
	if err := writeDevEnv(envPath, user, rs.url, reg.NodeID, o.caBundle); err != nil {
		stopAgent()
		<-agentDone
		rs.wait(canceledContext())
		return err
	}
	printDevBanner(stdio.Out, rs.url, reg.NodeID, envPath, o.caBundle)
	err = rs.wait(ctx)
	stopAgent()
	<-agentDone
	fmt.Fprintln(stdio.Err, "tether dev stopped")
	return err
}

func canceledContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// devUser returns the admin user of config.yaml, creating the file with a
// fresh one if it does not exist.
func devUser(path string) (auth.User, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		var f serverFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			return auth.User{}, fmt.Errorf("parse %s: %w", path, err)
		}
		if len(f.Users) == 0 {
			return auth.User{}, fmt.Errorf("%s lists no users: remove it to get a fresh admin user", path)
		}
		return f.Users[0], nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return auth.User{}, err
	}
	u := auth.User{Name: "admin", AccessKeyID: "AKIA" + randomKey(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
		SecretAccessKey: randomKey(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
	f := serverFile{Config: auth.Config{AccountID: auth.DefaultAccountID, Users: []auth.User{u}}}
	out, err := yaml.Marshal(f)
	if err != nil {
		return auth.User{}, err
	}
	header := "# Written by `tether dev`: the development admin user. Keep it private.\n"
	if err := os.WriteFile(path, append([]byte(header), out...), 0o600); err != nil {
		return auth.User{}, fmt.Errorf("write %s: %w", path, err)
	}
	return u, nil
}

func randomKey(n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// devRegistration registers this machine through the real registration
// path (an activation, then POST /v1/register), once; later runs reuse the
// saved registration, pointed at the current address.
func devRegistration(ctx context.Context, rs *runningServer, dir string, hc *http.Client) (agent.Registration, error) {
	if reg, err := agent.LoadRegistration(dir); err == nil {
		reg.Server = rs.url
		return reg, agent.SaveRegistration(dir, reg)
	}
	limit := 1
	act, err := rs.nodes.CreateActivation(ctx, &nodes.CreateActivationInput{
		Description: "tether dev: this machine", DefaultInstanceName: "tether-dev", RegistrationLimit: &limit,
	})
	if err != nil {
		return agent.Registration{}, fmt.Errorf("create activation: %w", err)
	}
	reg, err := agent.Register(ctx, agent.RegisterOptions{Server: rs.url, Region: devRegion,
		ActivationID: act.ActivationID, ActivationCode: act.ActivationCode, HTTPClient: hc})
	if err != nil {
		return agent.Registration{}, err
	}
	return reg, agent.SaveRegistration(dir, reg)
}

// devCerts makes sure the data dir holds the development CA and a server
// certificate for the loopback names and the listen host.
func devCerts(o serverOptions) (certs.Paths, error) {
	cfg := certs.DefaultConfig()
	if host, _, err := net.SplitHostPort(o.Listen); err == nil && host != "" && !slices.Contains(cfg.Hosts, host) {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			cfg.Hosts = append(cfg.Hosts, host)
		}
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return certs.Paths{}, err
	}
	return certs.Ensure(dir, cfg)
}

// writeDevEnv writes the export lines that point AWS tools at Tether;
// caBundle, if set, is the CA they must trust.
func writeDevEnv(path string, u auth.User, url, nodeID, caBundle string) error {
	lines := []string{
		"export AWS_ACCESS_KEY_ID=" + u.AccessKeyID,
		"export AWS_SECRET_ACCESS_KEY=" + shellQuote(u.SecretAccessKey),
		"export AWS_REGION=" + devRegion,
		"export AWS_DEFAULT_REGION=" + devRegion,
		"export AWS_EC2_METADATA_DISABLED=true",
		"export AWS_ENDPOINT_URL_SSM=" + url,
		"export TETHER_ENDPOINT=" + url,
		"export TETHER_NODE_ID=" + nodeID,
	}
	if caBundle != "" {
		lines = append(lines, "export AWS_CA_BUNDLE="+shellQuote(caBundle))
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func printDevBanner(w io.Writer, url, nodeID, envPath, caBundle string) {
	ca := ""
	if caBundle != "" {
		ca = "\n  TLS CA           " + caBundle + " (AWS_CA_BUNDLE in the env file)"
	}
	fmt.Fprintf(w, `Tether is running.

  API and gateway  %s
  managed node     %s (this machine, served by the embedded agent)
  credentials      %s%s

Open a shell on the node:

  . %s
  tether ssm start-session --endpoint-url $TETHER_ENDPOINT --target $TETHER_NODE_ID

or with the AWS CLI (put tether on PATH as session-manager-plugin):

  ln -s "$(command -v tether)" ~/bin/session-manager-plugin
  aws ssm start-session --endpoint-url $TETHER_ENDPOINT --target $TETHER_NODE_ID

Press Ctrl-C to stop.
`, url, nodeID, envPath, ca, envPath)
}
