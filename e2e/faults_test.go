package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/faultproxy"
)

// bigSize is the transfer of the fault scenarios (issue 6: 256 MiB).
var bigSize = envInt("TETHER_E2E_BIG_MIB", 256) << 20

// echoThroughForward pushes size random bytes each way through a new
// port forward to an echo server, calling progress with the bytes received
// so far after every read (where a test injects its fault), and fails the
// test unless what came back has the SHA-256 of what was sent.
func echoThroughForward(t *testing.T, s *stack, size int, progress func(got int)) time.Duration {
	t.Helper()
	target := echoServer(t)
	_, port, _ := net.SplitHostPort(target)
	_, local := startForward(t, s, "AWS-StartPortForwardingSession", "portNumber="+port+",localPortNumber=0")
	conn, err := net.Dial("tcp", "127.0.0.1:"+local)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The data is generated in 1 MiB blocks to keep memory modest.
	block := make([]byte, 1<<20)
	rand.Read(block)
	sent, recv := sha256.New(), sha256.New()
	werr := make(chan error, 1)
	go func() {
		for n := 0; n < size; n += len(block) {
			block[0], block[1], block[2] = byte(n>>20), byte(n>>28), 0x5a // every block differs
			k := min(len(block), size-n)
			sent.Write(block[:k])
			if _, err := conn.Write(block[:k]); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	buf := make([]byte, 64<<10)
	got := 0
	start := time.Now()
	for got < size {
		conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		n, err := conn.Read(buf[:min(len(buf), size-got)])
		recv.Write(buf[:n])
		got += n
		if err != nil {
			t.Fatalf("read %d of %d bytes: %v", got, size, err)
		}
		progress(got)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sent.Sum(nil), recv.Sum(nil)) {
		t.Fatalf("SHA-256 of the %d MiB echoed differs from what was sent", size>>20)
	}
	return time.Since(start)
}

// forwardUnderCuts is echoThroughForward with the proxy's connections cut
// every size/(cuts+10) received bytes.
func forwardUnderCuts(t *testing.T, s *stack, proxy *faultproxy.Proxy, size, cuts int) {
	t.Helper()
	c := newCutter(proxy, size, cuts)
	took := echoThroughForward(t, s, size, c.progress)
	if c.n < cuts {
		t.Fatalf("only %d cuts, want %d", c.n, cuts)
	}
	t.Logf("%d MiB each way in %v with %d cuts", size>>20, took.Round(time.Millisecond), c.n)
}

// TestFaultClientCuts256MiB: issue 6 (a), at least 200 cuts of the
// client↔gateway link during a 256 MiB port-forward transfer.
func TestFaultClientCuts256MiB(t *testing.T) {
	s, proxy := proxiedStack(t)
	forwardUnderCuts(t, s, proxy, bigSize, 200)
}

// TestFaultAgentCuts256MiB: issue 6 (b), the same with the agent↔gateway
// link cut (control and data channels).
func TestFaultAgentCuts256MiB(t *testing.T) {
	addr := freeAddr(t)
	proxy, err := faultproxy.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	s := newStackAt(t, addr, stackOptions{agentServer: "http://" + proxy.Addr()})
	forwardUnderCuts(t, s, proxy, bigSize, 200)
}

// TestFaultHalfOpenStall: issue 6's half-open connections, where one side
// sees nothing: at 8 MiB of a 32 MiB transfer the proxy stops moving bytes
// on the client link (or the agent link) while keeping every connection
// open, for longer than the keepalive timeouts, then lets bytes through
// again. The ends must notice the silent link, reconnect (the new
// connections stall too until the release), and finish the transfer with
// nothing lost or repeated.
func TestFaultHalfOpenStall(t *testing.T) {
	for _, side := range []string{"client", "agent"} {
		t.Run(side, func(t *testing.T) {
			addr := freeAddr(t)
			proxy, err := faultproxy.New(addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { proxy.Close() })
			o := stackOptions{publicURL: "http://" + proxy.Addr()}
			if side == "agent" {
				o = stackOptions{agentServer: "http://" + proxy.Addr()}
			}
			s := newStackAt(t, addr, o)
			const size, at, stall = 32 << 20, 8 << 20, 6 * time.Second
			stalled := false
			var releasedAt time.Time
			released := make(chan struct{})
			took := echoThroughForward(t, s, size, func(got int) {
				if got >= at && !stalled {
					stalled = true
					proxy.Stall()
					time.AfterFunc(stall, func() { releasedAt = time.Now(); proxy.Release(); close(released) })
				}
			})
			select {
			case <-released:
			default:
				t.Fatalf("the transfer finished in %v, during the %v stall: the link was not stalled", took, stall)
			}
			t.Logf("%d MiB each way in %v with a %v half-open stall of the %s link; done %v after the release",
				size>>20, took.Round(time.Millisecond), stall, side, time.Since(releasedAt).Round(time.Millisecond))
		})
	}
}
