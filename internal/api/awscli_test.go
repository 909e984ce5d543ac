package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/store"
)

// cliResult is one run of an AWS CLI.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs `<cli> ssm <args…> --endpoint-url <url>` with dummy
// credentials (env overrides them) and an empty HOME.
func runCLI(t *testing.T, cli, url string, env map[string]string, args ...string) cliResult {
	t.Helper()
	vars := map[string]string{
		"HOME": t.TempDir(), "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin",
		"AWS_ACCESS_KEY_ID": maryKey, "AWS_SECRET_ACCESS_KEY": marySecret, "AWS_DEFAULT_REGION": "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
	}
	for k, v := range env {
		vars[k] = v
	}
	cmd := exec.Command(cli, append(append([]string{"ssm"}, args...), "--endpoint-url", url)...)
	for k, v := range vars {
		if v != "\x00" { // "\x00" unsets
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", cli, err)
	}
	return res
}

type cliCase struct {
	name string
	args []string
	env  map[string]string
	// Exactly one of ok or errCode.
	ok      func(t *testing.T, out map[string]any) // stdout parsed as JSON
	errCode string                                 // expected AWS error code
	errMsg  string                                 // expected message (prefix) after "operation: "
	op      string                                 // operation name in the error line
	// skew shifts the CLI's signing clock by this many seconds through the
	// testdata/cliplugin/tetherskew.py CLI plugin.
	skew int
}

// skewEnv loads the clock-skew plugin into the CLI (v2 by its legacy
// plugin path, v1 from PYTHONPATH).
func skewEnv(t *testing.T, cli string, seconds int, env map[string]string) map[string]string {
	t.Helper()
	dir, err := filepath.Abs("testdata/cliplugin")
	if err != nil {
		t.Fatal(err)
	}
	cfg := "[plugins]\ntetherskew = tetherskew\n"
	if cli == "v2" {
		cfg = "[plugins]\ncli_legacy_plugin_path = " + dir + "\ntetherskew = tetherskew\n"
	}
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{"AWS_CONFIG_FILE": path, "PYTHONPATH": dir, "TETHER_TEST_CLOCK_SKEW": fmt.Sprint(seconds)}
	for k, v := range env {
		out[k] = v
	}
	return out
}

func creds(key, secret string) map[string]string {
	return map[string]string{"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
}

// TestAWSCLI drives every operation and every error through the real AWS
// CLI v2 (/usr/bin/aws) and v1 (`aws` on PATH) against `tether server`.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	c := findClients()
	if c.v2 == "" && c.v1 == "" {
		t.Skip("no AWS CLI installed (apt-get install awscli)")
	}
	srv := startServer(t, "", "")
	st := seedStore(t, srv)
	active := seedSessions(t, st, "Mary-Major", maryARN, 2, store.StatusConnected)
	ended := seedSessions(t, st, "Mary-Major", maryARN, 1, store.StatusTerminated)
	johns := seedSessions(t, st, "John", johnARN, 1, store.StatusDisconnected)
	node := seedNode(t, st)

	streamURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/data-channel/"
	cases := []cliCase{
		{name: "start-session not connected", args: []string{"start-session", "--target", "mi-0123456789abcdef0"},
			errCode: "TargetNotConnected", op: "StartSession", errMsg: "mi-0123456789abcdef0 is not connected."},
		{name: "start-session unknown document", args: []string{"start-session", "--target", "mi-0123456789abcdef0", "--document-name", "AWS-Nope"},
			errCode: "InvalidDocument", op: "StartSession", errMsg: "Document AWS-Nope does not exist"},
		{name: "start-session bad parameters", args: []string{"start-session", "--target", "mi-0123456789abcdef0",
			"--document-name", "AWS-StartPortForwardingSession", "--parameters", "portNumber=99999"},
			errCode: "InvalidDocument", op: "StartSession", errMsg: "Parameter portNumber of document AWS-StartPortForwardingSession has an invalid value"},
		{name: "start-session bad document name", args: []string{"start-session", "--target", "i-1", "--document-name", "bad name!"},
			errCode: "ValidationException", op: "StartSession",
			errMsg: `1 validation error detected: Value 'bad name!' at 'documentName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\-.:/]{3,128}$`},
		{name: "start-session denied", args: []string{"start-session", "--target", "mi-0123456789abcdef0"}, env: creds(readerKey, secret),
			errCode: "AccessDeniedException", op: "StartSession", errMsg: "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: ssm:StartSession"},
		{name: "resume-session", args: []string{"resume-session", "--session-id", active[0]}, ok: func(t *testing.T, out map[string]any) {
			if out["SessionId"] != active[0] || out["StreamUrl"] != streamURL+active[0]+"?role=publish_subscribe" {
				t.Errorf("output %v", out)
			}
			if tok, _ := out["TokenValue"].(string); tok == "" || len(tok) > 300 {
				t.Errorf("TokenValue %q", tok)
			}
		}},
		{name: "resume-session temporary credentials", args: []string{"resume-session", "--session-id", johns[0]},
			env:     map[string]string{"AWS_ACCESS_KEY_ID": tempKey, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": tempToken},
			errCode: "AccessDeniedException", op: "ResumeSession", errMsg: "User: arn:aws:iam::123456789012:user/temp is not authorized to perform: ssm:ResumeSession on resource: arn:aws:ssm:"},
		{name: "resume-session by admin", args: []string{"resume-session", "--session-id", johns[0]}, env: creds(adminKey, secret),
			ok: func(t *testing.T, out map[string]any) {
				if out["SessionId"] != johns[0] {
					t.Errorf("output %v", out)
				}
			}},
		{name: "resume-session other's", args: []string{"resume-session", "--session-id", johns[0]},
			errCode: "AccessDeniedException", op: "ResumeSession", errMsg: "User: " + maryARN + " is not authorized to perform: ssm:ResumeSession"},
		{name: "resume-session unknown", args: []string{"resume-session", "--session-id", "Mary-Major-00000000000000000"},
			errCode: "DoesNotExistException", op: "ResumeSession", errMsg: "Session with id Mary-Major-00000000000000000 does not exist."},
		{name: "resume-session terminated", args: []string{"resume-session", "--session-id", ended[0]},
			errCode: "DoesNotExistException", op: "ResumeSession"},
		{name: "resume-session too long", args: []string{"resume-session", "--session-id", strings.Repeat("x", 97)},
			errCode: "ValidationException", op: "ResumeSession",
			errMsg: "1 validation error detected: Value '" + strings.Repeat("x", 97) + "' at 'sessionId' failed to satisfy constraint: Member must have length less than or equal to 96"},
		{name: "terminate-session", args: []string{"terminate-session", "--session-id", active[1]}, ok: func(t *testing.T, out map[string]any) {
			if out["SessionId"] != active[1] {
				t.Errorf("output %v", out)
			}
		}},
		{name: "terminate-session unknown is idempotent", args: []string{"terminate-session", "--session-id", "Mary-Major-nope"},
			ok: func(t *testing.T, out map[string]any) {
				if out["SessionId"] != "Mary-Major-nope" {
					t.Errorf("output %v", out)
				}
			}},
		{name: "terminate-session other's", args: []string{"terminate-session", "--session-id", johns[0]},
			errCode: "AccessDeniedException", op: "TerminateSession"},
		{name: "describe-sessions history", args: []string{"describe-sessions", "--state", "History", "--filters", "key=SessionId,value=" + ended[0]},
			ok: func(t *testing.T, out map[string]any) {
				list, _ := out["Sessions"].([]any)
				if len(list) != 1 {
					t.Fatalf("output %v", out)
				}
				s := list[0].(map[string]any)
				for _, k := range []string{"SessionId", "Target", "Status", "StartDate", "EndDate", "DocumentName", "Owner", "Reason", "OutputUrl"} {
					if s[k] == nil {
						t.Errorf("member %s missing in %v", k, s)
					}
				}
				if s["Status"] != "Terminated" || s["Owner"] != maryARN {
					t.Errorf("session %v", s)
				}
			}},
		{name: "describe-sessions bad state", args: []string{"describe-sessions", "--state", "Bogus"},
			errCode: "ValidationException", op: "DescribeSessions",
			errMsg: "1 validation error detected: Value 'Bogus' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]"},
		{name: "describe-sessions max results", args: []string{"describe-sessions", "--state", "Active", "--max-results", "201"},
			errCode: "ValidationException", op: "DescribeSessions",
			errMsg: "1 validation error detected: Value '201' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 200"},
		{name: "describe-sessions seven filters", args: []string{"describe-sessions", "--state", "Active", "--filters",
			"key=Target,value=a", "key=Owner,value=b", "key=Status,value=Connected", "key=SessionId,value=d",
			"key=InvokedAfter,value=2018-08-29T00:00:00Z", "key=InvokedBefore,value=2030-08-29T00:00:00Z", "key=Target,value=g"},
			errCode: "ValidationException", op: "DescribeSessions", errMsg: "1 validation error detected: Value '["},
		{name: "describe-sessions duplicate filter", args: []string{"describe-sessions", "--state", "Active", "--filters", "key=Target,value=a", "key=Target,value=b"},
			errCode: "InvalidFilterKey", op: "DescribeSessions", errMsg: "The filter key Target is specified more than once."},
		{name: "describe-sessions bad next token", args: []string{"describe-sessions", "--state", "Active", "--next-token", "page2"},
			errCode: "InvalidNextToken", op: "DescribeSessions", errMsg: "The specified token isn't valid."},
		{name: "get-connection-status", args: []string{"get-connection-status", "--target", node}, ok: func(t *testing.T, out map[string]any) {
			if out["Target"] != node || out["Status"] != "notconnected" {
				t.Errorf("output %v", out)
			}
		}},
		{name: "describe-instance-information", args: []string{"describe-instance-information", "--filters", "Key=InstanceIds,Values=" + node},
			ok: func(t *testing.T, out map[string]any) {
				list, _ := out["InstanceInformationList"].([]any)
				if len(list) != 1 {
					t.Fatalf("output %v", out)
				}
				i := list[0].(map[string]any)
				if i["InstanceId"] != node || i["PingStatus"] != "ConnectionLost" || i["PlatformType"] != "Linux" ||
					i["ComputerName"] != "web-1" || i["IPAddress"] != "10.0.0.7" || i["AgentVersion"] != "1.3.0.0" || i["LastPingDateTime"] == nil {
					t.Errorf("instance %v", i)
				}
			}},
		{name: "describe-instance-information bad key", args: []string{"describe-instance-information", "--filters", "Key=Colour,Values=red"},
			errCode: "InvalidFilterKey", op: "DescribeInstanceInformation"},
		{name: "describe-instance-information bad value", args: []string{"describe-instance-information", "--filters", "Key=PingStatus,Values=Asleep"},
			errCode: "InvalidInstanceInformationFilterValue", op: "DescribeInstanceInformation"},
		{name: "describe-instance-information bad id", args: []string{"describe-instance-information", "--instance-information-filter-list", "key=InstanceIds,valueSet=x-1"},
			errCode: "InvalidInstanceId", op: "DescribeInstanceInformation"},
		{name: "describe-activations bad token", args: []string{"describe-activations", "--next-token", "nope"},
			errCode: "InvalidNextToken", op: "DescribeActivations"},
		{name: "create-activation past expiry", args: []string{"create-activation", "--iam-role", "r", "--expiration-date", "2020-01-01T00:00:00Z"},
			errCode: "InvalidParameters", op: "CreateActivation"},
		{name: "delete-activation unknown", args: []string{"delete-activation", "--activation-id", "00000000-0000-4000-8000-000000000000"},
			errCode: "InvalidActivation", op: "DeleteActivation"},
		{name: "delete-activation malformed", args: []string{"delete-activation", "--activation-id", "nope"},
			errCode: "ValidationException", op: "DeleteActivation"},
		{name: "unknown access key", args: []string{"get-connection-status", "--target", "i-1"}, env: creds("AKIDNOBODY", secret),
			errCode: "UnrecognizedClientException", op: "GetConnectionStatus", errMsg: "The security token included in the request is invalid."},
		{name: "wrong secret", args: []string{"get-connection-status", "--target", "i-1"}, env: creds(maryKey, "wrong"),
			errCode: "InvalidSignatureException", op: "GetConnectionStatus", errMsg: "The request signature we calculated does not match the signature you provided."},
		{name: "wrong session token", args: []string{"get-connection-status", "--target", "i-1"},
			env:     map[string]string{"AWS_ACCESS_KEY_ID": tempKey, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "stale"},
			errCode: "UnrecognizedClientException", op: "GetConnectionStatus"},
		{name: "signature expired", args: []string{"get-connection-status", "--target", "i-1"}, skew: -600,
			errCode: "InvalidSignatureException", op: "GetConnectionStatus", errMsg: "Signature expired: "},
		{name: "signature not yet current", args: []string{"get-connection-status", "--target", "i-1"}, skew: 600,
			errCode: "InvalidSignatureException", op: "GetConnectionStatus", errMsg: "Signature not yet current: "},
		{name: "unsigned", args: []string{"get-connection-status", "--target", "i-1", "--no-sign-request"},
			errCode: "MissingAuthenticationTokenException", op: "GetConnectionStatus", errMsg: "Missing Authentication Token"},
	}
	for _, cli := range []struct{ name, path string }{{"v2", c.v2}, {"v1", c.v1}} {
		t.Run(cli.name, func(t *testing.T) {
			if cli.path == "" {
				t.Skipf("AWS CLI %s not installed", cli.name)
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					env := tc.env
					if tc.skew != 0 {
						env = skewEnv(t, cli.name, tc.skew, env)
					}
					res := runCLI(t, cli.path, srv.URL, env, tc.args...)
					checkCLI(t, cli.name, tc, res)
				})
			}
		})
	}
	// The terminated session moved to History and stays terminated.
	s, err := st.GetSession(context.Background(), active[1])
	if err != nil || s.Status != store.StatusTerminated || s.EndDate.IsZero() {
		t.Errorf("terminated session: %+v %v", s, err)
	}
}

