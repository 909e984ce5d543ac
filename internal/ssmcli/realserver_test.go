package ssmcli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRealServer runs the real AWS CLI v2 and tether ssm against a real
// `tether server` (built from this module) and compares their output for
// a set of operations, including service errors from the server.
func TestRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a tether server and real CLIs")
	}
	if _, err := os.Stat(*flagAWS); *flagAWS == "" || err != nil {
		t.Skip("real AWS CLI not available")
	}
	bin := buildTether(t)
	dir := t.TempDir()
	cfg := `account_id: "123456789012"
users:
  - name: Mary-Major
    access_key_id: AKIAIOSFODNN7EXAMPLE
    secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
`
	must(t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600))
	port := closedPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	srv := exec.CommandContext(ctx, bin, "server", "--listen", addr, "--data-dir", dir, "--log-level", "warn")
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	must(t, srv.Start())
	t.Cleanup(func() {
		cancel()
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", srvLog.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tether server did not listen on %s: %s", addr, srvLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	e := " --endpoint-url http://" + addr + " --region us-east-1"
	cmds := []struct {
		name, cmd string
		env       []string
	}{
		{"describe-active", "describe-sessions --state Active" + e, nil},
		{"describe-history-table", "describe-sessions --state History --output table" + e, nil},
		{"describe-max-results-201", "describe-sessions --state Active --max-results 201" + e, nil},
		{"describe-state-bogus", "describe-sessions --state Bogus" + e, nil},
		{"get-connection-status", "get-connection-status --target mi-0123456789abcdef0 --output text" + e, nil},
		{"resume-unknown", "resume-session --session-id Mary-Major-0123456789abcdef0" + e, nil},
		{"terminate-unknown", "terminate-session --session-id Mary-Major-0123456789abcdef0 --output yaml" + e, nil},
		{"start-not-connected", "start-session --target mi-0123456789abcdef0" + e, nil},
		{"create-activation", "create-activation --iam-role SSMServiceRole --description lab --tags Key=Env,Value=dev" + e, nil},
		{"create-activation-text", "create-activation --iam-role SSMServiceRole --output text" + e, nil},
		{"describe-activations", "describe-activations --query 'length(ActivationList)'" + e, nil},
		{"describe-activations-table", "describe-activations --query 'ActivationList[].[IamRole,RegistrationLimit,Expired]' --output table" + e, nil},
		{"describe-activations-max-items", "describe-activations --max-items 1 --query 'length(ActivationList)'" + e, nil},
		{"delete-unknown-activation", "delete-activation --activation-id 00000000-0000-4000-8000-000000000000" + e, nil},
		{"describe-instance-information", "describe-instance-information --output yaml" + e, nil},
		{"bad-signature", "describe-sessions --state Active" + e, []string{"AWS_SECRET_ACCESS_KEY=wrong"}},
		{"unknown-key", "describe-sessions --state Active" + e, []string{"AWS_ACCESS_KEY_ID=AKIDUNKNOWN"}},
	}
	for _, c := range cmds {
		t.Run(c.name, func(t *testing.T) {
			want := runAgainst(t, *flagAWS, false, c.cmd, c.env)
			got := runAgainst(t, bin, true, c.cmd, c.env)
			if want.exit != got.exit {
				t.Errorf("exit: aws %d, tether %d (stderr %q / %q)", want.exit, got.exit, want.stderr, got.stderr)
			}
			if d := diffText("stdout", maskServer(want.stdout), maskServer(got.stdout)); d != "" {
				t.Error(d)
			}
			if d := diffText("stderr", maskServer(want.stderr), maskServer(got.stderr)); d != "" {
				t.Error(d)
			}
		})
	}
}

var serverVarying = []*regexp.Regexp{
	regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`),
	regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00`),
	regexp.MustCompile(`("NextToken": "|NEXTTOKEN\t)[A-Za-z0-9+/=_-]+`),
	regexp.MustCompile(`(?m)(^|"ActivationCode": "|\t)[A-Za-z0-9+/=]{20,}`),
}

func maskServer(s string) string {
	for _, re := range serverVarying {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			if i := strings.LastIndexAny(m, "\t\""); i >= 0 && i < len(m)-1 {
				return m[:i+1] + "<X>"
			}
			return "<X>"
		})
	}
	return s
}

func runAgainst(t *testing.T, cli string, isTether bool, args string, extraEnv []string) *runResult {
	t.Helper()
	home := t.TempDir()
	env := []string{"LANG=C.UTF-8", "HOME=" + home, "PATH=/usr/bin:/bin",
		"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials"}
	env = append(env, extraEnv...)
	prefix := cli + " ssm "
	limiter <- struct{}{}
	defer func() { <-limiter }()
	cmd := exec.Command("sh", "-c", prefix+args)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := &runResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}
