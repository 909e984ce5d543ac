package cli

import (
	"context"
	"os"

	"github.com/tether-ssm/tether/internal/client"
)

// runPlugin is `tether session-manager-plugin …`, also reached through a
// symlink named session-manager-plugin: the AWS CLI's plugin convention.
func runPlugin(ctx context.Context, args []string, stdio IO) int {
	return client.PluginMain(ctx, args, client.PluginIO{
		Stdin: stdio.In, Stdout: stdio.Out, Stderr: stdio.Err, Getenv: stdio.getenv, Unsetenv: os.Unsetenv,
	})
}