func checkCLI(t *testing.T, cli string, tc cliCase, res cliResult) {
	t.Helper()
	if tc.ok != nil {
		if res.code != 0 {
			t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
			t.Fatalf("stdout is not JSON: %q", res.stdout)
		}
		tc.ok(t, out)
		return
	}
	want := 254 // awscli.md §6.1: service errors
	if cli == "v1" {
		want = 255
	}
	if res.code != want {
		t.Errorf("exit %d, want %d (stderr %q)", res.code, want, res.stderr)
	}
	if res.stdout != "" {
		t.Errorf("stdout not empty on error: %q", res.stdout)
	}
	line := "An error occurred (" + tc.errCode + ") when calling the " + tc.op + " operation: " + tc.errMsg
	if !strings.HasPrefix(res.stderr, "\n"+line) {
		t.Errorf("stderr:\n got %q\nwant prefix %q", res.stderr, "\n"+line)
	}
}

// TestAWSCLIPagination checks describe-sessions pagination through the real
// CLI: 7 sessions, 2 per page, so the CLI follows NextToken over 4 pages.
func TestAWSCLIPagination(t *testing.T) {
	t.Parallel()
	c := findClients()
	if c.v2 == "" && c.v1 == "" {
		t.Skip("no AWS CLI installed")
	}
	srv := startServer(t, "", "")
	st := seedStore(t, srv)
	const patARN = "arn:aws:iam::" + account + ":user/Pat"
	ids := seedSessions(t, st, "Pat", patARN, 7, store.StatusConnected)
	seedSessions(t, st, "Mary-Major", maryARN, 3, store.StatusConnected) // not listed: filtered out
	want := make([]string, len(ids))
	for i, id := range ids {
		want[len(ids)-1-i] = id // newest first
	}
	for _, cli := range []struct{ name, path string }{{"v2", c.v2}, {"v1", c.v1}} {
		t.Run(cli.name, func(t *testing.T) {
			if cli.path == "" {
				t.Skipf("AWS CLI %s not installed", cli.name)
			}
			t.Parallel()
			res := runCLI(t, cli.path, srv.URL, nil, "describe-sessions", "--state", "Active", "--page-size", "2",
				"--filters", "key=Owner,value="+patARN, "--debug")
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			if n := strings.Count(res.stderr, "Making request for OperationModel(name=DescribeSessions)"); n != 4 {
				t.Errorf("%d requests, want 4 pages", n)
			}
			var out struct {
				Sessions  []struct{ SessionId string }
				NextToken string
			}
			if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
				t.Fatalf("stdout %q", res.stdout)
			}
			var got []string
			for _, s := range out.Sessions {
				got = append(got, s.SessionId)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") || out.NextToken != "" {
				t.Errorf("sessions %v (token %q), want %v", got, out.NextToken, want)
			}

			// --max-items 3 stops mid-page with a CLI token; --starting-token resumes.
			res = runCLI(t, cli.path, srv.URL, nil, "describe-sessions", "--state", "Active", "--page-size", "2",
				"--filters", "key=Owner,value="+patARN, "--max-items", "3")
			if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || len(out.Sessions) != 3 || out.NextToken == "" {
				t.Fatalf("max-items: %q %v", res.stdout, err)
			}
			res = runCLI(t, cli.path, srv.URL, nil, "describe-sessions", "--state", "Active", "--page-size", "2",
				"--filters", "key=Owner,value="+patARN, "--starting-token", out.NextToken)
			out.Sessions, out.NextToken = nil, ""
			if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || len(out.Sessions) != 4 || out.Sessions[0].SessionId != want[3] {
				t.Fatalf("starting-token: %q %v", res.stdout, err)
			}
		})
	}
}

