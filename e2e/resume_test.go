package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/faultproxy"
	"github.com/tether-ssm/tether/internal/wire"
)

// transferSize is the amount streamed each way under cuts (issue 5: 64 MiB).
var transferSize = envInt("TETHER_E2E_MIB", 64) << 20

// minCuts is the least number of connection cuts during a transfer.
const minCuts = 50

// cutter cuts the proxy's connections each time another `every` bytes
// have been received, so a transfer of n bytes sees about n/every cuts
// spread over it, whatever the speed.
type cutter struct {
	p     *faultproxy.Proxy
	every int
	next  int
	n     int
}

func newCutter(p *faultproxy.Proxy, total, cuts int) *cutter {
	every := total / (cuts + 10)
	return &cutter{p: p, every: every, next: every}
}

// progress reports the bytes received so far.
func (c *cutter) progress(got int) {
	for got >= c.next {
		c.p.Cut()
		c.n++
		c.next += c.every
	}
}

// proxiedStack is a stack whose StreamUrls point at a fault proxy.
func proxiedStack(t *testing.T) (*stack, *faultproxy.Proxy) {
	addr := freeAddr(t)
	proxy, err := faultproxy.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	s := newStackAt(t, addr, stackOptions{publicURL: "http://" + proxy.Addr()})
	return s, proxy
}

// TestPortForward64MiBUnderCuts streams 64 MiB each way through a port
// forward (tether ssm start-session, a separate process) while the
// client↔gateway connection is cut at least 50 times.
func TestPortForward64MiBUnderCuts(t *testing.T) {
	s, proxy := proxiedStack(t)
	forwardUnderCuts(t, s, proxy, transferSize, minCuts)
}

// TestShellCat64MiBUnderCuts streams 64 MiB of text through `cat` in a
// shell session (the Go session client, resuming through ResumeSession)
// while the connection is cut at least 50 times.
func TestShellCat64MiBUnderCuts(t *testing.T) {
	s, proxy := proxiedStack(t)
	ctx := testCtx(t)
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	out, err := s.api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(s.nodeID)})
	if err != nil {
		t.Fatal(err)
	}
	resume, err := client.SSMResumer(ctx, *out.SessionId, s.url, "us-east-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Open(ctx, client.Config{SessionID: *out.SessionId, StreamURL: *out.StreamUrl, Token: *out.TokenValue, Resume: resume})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Raw terminal, no echo: cat returns exactly what it reads.
	if err := c.Write(ctx, wire.PayloadOutput, []byte("stty raw -echo; echo READY; exec cat\n")); err != nil {
		t.Fatal(err)
	}
	var pre bytes.Buffer
	for !strings.Contains(pre.String(), "READY\r\n") && !strings.Contains(pre.String(), "READY\n") {
		p, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p.Type == wire.PayloadOutput {
			pre.Write(p.Data)
		}
	}
	// Text lines (base64) so no byte means anything to the terminal.
	raw := make([]byte, transferSize/4*3)
	rand.Read(raw)
	var text bytes.Buffer
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 0 {
		k := min(len(enc), 1000)
		text.WriteString(enc[:k])
		text.WriteByte('\n')
		enc = enc[k:]
	}
	data := text.Bytes()
	want := sha256.Sum256(data)

	cut := newCutter(proxy, len(data), minCuts)
	werr := make(chan error, 1)
	go func() {
		for p := data; len(p) > 0; {
			k := min(len(p), 256<<10)
			if err := c.Write(ctx, wire.PayloadOutput, p[:k]); err != nil {
				werr <- err
				return
			}
			p = p[k:]
		}
		werr <- nil
	}()
	h := sha256.New()
	got := 0
	start := time.Now()
	if os.Getenv("TETHER_E2E_DEBUG") != "" {
		go func() {
			for i := 0; ; i++ {
				time.Sleep(time.Second)
				t.Logf("progress: %d bytes, stats %+v", got, c.StatsForTest())
				if i == 5 {
					s.agent.cmd.Process.Signal(syscall.SIGQUIT)
					time.Sleep(time.Second)
					t.Logf("agent:\n%s", s.agent.Output())
				}
			}
		}()
	}
	for got < len(data) {
		p, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read %d of %d bytes after %d cuts: %v", got, len(data), cut.n, err)
		}
		if p.Type != wire.PayloadOutput {
			continue
		}
		h.Write(p.Data)
		got += len(p.Data)
		cut.progress(got)
	}
	cuts := cut.n
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if got != len(data) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("cat returned %d bytes with a different SHA-256 after %d cuts (sent %d)", got, cuts, len(data))
	}
	t.Logf("%d MiB through cat in %v with %d cuts", len(data)>>20, time.Since(start).Round(time.Millisecond), cuts)
	if cuts < minCuts {
		t.Fatalf("only %d cuts happened during the transfer; want at least %d", cuts, minCuts)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
