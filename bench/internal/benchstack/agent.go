package benchstack

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// StartAgent registers an agent through an activation (api's
// CreateActivation, then `tether agent register`) and runs `tether agent
// run` with shell ("" for the agent's default) and Env() plus extraEnv,
// until the node is connected. It returns the agent process and node id.
func StartAgent(ctx context.Context, api *ssm.Client, bin, url, stateDir, shell string, extraEnv ...string) (*Proc, string, error) {
	limit := int32(1)
	act, err := api.CreateActivation(ctx, &ssm.CreateActivationInput{IamRole: aws.String("SSMServiceRole"), RegistrationLimit: &limit})
	if err != nil {
		return nil, "", fmt.Errorf("create activation: %w", err)
	}
	env := append(Env(), extraEnv...)
	reg := exec.CommandContext(ctx, bin, "agent", "register", "--server", url, "--activation-id", *act.ActivationId,
		"--activation-code", *act.ActivationCode, "--state-dir", stateDir)
	reg.Env = env
	out, err := reg.CombinedOutput()
	if err != nil {
		return nil, "", fmt.Errorf("agent register: %v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 3 || !strings.HasPrefix(fields[2], "mi-") {
		return nil, "", fmt.Errorf("agent register printed %q", out)
	}
	nodeID := strings.TrimSuffix(fields[2], ".")
	args := []string{"agent", "run", "--state-dir", stateDir, "--log-level", "warn"}
	if shell != "" {
		args = append(args, "--shell", shell)
	}
	p, err := Start(bin, stateDir+".log", env, args...)
	if err != nil {
		return nil, "", err
	}
	err = WaitFor(30*time.Second, "agent connected", func() bool {
		out, err := api.GetConnectionStatus(ctx, &ssm.GetConnectionStatusInput{Target: aws.String(nodeID)})
		return err == nil && out.Status == "connected"
	})
	if err != nil {
		p.Stop()
		return nil, "", fmt.Errorf("%w (agent log %s)", err, p.Log)
	}
	return p, nodeID, nil
}
