package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/debugserver"
	"github.com/tether-ssm/tether/internal/wire"
)

// usage is what a process holds: open file descriptors, threads, RSS,
// goroutines (from its --debug-listen endpoint).
type usage struct{ fds, threads, rssKiB, goroutines int }

func (u usage) String() string {
	return fmt.Sprintf("%d fds, %d threads, %d KiB RSS, %d goroutines", u.fds, u.threads, u.rssKiB, u.goroutines)
}

// goroutinesOf reads a process's goroutine count from its debug listener.
func goroutinesOf(t *testing.T, debugAddr string) int {
	t.Helper()
	resp, err := http.Get("http://" + debugAddr + "/debug/goroutines")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st debugserver.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("goroutines of %s: %v", debugAddr, err)
	}
	return st.Goroutines
}

func usageOf(t *testing.T, pid int, debugAddr string) usage {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	u := usage{fds: len(ents), goroutines: goroutinesOf(t, debugAddr)}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			u.rssKiB, _ = strconv.Atoi(f[1])
		case "Threads:":
			u.threads, _ = strconv.Atoi(f[1])
		}
	}
	return u
}

// TestThousandSessionsLeakNothing: issue 6 (f). 1,000 port sessions are
// started, used (handshake done), and terminated; the server's and the
// agent's file descriptors come back to their baseline, and their memory
// stays near it; so do their goroutine counts (read from --debug-listen).
func TestThousandSessionsLeakNothing(t *testing.T) {
	n := envInt("TETHER_E2E_SESSIONS", 1000)
	s := newStack(t, stackOptions{})
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	target := echoServer(t)
	_, port, _ := strings.Cut(target, ":")
	ctx := testCtx(t)
	one := func() error {
		out, err := s.api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(s.nodeID),
			DocumentName: aws.String("AWS-StartPortForwardingSession"),
			Parameters:   map[string][]string{"portNumber": {port}}})
		if err != nil {
			return err
		}
		c, err := client.Open(ctx, client.Config{SessionID: *out.SessionId, StreamURL: *out.StreamUrl, Token: *out.TokenValue})
		if err != nil {
			return err
		}
		defer c.Close()
		// The handshake completes: the agent really served the session.
		for {
			p, err := c.Read(ctx)
			if err != nil {
				return fmt.Errorf("session %s: %w", *out.SessionId, err)
			}
			if p.Type == wire.PayloadHandshakeComplete {
				break
			}
		}
		_, err = s.api.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: out.SessionId})
		if err != nil {
			return err
		}
		select {
		case <-c.Done():
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("session %s: no channel_closed after TerminateSession", *out.SessionId)
		}
	}
	run := func(count int) {
		var wg sync.WaitGroup
		errs := make(chan error, count)
		sem := make(chan struct{}, 4)
		for range count {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				errs <- one()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	run(60) // warm up: connection pools (SQLite readers), caches, the first allocations
	srvPid, agentPid := s.server.cmd.Process.Pid, s.agent.cmd.Process.Pid
	settle := func() (usage, usage) {
		var a, b usage
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) { // let closing sockets and goroutines finish
			a, b = usageOf(t, srvPid, s.serverDebug), usageOf(t, agentPid, s.agentDebug)
			time.Sleep(200 * time.Millisecond)
			if a2, b2 := usageOf(t, srvPid, s.serverDebug), usageOf(t, agentPid, s.agentDebug); a2.fds == a.fds && b2.fds == b.fds {
				break
			}
		}
		return a, b
	}
	srv0, agent0 := settle()
	start := time.Now()
	run(n)
	elapsed := time.Since(start)
	// Slack for pooled resources that are not per session: the server's
	// SQLite read pool (up to 8 connections, 2 descriptors each) and the
	// keep-alive connections of this test's API client (up to 4). Measured:
	// +5 to +8 after 1,000 or 3,000 sessions. A leak of one descriptor per
	// session would show as about n.
	const slack = 24
	// Goroutines: the same pools (a reader goroutine per pooled HTTP
	// connection, up to two each) plus the debug listener's own request.
	// A leak of one goroutine per session would show as about n.
	const goroutineSlack = 16
	var srv1, agent1 usage
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		srv1, agent1 = usageOf(t, srvPid, s.serverDebug), usageOf(t, agentPid, s.agentDebug)
		if srv1.fds <= srv0.fds+slack && agent1.fds <= agent0.fds+slack &&
			srv1.goroutines <= srv0.goroutines+goroutineSlack && agent1.goroutines <= agent0.goroutines+goroutineSlack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file descriptors or goroutines not back to the baseline after %d sessions: server %v → %v; agent %v → %v", n, srv0, srv1, agent0, agent1)
		}
	}
	t.Logf("%d sessions in %v; server %v → %v; agent %v → %v", n, elapsed.Round(time.Millisecond), srv0, srv1, agent0, agent1)
	for name, pair := range map[string][2]usage{"server": {srv0, srv1}, "agent": {agent0, agent1}} {
		before, after := pair[0], pair[1]
		if after.rssKiB > before.rssKiB*3/2+16<<10 {
			t.Errorf("%s memory grew from %d to %d KiB over %d sessions", name, before.rssKiB, after.rssKiB, n)
		}
		if after.threads > before.threads+8 {
			t.Errorf("%s threads grew from %d to %d", name, before.threads, after.threads)
		}
	}
}
