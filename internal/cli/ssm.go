package cli

import (
	"context"
	"os"

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
	return ssmcli.Main(ctx, args, cfg)
}
