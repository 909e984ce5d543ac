package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/tether-ssm/tether/internal/certs"
	"github.com/tether-ssm/tether/internal/faultproxy"
)

const awsV2 = "/usr/bin/aws"

// result is a finished command.
type result struct {
	stdout, stderr string
	code           int
}

// runEnv runs bin to completion (at most limit) with env(extraEnv...).
func runEnv(t *testing.T, limit time.Duration, extraEnv []string, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env(extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %v\nstdout:\n%s\nstderr:\n%s", bin, strings.Join(args, " "), limit, &stdout, &stderr)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// tlsDev is a running `tether dev --tls` and the settings of its env file.
type tlsDev struct {
	url, nodeID, ca string
	env             []string // the env file's variables, K=V
	api             *ssm.Client
}

// startTLSDev runs `tether dev --tls` in a fresh data dir and waits until
// its agent is connected.
func startTLSDev(t *testing.T) *tlsDev {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	p := startEnv(t, nil, tetherBin, "dev", "--tls", "--data-dir", dir, "--listen", addr, "--shell", "/bin/bash")
	waitFor(t, 60*time.Second, "tether dev runs", func() bool { return strings.Contains(p.Output(), "Tether is running") })
	b, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	d := &tlsDev{}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			t.Fatalf("env file line %q", line)
		}
		v = strings.ReplaceAll(strings.Trim(v, "'"), `'\''`, "'")
		vars[k] = v
		d.env = append(d.env, k+"="+v)
	}
	d.url, d.nodeID, d.ca = vars["TETHER_ENDPOINT"], vars["TETHER_NODE_ID"], vars["AWS_CA_BUNDLE"]
	if d.url != "https://"+addr || d.ca != filepath.Join(dir, certs.CAFile) {
		t.Fatalf("env file: endpoint %q, CA %q; want https://%s and %s", d.url, d.ca, addr, filepath.Join(dir, certs.CAFile))
	}
	tc, err := certs.ClientConfig(d.ca)
	if err != nil {
		t.Fatal(err)
	}
	d.api = ssm.New(ssm.Options{Region: vars["AWS_REGION"], BaseEndpoint: aws.String(d.url), HTTPClient: certs.HTTPClient(tc),
		Credentials: credentials.NewStaticCredentialsProvider(vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"], "")})
	waitFor(t, 30*time.Second, "the embedded agent is connected over TLS", func() bool {
		out, err := d.api.GetConnectionStatus(context.Background(), &ssm.GetConnectionStatusInput{Target: aws.String(d.nodeID)})
		return err == nil && out.Status == "connected"
	})
	return d
}

// without returns vars without the variable named k.
func without(vars []string, k string) []string {
	var out []string
	for _, kv := range vars {
		if !strings.HasPrefix(kv, k+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// waitPort waits for "Port N opened" in p's output and returns N.
func waitPort(t *testing.T, p *proc) string {
	t.Helper()
	rx := regexp.MustCompile(`Port (\d+) opened for sessionId `)
	var port string
	waitFor(t, 30*time.Second, "the local port opens", func() bool {
		if m := rx.FindStringSubmatch(p.Output()); m != nil {
			port = m[1]
		}
		return port != ""
	})
	return port
}

// echoParallel sends n bytes through addr on conns connections at once.
func echoParallel(t *testing.T, addr string, conns, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- echoThrough(addr, n) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLSDev: `tether dev --tls` serves HTTPS and WSS with its own CA; the
// real AWS CLI v2 (tether as its plugin) and `tether ssm`, given the env
// file's AWS_CA_BUNDLE, list the node, run a command and forward a port
// over wss; without the CA they fail at once with the AWS CLI's
// certificate error and a non-zero exit.
func TestTLSDev(t *testing.T) {
	if _, err := os.Stat(awsV2); err != nil {
		t.Skip("AWS CLI v2 (/usr/bin/aws) is not installed; .ci/run installs it")
	}
	d := startTLSDev(t)
	target := echoServer(t)
	_, echoPort, _ := net.SplitHostPort(target)
	clients := []struct{ name, bin string }{{"aws", awsV2}, {"tether ssm", tetherBin}}

	t.Run("StreamUrl is wss", func(t *testing.T) {
		out, err := d.api.StartSession(context.Background(), &ssm.StartSessionInput{Target: aws.String(d.nodeID)})
		if err != nil {
			t.Fatal(err)
		}
		defer d.api.TerminateSession(context.Background(), &ssm.TerminateSessionInput{SessionId: out.SessionId})
		if want := "wss://" + strings.TrimPrefix(d.url, "https://") + "/v1/data-channel/" + *out.SessionId; !strings.HasPrefix(*out.StreamUrl, want) {
			t.Fatalf("StreamUrl %q, want %s…", *out.StreamUrl, want)
		}
	})
	for _, c := range clients {
		t.Run(c.name+"/describe-instance-information", func(t *testing.T) {
			r := runEnv(t, 60*time.Second, d.env, c.bin, "ssm", "describe-instance-information", "--endpoint-url", d.url, "--output", "text",
				"--query", "InstanceInformationList[].[InstanceId,PingStatus]")
			if r.code != 0 || strings.TrimSpace(r.stdout) != d.nodeID+"\tOnline" {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
		t.Run(c.name+"/command", func(t *testing.T) {
			r := runEnv(t, 60*time.Second, d.env, c.bin, "ssm", "start-session", "--endpoint-url", d.url, "--target", d.nodeID,
				"--document-name", "AWS-StartNonInteractiveCommand", "--parameters", "command=echo tls-$((6*7))")
			if r.code != 0 || !strings.Contains(r.stdout, "tls-42") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
		t.Run(c.name+"/port forward", func(t *testing.T) {
			p := startEnv(t, d.env, c.bin, "ssm", "start-session", "--endpoint-url", d.url, "--target", d.nodeID,
				"--document-name", "AWS-StartPortForwardingSession", "--parameters", "portNumber="+echoPort+",localPortNumber=0")
			echoParallel(t, "127.0.0.1:"+waitPort(t, p), 4, 2<<20)
		})
		t.Run(c.name+"/without the CA", func(t *testing.T) {
			r := runEnv(t, 60*time.Second, without(d.env, "AWS_CA_BUNDLE"), c.bin, "ssm", "describe-instance-information", "--endpoint-url", d.url)
			want := "SSL validation failed for " + d.url + "/ [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:992)"
			if r.code != 255 || strings.TrimSpace(r.stderr) != want || r.stdout != "" {
				t.Fatalf("exit %d, want 255\nstdout:\n%s\nstderr:\n%s\nwant stderr:\n%s", r.code, r.stdout, r.stderr, want)
			}
		})
	}
	t.Run("boto3", func(t *testing.T) {
		script := "import boto3, os\n" +
			"c = boto3.client('ssm', endpoint_url=os.environ['TETHER_ENDPOINT'])\n" +
			"print(c.describe_instance_information()['InstanceInformationList'][0]['InstanceId'])\n"
		r := runEnv(t, 60*time.Second, d.env, "/usr/bin/python3", "-c", script)
		if r.code != 0 || strings.TrimSpace(r.stdout) != d.nodeID {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
	// The AWS CLI trusts the CA through --ca-bundle, but does not pass it to
	// the plugin: the plugin, without AWS_CA_BUNDLE, reports the
	// certificate error (and exits 0, as the real plugin does on every
	// path) instead of hanging.
	t.Run("aws/plugin without the CA", func(t *testing.T) {
		r := runEnv(t, 60*time.Second, without(d.env, "AWS_CA_BUNDLE"), awsV2, "ssm", "start-session", "--ca-bundle", d.ca,
			"--endpoint-url", d.url, "--target", d.nodeID, "--document-name", "AWS-StartNonInteractiveCommand", "--parameters", "command=echo no")
		if !strings.Contains(r.stdout, "Cannot perform start session: ") || !strings.Contains(r.stdout, "x509: certificate signed by unknown authority") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
}

// TestTLSServerAndAgent: `tether server --tls-cert --tls-key` with a
// certificate from a private CA; `tether agent register --ca-bundle` and
// `tether agent run` with AWS_CA_BUNDLE connect over HTTPS/WSS; `tether
// ssm` forwards a port and resumes over TLS after its wss link is cut; an
// agent without the CA fails to register with a certificate error.
func TestTLSServerAndAgent(t *testing.T) {
	dir := t.TempDir()
	p, err := certs.Ensure(filepath.Join(dir, "tls"), certs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("users:\n  - name: alice\n    access_key_id: %s\n    secret_access_key: %s\ntls_cert: tls/server.pem\ntls_key: tls/server-key.pem\n", accessKey, secretKey)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	url := "https://" + addr
	// StreamUrls point at a fault proxy, to cut the client's wss link.
	proxy, err := faultproxy.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	server := startEnv(t, nil, tetherBin, "server", "--listen", addr, "--data-dir", dir, "--log-level", "info",
		"--public-url", "https://"+proxy.Addr())
	waitFor(t, 20*time.Second, "the server listens over TLS", func() bool {
		return strings.Contains(server.Output(), `msg="tether server listening" addr=`+url)
	})
	caEnv := []string{"AWS_CA_BUNDLE=" + p.CA}
	act := runEnv(t, 60*time.Second, caEnv, tetherBin, "ssm", "create-activation", "--endpoint-url", url, "--iam-role", "SSMServiceRole",
		"--registration-limit", "2", "--query", "[ActivationId,ActivationCode]", "--output", "text")
	fields := strings.Fields(act.stdout)
	if act.code != 0 || len(fields) != 2 {
		t.Fatalf("create-activation: exit %d\n%s%s", act.code, act.stdout, act.stderr)
	}
	state := filepath.Join(dir, "agent-state")
	register := func(extra ...string) result {
		return runEnv(t, 60*time.Second, nil, tetherBin, append([]string{"agent", "register", "--server", url,
			"--activation-id", fields[0], "--activation-code", fields[1], "--state-dir", state}, extra...)...)
	}
	t.Run("agent without the CA", func(t *testing.T) {
		r := register()
		if r.code != 1 || !strings.Contains(r.stderr, "x509: certificate signed by unknown authority") {
			t.Fatalf("exit %d, want 1 and a certificate error\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	reg := register("--ca-bundle", p.CA)
	if reg.code != 0 {
		t.Fatalf("agent register: exit %d\n%s%s", reg.code, reg.stdout, reg.stderr)
	}
	nodeID := strings.TrimSuffix(strings.Fields(reg.stdout)[2], ".")
	startEnv(t, caEnv, tetherBin, "agent", "run", "--state-dir", state, "--shell", "/bin/bash")
	waitFor(t, 30*time.Second, "the agent is connected", func() bool {
		r := runEnv(t, 30*time.Second, caEnv, tetherBin, "ssm", "get-connection-status", "--endpoint-url", url, "--target", nodeID,
			"--query", "Status", "--output", "text")
		return strings.TrimSpace(r.stdout) == "connected"
	})
	target := echoServer(t)
	_, echoPort, _ := net.SplitHostPort(target)
	fwd := startEnv(t, caEnv, tetherBin, "ssm", "start-session", "--endpoint-url", url, "--target", nodeID,
		"--document-name", "AWS-StartPortForwardingSession", "--parameters", "portNumber="+echoPort+",localPortNumber=0")
	local := "127.0.0.1:" + waitPort(t, fwd)
	echoParallel(t, local, 8, 4<<20)
	// Each cut drops the wss link: the client calls ResumeSession over
	// HTTPS and dials the stream again through TLS; nothing is lost.
	for i := range 5 {
		if n := proxy.Cut(); n == 0 {
			t.Fatalf("cut %d: no connection to cut", i+1)
		}
		echoParallel(t, local, 2, 1<<20)
	}
	if !strings.Contains(fwd.Output(), "connection lost — resuming") {
		t.Fatalf("the client never reported a resume:\n%s", fwd.Output())
	}
}

// TestTLSPluginBadCABundle: the plugin entry point given an unreadable
// AWS_CA_BUNDLE says so, in the real plugin's words, before connecting.
func TestTLSPluginBadCABundle(t *testing.T) {
	plugin := filepath.Join(filepath.Dir(tetherBin), "session-manager-plugin")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	start := `{"SessionId": "alice-0123456789abcdef0", "TokenValue": "token", "StreamUrl": "wss://127.0.0.1:1/v1/data-channel/alice-0123456789abcdef0"}`
	r := runEnv(t, 30*time.Second, []string{"AWS_CA_BUNDLE=" + missing}, plugin, start, "us-east-1", "StartSession", "",
		`{"Target": "mi-0123456789abcdef0"}`, "https://127.0.0.1:1")
	want := "Cannot perform start session: CA bundle: open " + missing + ": no such file or directory\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("exit %d\nstdout:\n%q\nwant:\n%q\nstderr:\n%s", r.code, r.stdout, want, r.stderr)
	}
}
