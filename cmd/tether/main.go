// Command tether is the single binary of Tether: server, agent, dev mode and
// the AWS-compatible `tether ssm` client. All logic lives in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tether-ssm/tether/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, cli.Stdio())
	stop()
	os.Exit(code)
}
