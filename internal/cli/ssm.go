package cli

import (
	"context"
	"os"

	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/ssmcli"
)

// runSSM is `tether ssm <operation> …`, the AWS-CLI-compatible client.
func runSSM(ctx context.Context, args []string, stdio IO) int {
	cfg := ssmcli.DefaultConfig()
	cfg.Stdin, cfg.Stdout, cfg.Stderr = stdio.In, stdio.Out, stdio.Err
	if stdio.Getenv != nil {
		cfg.LookupEnv = func(k string) (string, bool) {
			if v := stdio.Getenv(k); v != "" {
				return v, true
			}
			_, ok := os.LookupEnv(k) // distinguishes set-but-empty (AWS_PAGER="")
			return "", ok
		}
	}
	cfg.Version = Version
	cfg.RunSession = func(ctx context.Context, ss ssmcli.StartedSession) int {
		return client.Run(ctx, client.RunOptions{
			Start:    client.StartResponse{SessionID: ss.SessionID, TokenValue: ss.TokenValue, StreamURL: ss.StreamURL},
			Endpoint: ss.Endpoint, Region: ss.Region, Profile: ss.Profile, Parameters: ss.Parameters,
			Stdin: stdio.In, Stdout: stdio.Out, Stderr: stdio.Err, TLS: ss.TLS,
		})
	}
	return ssmcli.Main(ctx, args, cfg)
}
