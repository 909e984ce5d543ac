package ssmcli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The differential test runs every applicable golden case of
// shared/testdata/awscli/cases.json (and this package's own cases in
// testdata/extra_cases.json) through the built tether binary, against a
// fresh fake SSM server per run, and compares stdout, stderr and exit code
// with the recorded expectation and, when /usr/bin/aws exists, with the
// real AWS CLI v2 run live against the same kind of server.

var (
	flagCases   = flag.String("cases", "../../../shared/testdata/awscli/cases.json", "golden cases recorded with the real AWS CLI")
	flagAWS     = flag.String("aws", "/usr/bin/aws", "real AWS CLI v2; empty disables the live comparison")
	flagRun     = flag.String("case", "", "regexp selecting case names")
	flagUpdate  = flag.Bool("update", false, "record testdata/extra_cases.golden.json from the real AWS CLI")
	flagLiveOwn = flag.Bool("liveown", false, "also run the real AWS CLI live for this package's own cases")
)

const extraGolden = "testdata/extra_cases.golden.json"

// golden is a recorded result of the real AWS CLI for an own case,
// normalised to the placeholders of cases.json.
type golden struct {
	Exit   int    `json:"exit_code"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

type caseRec struct {
	Name     string             `json:"name"`
	CLI      string             `json:"cli"`
	Cmd      string             `json:"cmd"`
	PTY      bool               `json:"pty"`
	Env      map[string]*string `json:"env_overrides"`
	Files    map[string]string  `json:"files"`
	Stdin    *string            `json:"stdin"`
	Server   json.RawMessage    `json:"server_mode"`
	Exit     int                `json:"exit_code"`
	Stdout   string             `json:"stdout"`
	Stderr   string             `json:"stderr"`
	Requests []json.RawMessage  `json:"requests"`
	Recorded bool               `json:"-"`
	Own      bool               `json:"-"`
}

type runResult struct {
	exit           int
	stdout, stderr string
	requests       []fakeRequest
	plugin         string
	pager          string
}

// skipReason says why a case cannot run here.
func skipReason(c *caseRec) string {
	switch {
	case c.CLI != "v2":
		return "AWS CLI v1 case"
	case strings.HasPrefix(c.Name, "help-"):
		return "man-page help is not reproduced"
	case c.Name == "no-args-aws":
		return "top-level `aws` without a command has no tether ssm equivalent"
	case c.PTY && !hasScript():
		return "script(1) not available"
	}
	return ""
}

func hasScript() bool {
	_, err := exec.LookPath("script")
	return err == nil
}

var (
	buildOnce sync.Once
	tetherBin string
	buildErr  error
)

// TestMain removes the tether binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if tetherBin != "" {
		os.RemoveAll(filepath.Dir(tetherBin))
	}
	os.Exit(code)
}

func buildTether(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tether-ssmcli-bin")
		if err != nil {
			buildErr = err
			return
		}
		tetherBin = filepath.Join(dir, "tether")
		goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goCmd); err != nil {
			goCmd = "go"
		}
		out, err := exec.Command(goCmd, "build", "-o", tetherBin, "github.com/tether-ssm/tether/cmd/tether").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return tetherBin
}

func loadCases(t *testing.T) []*caseRec {
	t.Helper()
	var out []*caseRec
	if b, err := os.ReadFile(*flagCases); err == nil {
		var m map[string]*caseRec
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for name, c := range m {
			c.Name, c.Recorded = name, true
			out = append(out, c)
		}
	} else {
		t.Logf("golden cases not found (%v); running own cases only", err)
	}
	b, err := os.ReadFile("testdata/extra_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var extra []*caseRec
	if err := json.Unmarshal(b, &extra); err != nil {
		t.Fatal(err)
	}
	goldens := map[string]golden{}
	if b, err := os.ReadFile(extraGolden); err == nil {
		if err := json.Unmarshal(b, &goldens); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range extra {
		c.Own = true
		if g, ok := goldens[c.Name]; ok && !*flagUpdate {
			c.Recorded, c.Exit, c.Stdout, c.Stderr = true, g.Exit, g.Stdout, g.Stderr
		}
		if c.CLI == "" {
			c.CLI = "v2"
		}
		if c.Server == nil {
			c.Server = json.RawMessage(`{"mode": "canned"}`)
		}
	}
	out = append(out, extra...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// limiter bounds concurrent CLI processes (2 shared cores).
var limiter = make(chan struct{}, 2)

// env is one prepared sandbox for a run.
type sandbox struct {
	home, work, plugin, caFile string
	ports                      map[string]string // canonical port -> actual
	servers                    []*fakeSSM
	env                        []string
	cmd                        string
}

var portRe = regexp.MustCompile(`127\.0\.0\.1:(18080|18443|18081|18099)|localhost:(18443)`)

func newSandbox(t *testing.T, c *caseRec, ca *testCA, cliPath string, isTether bool) *sandbox {
	t.Helper()
	root := t.TempDir()
	sb := &sandbox{home: filepath.Join(root, "home"), work: filepath.Join(root, "work"), plugin: filepath.Join(root, "plugin")}
	for _, d := range []string{sb.home, sb.work, sb.plugin, filepath.Join(sb.work, "bin2")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sb.caFile = filepath.Join(root, "ca.pem")
	must(t, os.WriteFile(sb.caFile, ca.pem, 0o644))
	var mode serverMode
	must(t, json.Unmarshal(c.Server, &mode))
	counter := new(int)
	httpSrv := startFake(t, mode, counter, nil)
	tlsSrv := startFake(t, mode, counter, &tls.Config{Certificates: []tls.Certificate{ca.server}})
	sb.servers = []*fakeSSM{httpSrv, tlsSrv}
	sb.ports = map[string]string{
		"18080": strconv.Itoa(httpSrv.port()),
		"18443": strconv.Itoa(tlsSrv.port()),
		"18081": strconv.Itoa(closedPort(t)),
		"18099": strconv.Itoa(blackholePort(t)),
	}
	// Stand-ins.
	must(t, os.WriteFile(filepath.Join(sb.plugin, "session-manager-plugin"), []byte(`#!/bin/sh
if [ "$#" = 1 ] && [ "$1" = "--version" ]; then echo "${FAKE_PLUGIN_VERSION:-1.2.650.0}"; exit 0; fi
for a in "$@"; do printf '%s\037' "$a"; done >> "$(dirname "$0")/invocations.log"
printf '\n' >> "$(dirname "$0")/invocations.log"
echo "fake-plugin: started with $# args"
exit ${FAKE_PLUGIN_EXIT:-0}
`), 0o755))
	must(t, os.WriteFile(filepath.Join(sb.work, "fakepager"), []byte(`#!/bin/sh
printf '[fakepager]\n'
cat
printf '%s|LESS=%s|LV=%s\n' "$*" "$LESS" "${LV-unset}" >> "$(dirname "$0")/pager.jsonl"
`), 0o755))
	if isTether {
		must(t, os.WriteFile(filepath.Join(sb.work, "bin2", "aws"), []byte("#!/bin/sh\nif [ \"$1\" = ssm ]; then exec "+cliPath+" \"$@\"; fi\nexec "+cliPath+" ssm \"$@\"\n"), 0o755))
	} else {
		must(t, os.Symlink(cliPath, filepath.Join(sb.work, "bin2", "aws")))
	}
	for p, content := range c.Files {
		path := sb.expand(p)
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, []byte(sb.expand(content)), 0o644))
	}
	path := sb.work + "/bin2:/usr/bin:/bin"
	if strings.Contains(c.Cmd, "start-session") && !strings.Contains(c.Name, "start-no-plugin") {
		path = sb.plugin + ":" + path
	}
	env := map[string]string{
		"LANG": "C.UTF-8", "HOME": sb.home,
		"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(sb.home, ".aws", "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(sb.home, ".aws", "credentials"),
		"PATH":                        path,
		// The AWS CLI's plugin hand-off, not Tether's in-process client.
		"TETHER_SSM_PLUGIN": "external",
	}
	if strings.HasPrefix(c.Name, "help-") {
		env["MANPAGER"], env["PAGER"] = "cat", "cat"
	}
	if strings.HasPrefix(c.Name, "default-endpoint-") {
		// Instead of a hosts-file entry: a CONNECT proxy to the TLS server.
		env["HTTPS_PROXY"] = "http://" + connectProxy(t, "127.0.0.1:"+sb.ports["18443"])
	}
	for k, v := range c.Env {
		if v == nil {
			delete(env, k)
		} else {
			env[k] = sb.expand(*v)
		}
	}
	for k, v := range env {
		sb.env = append(sb.env, k+"="+v)
	}
	sort.Strings(sb.env)
	sb.cmd = sb.expand(c.Cmd)
	return sb
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (sb *sandbox) expand(s string) string {
	s = strings.NewReplacer("$HOME", sb.home, "$WORK", sb.work, "$PLUGIN_DIR", sb.plugin, "$CA_BUNDLE", sb.caFile).Replace(s)
	return portRe.ReplaceAllStringFunc(s, func(m string) string {
		host, port, _ := strings.Cut(m, ":")
		return host + ":" + sb.ports[port]
	})
}

// normalize maps a run's output back to placeholders and masks values
// that vary per run.
func (sb *sandbox) normalize(s string) string {
	if sb != nil {
		for canon, actual := range sb.ports {
			s = strings.ReplaceAll(s, "127.0.0.1:"+actual, "127.0.0.1:"+canon)
			s = strings.ReplaceAll(s, "localhost:"+actual, "localhost:"+canon)
		}
		s = strings.NewReplacer(sb.work, "$WORK", sb.home, "$HOME", sb.plugin, "$PLUGIN_DIR", sb.caFile, "$CA_BUNDLE").Replace(s)
	}
	return normalizeVarying(s)
}

var varying = []struct {
	re  *regexp.Regexp
	rep string
}{
	{regexp.MustCompile(`aws-cli/\S+ Python/\S+ Linux/\S+ source/\S+( prompt/\S+)?`), "<VERSION>"},
	{regexp.MustCompile(`tether/\S+ aws-cli/\S+-compatible Linux/\S+`), "<VERSION>"},
	{regexp.MustCompile(`11111111-2222-3333-4444-\d{12}`), "<REQUEST-ID>"},
	{regexp.MustCompile(`[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT`), "<DATE>"},
}

func normalizeVarying(s string) string {
	for _, v := range varying {
		s = v.re.ReplaceAllString(s, v.rep)
	}
	return s
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

// blackholePort returns a port whose accept queue is full, so that new
// SYNs are dropped and connects time out.
func blackholePort(t *testing.T) int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	must(t, err)
	must(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	must(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	must(t, err)
	port := sa.(*syscall.SockaddrInet4).Port
	t.Cleanup(func() { syscall.Close(fd) })
	for i := 0; i < 3; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return port
}

// run executes the case's command line with the CLI at cliPath.
func runCase(t *testing.T, c *caseRec, ca *testCA, cliPath string, isTether bool) (*runResult, *sandbox) {
	t.Helper()
	sb := newSandbox(t, c, ca, cliPath, isTether)
	limiter <- struct{}{}
	defer func() { <-limiter }()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if c.PTY {
		cmd = exec.CommandContext(ctx, "script", "-q", "-e", "-c", sb.cmd, "/dev/null")
		sb.env = append(sb.env, "TERM=xterm")
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", sb.cmd)
	}
	cmd.Dir = sb.work
	cmd.Env = sb.env
	if c.Stdin != nil {
		cmd.Stdin = strings.NewReader(*c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := &runResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", sb.cmd, err)
	}
	for _, s := range sb.servers {
		s.mu.Lock()
		res.requests = append(res.requests, s.requests...)
		s.mu.Unlock()
	}
	if b, err := os.ReadFile(filepath.Join(sb.plugin, "invocations.log")); err == nil {
		res.plugin = string(b)
	}
	if b, err := os.ReadFile(filepath.Join(sb.work, "pager.jsonl")); err == nil {
		res.pager = string(b)
	}
	return res, sb
}

// diffText describes the first difference between two outputs.
func diffText(label, want, got string) string {
	if want == got {
		return ""
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(i-60, 0)
	return fmt.Sprintf("%s differs at byte %d:\n  want …%q\n  got  …%q", label, i, want[lo:min(len(want), i+80)], got[lo:min(len(got), i+80)])
}

func compare(want, got *runResult, wantSB, gotSB *sandbox, debugCase bool) []string {
	var diffs []string
	if want.exit != got.exit {
		diffs = append(diffs, fmt.Sprintf("exit code: want %d, got %d", want.exit, got.exit))
	}
	if d := diffText("stdout", wantSB.normalize(want.stdout), gotSB.normalize(got.stdout)); d != "" {
		diffs = append(diffs, d)
	}
	if !debugCase {
		if d := diffText("stderr", wantSB.normalize(want.stderr), gotSB.normalize(got.stderr)); d != "" {
			diffs = append(diffs, d)
		}
	}
	return diffs
}