// TestAWSCLIActivations: create, describe and delete an activation with CLI v2.
func TestAWSCLIActivations(t *testing.T) {
	t.Parallel()
	c := findClients()
	if c.v2 == "" {
		t.Skip("AWS CLI v2 not installed")
	}
	srv := startServer(t, "", "")
	res := runCLI(t, c.v2, srv.URL, nil, "create-activation", "--iam-role", "SSMRole", "--registration-limit", "5",
		"--default-instance-name", "web", "--tags", "Key=Env,Value=dev")
	var created struct{ ActivationId, ActivationCode string }
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &created) != nil || created.ActivationId == "" || len(created.ActivationCode) != 20 {
		t.Fatalf("create: %+v", res)
	}
	res = runCLI(t, c.v2, srv.URL, nil, "describe-activations", "--filters", "FilterKey=ActivationIds,FilterValues="+created.ActivationId)
	var list struct {
		ActivationList []map[string]any
	}
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &list) != nil || len(list.ActivationList) != 1 {
		t.Fatalf("describe: %+v", res)
	}
	a := list.ActivationList[0]
	if a["IamRole"] != "SSMRole" || a["RegistrationLimit"] != 5.0 || a["RegistrationsCount"] != 0.0 || a["Expired"] != false ||
		a["DefaultInstanceName"] != "web" || a["ExpirationDate"] == nil || a["CreatedDate"] == nil {
		t.Errorf("activation %v", a)
	}
	if res = runCLI(t, c.v2, srv.URL, nil, "delete-activation", "--activation-id", created.ActivationId); res.code != 0 {
		t.Fatalf("delete: %+v", res)
	}
	res = runCLI(t, c.v2, srv.URL, nil, "delete-activation", "--activation-id", created.ActivationId)
	if res.code != 254 || !strings.Contains(res.stderr, "(InvalidActivation)") {
		t.Fatalf("delete again: %+v", res)
	}
}

// seedNode registers a managed node through the store.
func seedNode(t testing.TB, st store.Store) string {
	t.Helper()
	ctx := context.Background()
	a := store.Activation{ID: "11111111-2222-4333-8444-555555555555", CodeHash: []byte("x"), IamRole: "SSMRole",
		RegistrationLimit: 5, ExpirationDate: timeNow().Add(24 * time.Hour), CreatedDate: timeNow()}
	if err := st.CreateActivation(ctx, a); err != nil {
		t.Fatal(err)
	}
	n := store.Node{ID: "mi-0abcdef0123456789", ActivationID: a.ID, IamRole: "SSMRole", RegistrationDate: timeNow(),
		AccessKeyID: "AKIMNODE", SecretAccessKey: "nodesecret", AgentVersion: "1.3.0.0", PlatformType: "Linux",
		PlatformName: "Debian GNU/Linux", PlatformVersion: "12", ComputerName: "web-1", IPAddress: "10.0.0.7",
		LastPing: timeNow(), Tags: map[string]string{"Env": "dev"}}
	if err := st.RegisterNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	return n.ID
}

func timeNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
