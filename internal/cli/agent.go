package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tether-ssm/tether/internal/agent"
	"github.com/tether-ssm/tether/internal/agent/shell"
	"github.com/tether-ssm/tether/internal/certs"
	"github.com/tether-ssm/tether/internal/debugserver"
)

// defaultStateDir is where the agent keeps its registration.
func defaultStateDir(stdio IO) string {
	if os.Geteuid() == 0 {
		return "/var/lib/tether-agent"
	}
	if d := stdio.getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "tether-agent")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state", "tether-agent")
}

func runAgent(ctx context.Context, args []string, stdio IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdio.Err, "usage: tether agent register --server URL --activation-id ID --activation-code CODE [--state-dir DIR] [--ca-bundle FILE]\n       tether agent run [--state-dir DIR] [--shell PATH] [--ca-bundle FILE]\n")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "register":
		return runAgentRegister(ctx, args[1:], stdio)
	case "run":
		return runAgentRun(ctx, args[1:], stdio)
	}
	fmt.Fprintf(stdio.Err, "tether agent: unknown command %q (want register or run)\n", args[0])
	return 2
}

func runAgentRegister(ctx context.Context, args []string, stdio IO) int {
	fs := flag.NewFlagSet("tether agent register", flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	var o agent.RegisterOptions
	fs.StringVar(&o.Server, "server", "", "base URL of the Tether server, e.g. https://tether.example.com")
	fs.StringVar(&o.ActivationID, "activation-id", "", "activation id from create-activation")
	fs.StringVar(&o.ActivationCode, "activation-code", "", "activation code from create-activation")
	fs.StringVar(&o.Region, "region", "us-east-1", "signing region")
	stateDir := fs.String("state-dir", defaultStateDir(stdio), "directory for the registration (0700, files 0600)")
	caBundle := caBundleFlag(fs, stdio)
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if o.Server == "" || o.ActivationID == "" || o.ActivationCode == "" {
		fmt.Fprintln(stdio.Err, "tether agent register: --server, --activation-id and --activation-code are required")
		return 2
	}
	hc, err := agentHTTPClient(*caBundle)
	if err != nil {
		fmt.Fprintf(stdio.Err, "tether agent register: %v\n", err)
		return 1
	}
	o.HTTPClient = hc
	reg, err := agent.Register(ctx, o)
	if err != nil {
		fmt.Fprintf(stdio.Err, "tether agent register: %v\n", err)
		return 1
	}
	if err := agent.SaveRegistration(*stateDir, reg); err != nil {
		fmt.Fprintf(stdio.Err, "tether agent register: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdio.Out, "Registered as %s. Credentials saved in %s.\nStart the agent with: tether agent run --state-dir %s\n",
		reg.NodeID, filepath.Join(*stateDir, agent.RegistrationFile), *stateDir)
	return 0
}

func runAgentRun(ctx context.Context, args []string, stdio IO) int {
	fs := flag.NewFlagSet("tether agent run", flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	stateDir := fs.String("state-dir", defaultStateDir(stdio), "directory holding the registration")
	shellPath := fs.String("shell", "", "shell for sessions (default: the run-as user's login shell)")
	runAs := fs.String("run-as", "", "run sessions as this user (the agent must run as root)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	caBundle := caBundleFlag(fs, stdio)
	debugListen := fs.String("debug-listen", "", "serve /debug/pprof/ and /debug/goroutines on this address (loopback; default off)")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stdio.Err, "tether agent run: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stdio.Err, &slog.HandlerOptions{Level: level}))
	reg, err := agent.LoadRegistration(*stateDir)
	if err != nil {
		fmt.Fprintf(stdio.Err, "tether agent run: %v\n", err)
		return 1
	}
	hc, err := agentHTTPClient(*caBundle)
	if err != nil {
		fmt.Fprintf(stdio.Err, "tether agent run: %v\n", err)
		return 1
	}
	a, err := agent.New(agent.Config{Registration: reg, Shell: shell.Config{Shell: *shellPath, RunAsUser: *runAs, Logger: log},
		HTTPClient: hc, Logger: log})
	if err != nil {
		fmt.Fprintf(stdio.Err, "tether agent run: %v\n", err)
		return 1
	}
	if *debugListen != "" {
		dbg, err := debugserver.Start(*debugListen, log)
		if err != nil {
			fmt.Fprintf(stdio.Err, "tether agent run: %v\n", err)
			return 1
		}
		defer dbg.Close()
	}
	log.Info("tether agent starting", "node_id", reg.NodeID, "server", reg.Server, "version", agent.Version)
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stdio.Err, "tether agent run: %v\n", err)
		return 1
	}
	return 0
}

// caBundleFlag defines --ca-bundle, defaulting to $AWS_CA_BUNDLE.
func caBundleFlag(fs *flag.FlagSet, stdio IO) *string {
	return fs.String("ca-bundle", stdio.getenv("AWS_CA_BUNDLE"),
		"PEM file of the CA certificates to trust for an https:// server, instead of the system's (default $AWS_CA_BUNDLE)")
}

// agentHTTPClient is the agent's client for the gateway: REST calls time
// out after 15 s (as the real agent's); caBundle "" means the system roots.
func agentHTTPClient(caBundle string) (*http.Client, error) {
	tc, err := certs.ClientConfig(caBundle)
	if err != nil {
		return nil, err
	}
	hc := certs.HTTPClient(tc)
	hc.Timeout = 15 * time.Second
	return hc, nil
}

// flagExit maps a flag parsing error to an exit code.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
