package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/tether-ssm/tether/internal/certs"
)

// PluginVersion is what `session-manager-plugin --version` prints: four
// parts and above 1.2.497.0, so AWS CLI v1 hands the StartSession response
// over in the AWS_SSM_START_SESSION_RESPONSE environment variable.
const PluginVersion = Version

// PluginIO is the environment of the plugin entry point.
type PluginIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Unsetenv       func(string) error
	Logger         *slog.Logger
}

// PluginMain is the session-manager-plugin entry point, with the AWS CLI's
// calling convention (protocol.md §1): args are argv[1:],
//
//	<response JSON | AWS_SSM_START_SESSION_RESPONSE> <region> StartSession <profile> <parameters JSON> <endpoint>
//
// It behaves as the real plugin does on every path, and adds Tether's
// automatic resume. It returns the exit status (0 on every normal path, as
// the real plugin).
func PluginMain(ctx context.Context, args []string, pio PluginIO) int {
	out := pio.Stdout
	switch {
	case len(args) == 0:
		fmt.Fprint(out, "\nThe Session Manager plugin was installed successfully. Use the AWS CLI to start a session.\n\n")
		return 0
	case len(args) == 1 && args[0] == "--version":
		fmt.Fprintln(out, PluginVersion)
		return 0
	case len(args) < 3:
		fmt.Fprintf(out, "\nUnknown operation %s. \nUse session-manager-plugin --version to check the version.\n\n", args[0])
		return 0
	}
	raw := args[0]
	if strings.HasPrefix(raw, "AWS_SSM_START_SESSION_RESPONSE") {
		name := raw
		raw = pio.Getenv(name)
		if pio.Unsetenv != nil {
			pio.Unsetenv(name)
		}
	}
	region, operation := args[1], args[2]
	if operation != "StartSession" {
		fmt.Fprint(out, "Invalid Operation")
		return 0
	}
	var profile, endpoint string
	var params struct {
		Target     string              `json:"Target"`
		Parameters map[string][]string `json:"Parameters"`
	}
	if len(args) > 3 {
		profile = args[3]
	}
	if len(args) > 4 {
		if err := json.Unmarshal([]byte(args[4]), &params); err != nil {
			fmt.Fprintf(out, "Cannot perform start session: parse parameters: %v\n", err)
			return 0
		}
	}
	if len(args) > 5 {
		endpoint = args[5]
	}
	var start StartResponse
	if err := json.Unmarshal([]byte(raw), &start); err != nil || start.SessionID == "" || start.TokenValue == "" || start.StreamURL == "" {
		fmt.Fprintf(out, "Cannot perform start session: the StartSession response must have SessionId, TokenValue and StreamUrl\n")
		return 0
	}
	tc, err := pluginTLS(pio.Getenv)
	if err != nil {
		fmt.Fprintf(out, "Cannot perform start session: %v\n", err)
		return 0
	}
	return Run(ctx, RunOptions{
		Start: start, Endpoint: endpoint, Region: region, Profile: profile, Parameters: params.Parameters,
		Stdin: pio.Stdin, Stdout: out, Stderr: pio.Stderr, PluginMode: true, TLS: tc, Logger: pio.Logger,
	})
}

// pluginTLS is the TLS configuration of the plugin's connections: trust
// the CA bundle of AWS_CA_BUNDLE (the AWS CLI passes the endpoint, not its
// TLS options, so a private CA comes through the environment); nil means
// the system roots.
func pluginTLS(getenv func(string) string) (*tls.Config, error) {
	if getenv == nil || getenv("AWS_CA_BUNDLE") == "" {
		return nil, nil
	}
	return certs.ClientConfig(getenv("AWS_CA_BUNDLE"))
}

// OSPluginIO is the process's real plugin environment.
func OSPluginIO() PluginIO {
	return PluginIO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Unsetenv: os.Unsetenv}
}
