package e2e

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// TestServerKill9MidTransfer kills the server with SIGKILL in the middle of
// a 32 MiB port-forward transfer and starts it again on the same data dir:
// the agent and the client reconnect, the client resumes its session from
// the stored state, and the bytes arrive complete (SHA-256 equal).
func TestServerKill9MidTransfer(t *testing.T) {
	s := newStack(t, stackOptions{})
	const size = 32 << 20
	var restartedIn time.Duration
	killed := false
	echoThroughForward(t, s, size, func(got int) {
		if killed || got < size/4 {
			return
		}
		killed = true
		start := time.Now()
		syscall.Kill(s.server.cmd.Process.Pid, syscall.SIGKILL)
		<-s.server.done
		s.startServer("")
		restartedIn = time.Since(start)
	})
	t.Logf("server killed at %d MiB and listening again %v later; %d MiB echoed intact", size/4>>20, restartedIn.Round(time.Millisecond), size>>20)
	s.waitConnected()
}

// TestClientStoppedThirtySeconds stops the client process (SIGSTOP) in the
// middle of a transfer for 30 s — long enough for the gateway to declare it
// dead and pause the agent — then continues it: the session resumes and
// the transfer completes intact.
func TestClientStoppedThirtySeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 30 s")
	}
	s := newStack(t, stackOptions{})
	const size = 16 << 20
	stopped := false
	echoThroughForward(t, s, size, func(got int) {
		if stopped || got < size/4 {
			return
		}
		stopped = true
		// The forwarding client is the newest `tether ssm start-session`.
		pid := s.lastForward.cmd.Process.Pid
		syscall.Kill(pid, syscall.SIGSTOP)
		time.Sleep(30 * time.Second) // the scenario itself: a laptop lid closed for 30 s
		syscall.Kill(pid, syscall.SIGCONT)
	})
	// The gateway did see the client go: the resume was real.
	if log := s.server.Output(); !strings.Contains(log, "data channel detached") || !strings.Contains(log, "role=client") {
		t.Fatalf("the server never detached the stopped client; log:\n%s", log)
	}
}

// TestIdleTimeoutEndsSessionAndClientSaysSo: the client is away (stopped)
// longer than the idle timeout; the session is Terminated, ResumeSession
// answers DoesNotExistException, and the client, once continued, says the
// session can no longer be resumed and exits non-zero.
func TestIdleTimeoutEndsSessionAndClientSaysSo(t *testing.T) {
	s := newStack(t, stackOptions{config: []string{"idle_timeout: 2s"}})
	p := startPTY(t, s)
	p.expect(`Starting session with SessionId: (alice-[0-9a-f]+)`)
	id := regexp.MustCompile(`SessionId: (alice-[0-9a-f]+)`).FindStringSubmatch(p.screen())[1]
	p.typeLine("echo ready-$((1+1))")
	p.expect(`ready-2`)
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGSTOP)
	ctx := testCtx(t)
	waitFor(t, 60*time.Second, "the session is terminated by the idle timeout", func() bool {
		out, err := s.api.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: types.SessionStateHistory})
		if err != nil {
			return false
		}
		for _, x := range out.Sessions {
			if *x.SessionId == id && x.Status == types.SessionStatusTerminated {
				return true
			}
		}
		return false
	})
	_, err := s.api.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(id)})
	var dne *types.DoesNotExistException
	if !errors.As(err, &dne) {
		t.Fatalf("ResumeSession of the timed-out session = %v, want DoesNotExistException", err)
	}
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGCONT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("client exit = %v, want a non-zero status", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the client did not exit after its session timed out")
	}
	p.expect(`can no longer be resumed`)
	t.Logf("client said:\n%s", p.screen()[strings.LastIndex(p.screen(), "ready-2"):])
}
