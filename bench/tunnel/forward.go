package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/tether-ssm/tether/bench/internal/benchstack"
	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/wire"
)

// pattern is what every throughput connection sends, over and over; the
// echo is compared with it.
var patternSize = 1 << 20

// interopBytes bounds the interop-mode transfers, which are much slower.
const interopBytes = 32 << 20

// echoServer accepts on 127.0.0.1 and echoes every connection.
func echoServer() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.CopyBuffer(c, c, make([]byte, 256<<10))
			}()
		}
	}()
	return ln, nil
}

// throughput is one run: bytes echoed (each way) and the wall time.
type throughput struct {
	bytes   int64
	elapsed time.Duration
	cpu     time.Duration   // of the path's own processes (ssh+sshd, or tether client+server+agent)
	parts   []time.Duration // cpu per process tree, in the order of the path's pids
	err     error
}

func (t throughput) mbps() float64 { return float64(t.bytes) / t.elapsed.Seconds() / 1e6 }

// transfer echoes total bytes through addr over conns connections at once
// (total/conns each), checking every echoed byte, within limit.
func transfer(addr string, conns int, total int64, pattern []byte, limit time.Duration) throughput {
	per := total / int64(conns)
	deadline := time.Now().Add(limit)
	var wg sync.WaitGroup
	got := make([]int64, conns)
	errs := make([]error, conns)
	t0 := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = echoConn(addr, per, pattern, deadline)
		}()
	}
	wg.Wait()
	t := throughput{elapsed: time.Since(t0), err: errors.Join(errs...)}
	for _, g := range got {
		t.bytes += g
	}
	return t
}

// echoConn writes n bytes of pattern to one connection and reads the echo.
func echoConn(addr string, n int64, pattern []byte, deadline time.Time) (int64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	werr := make(chan error, 1)
	go func() {
		var err error
		for left := n; left > 0 && err == nil; {
			k := min(left, int64(len(pattern)))
			_, err = c.Write(pattern[:k])
			left -= k
		}
		werr <- err
	}()
	buf := make([]byte, 256<<10)
	var got int64
	for got < n {
		k, err := c.Read(buf[:min(int64(len(buf)), n-got)])
		off := int(got % int64(len(pattern)))
		for j := 0; j < k; {
			m := min(k-j, len(pattern)-off)
			if !bytes.Equal(buf[j:j+m], pattern[off:off+m]) {
				return got, fmt.Errorf("echo differs from what was sent at byte %d", got+int64(j))
			}
			j, off = j+m, 0
		}
		got += int64(k)
		if err != nil {
			return got, fmt.Errorf("after %d of %d bytes: %w", got, n, err)
		}
	}
	return got, <-werr
}

// forwardPart measures direct TCP, ssh -L and a Tether port forward, in
// alternating rounds, with 1 and o.par connections.
func forwardPart(ctx context.Context, s *stack, o options) error {
	ln, err := echoServer()
	if err != nil {
		return err
	}
	defer ln.Close()
	echoAddr := ln.Addr().String()
	_, echoPort, _ := net.SplitHostPort(echoAddr)

	ssh, err := startSSH(ctx, filepath.Join(s.dir, "ssh"), echoAddr)
	if err != nil {
		return fmt.Errorf("ssh -L: %w", err)
	}
	s.track(ssh.sshd)
	s.track(ssh.client)
	defer ssh.stop()
	fwd, tetherAddr, err := startTetherForward(s, s.srv.URL, s.node, nil, "forward.log", echoPort)
	if err != nil {
		return err
	}
	s.track(fwd)
	defer fwd.Stop()
	ts, err := startTLSStack(ctx, s)
	if err != nil {
		return fmt.Errorf("TLS server and agent: %w", err)
	}
	defer ts.stop()
	tlsFwd, tlsAddr, err := startTetherForward(s, ts.url, ts.node, ts.env, "forward-tls.log", echoPort)
	if err != nil {
		return err
	}
	s.track(tlsFwd)
	defer tlsFwd.Stop()
	interop, err := startInteropForward(ctx, s, echoPort)
	if err != nil {
		return err
	}
	defer interop.stop(s)

	pattern := make([]byte, patternSize)
	rand.Read(pattern)
	total := int64(o.mib) << 20
	paths := []struct {
		name, addr string
		pids       []int
	}{
		{"direct", echoAddr, nil},
		{"ssh", ssh.addr, []int{ssh.sshd.Pid(), ssh.client.Pid()}},
		{"tether", tetherAddr, []int{fwd.Pid(), s.srv.Pid(), s.agent.Pid()}},
		{"tls", tlsAddr, []int{tlsFwd.Pid(), ts.srv.Pid(), ts.agent.Pid()}},
		{"interop", interop.ln.Addr().String(), []int{s.srv.Pid(), s.agent.Pid()}},
	}
	// Warm-up: a small transfer through each path.
	for _, p := range paths {
		if t := transfer(p.addr, 1, 4<<20, pattern, 30*time.Second); t.err != nil {
			return fmt.Errorf("warm-up through %s: %w", p.name, t.err)
		}
	}
	results := map[string][]throughput{}
	for round := range o.rounds {
		for _, conns := range []int{1, o.par} {
			for _, p := range paths {
				c0 := make([]time.Duration, len(p.pids))
				for j, pid := range p.pids {
					c0[j] = treeCPU(pid)
				}
				size := total
				if p.name == "interop" {
					size = min(total, interopBytes) // ~10× slower
				}
				t := transfer(p.addr, conns, size, pattern, o.limit)
				for j, pid := range p.pids {
					t.parts = append(t.parts, treeCPU(pid)-c0[j])
					t.cpu += t.parts[j]
				}
				key := fmt.Sprintf("%s/%d", p.name, conns)
				results[key] = append(results[key], t)
				fmt.Fprintf(os.Stderr, "round %d %s: %.1f MB/s (%d bytes in %v, CPU %v) %v\n", round+1, key, t.mbps(), t.bytes, t.elapsed.Round(time.Millisecond), t.cpu, t.err)
				if t.err != nil {
					return fmt.Errorf("%s: %w (tether forward log %s, sshd log %s)", key, t.err, fwd.Log, ssh.sshdLog)
				}
			}
		}
	}
	fmt.Printf("### Port-forward throughput: %d MiB echoed through a TCP echo server (each byte checked), median of %d alternating rounds\n\n", o.mib, o.rounds)
	fmt.Printf("ssh: OpenSSH %s, cipher %s. Tether: `tether ssm start-session --document-name AWS-StartPortForwardingSession` (fast mode), plain HTTP/WebSocket on loopback; Tether, TLS: the same through a second `tether server --tls-cert` (HTTPS/WSS, %s) and its agent, every Tether link encrypted as ssh's is.\n\n", ssh.version, ssh.cipher, ts.cipher)
	fmt.Println("| connections | direct TCP | ssh -L | Tether (fast mode) | **Tether / ssh -L** | Tether (fast mode, TLS) | **TLS / ssh -L** | Tether / direct | ssh -L / direct | Tether, interop mode (in-process client) |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, conns := range []int{1, o.par} {
		m := func(name string) float64 { return median(results[fmt.Sprintf("%s/%d", name, conns)]) }
		d, sh, t, tl, in := m("direct"), m("ssh"), m("tether"), m("tls"), m("interop")
		fmt.Printf("| %d | %.0f MB/s | %.0f MB/s | %.0f MB/s | **%.2f×** | %.0f MB/s | **%.2f×** | %.3f× | %.3f× | %.0f MB/s |\n", conns, d, sh, t, t/sh, tl, tl/sh, t/d, sh/d, in)
	}
	fmt.Println()
	fmt.Println("Interop mode is what the real session-manager-plugin gets (per-message digests and acknowledgements); it runs here through internal/client with Config.Interop inside the benchmark process, so its client shares that process with the load generator; it echoes at most 32 MiB per run.")
	fmt.Println()
	fmt.Println("CPU time of the path's own processes per GB echoed (median; ssh -L = ssh + sshd, Tether = `tether ssm` client + server + agent; the echo server and load generator, common to all paths, are not counted):")
	fmt.Println()
	fmt.Println("| connections | ssh -L | sshd / ssh | Tether | `tether ssm` / server / agent | Tether / ssh -L | Tether, TLS | `tether ssm` / server / agent | TLS / ssh -L |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, conns := range []int{1, o.par} {
		shr, tr, tlr := results[fmt.Sprintf("ssh/%d", conns)], results[fmt.Sprintf("tether/%d", conns)], results[fmt.Sprintf("tls/%d", conns)]
		sh, t, tl := cpuPerGB(shr, -1), cpuPerGB(tr, -1), cpuPerGB(tlr, -1)
		fmt.Printf("| %d | %.1f s/GB | %.1f / %.1f | %.1f s/GB | %.1f / %.1f / %.1f | %.2f× | %.1f s/GB | %.1f / %.1f / %.1f | %.2f× |\n", conns, sh,
			cpuPerGB(shr, 0), cpuPerGB(shr, 1), t, cpuPerGB(tr, 0), cpuPerGB(tr, 1), cpuPerGB(tr, 2), t/sh,
			tl, cpuPerGB(tlr, 0), cpuPerGB(tlr, 1), cpuPerGB(tlr, 2), tl/sh)
	}
	fmt.Println("\nMB/s = 10⁶ bytes per second in each direction (the bytes sent, which also all came back).")
	fmt.Println("Every round, MB/s:")
	fmt.Println()
	for _, conns := range []int{1, o.par} {
		for _, p := range paths {
			var v []string
			for _, t := range results[fmt.Sprintf("%s/%d", p.name, conns)] {
				v = append(v, fmt.Sprintf("%.0f", t.mbps()))
			}
			fmt.Printf("- %s, %d connection(s): %s\n", p.name, conns, strings.Join(v, ", "))
		}
	}
	fmt.Println()
	return nil
}

// cpuPerGB is the median CPU seconds per 10⁹ bytes echoed, of all the
// path's processes (part < 0) or of one of them.
func cpuPerGB(ts []throughput, part int) float64 {
	var v []float64
	for _, t := range ts {
		c := t.cpu
		if part >= 0 {
			c = t.parts[part]
		}
		v = append(v, c.Seconds()/(float64(t.bytes)/1e9))
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

func median(ts []throughput) float64 {
	var v []float64
	for _, t := range ts {
		v = append(v, t.mbps())
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

// startTetherForward runs `tether ssm start-session` against the server at
// url (with extraEnv) forwarding a local port to port on node, and returns
// the local address.
func startTetherForward(s *stack, url, node string, extraEnv []string, logName, port string) (*benchstack.Proc, string, error) {
	p, err := benchstack.Start(s.bin, filepath.Join(s.dir, logName), append(benchstack.Env(), extraEnv...), "ssm", "start-session",
		"--endpoint-url", url, "--target", node, "--document-name", "AWS-StartPortForwardingSession",
		"--parameters", "portNumber="+port+",localPortNumber=0")
	if err != nil {
		return nil, "", err
	}
	rx := regexp.MustCompile(`Port (\d+) opened for sessionId `)
	var local string
	err = benchstack.WaitFor(30*time.Second, "tether's local port opens", func() bool {
		b, _ := os.ReadFile(p.Log)
		if m := rx.FindSubmatch(b); m != nil {
			local = string(m[1])
		}
		return local != "" || p.Exited()
	})
	if err != nil || local == "" {
		b, _ := os.ReadFile(p.Log)
		p.Stop()
		return nil, "", fmt.Errorf("tether ssm start-session (port forward): %v\n%s", err, b)
	}
	return p, "127.0.0.1:" + local, nil
}

// sshTunnel is sshd on a loopback port and `ssh -N -L` through it.
type sshTunnel struct {
	sshd, client    *benchstack.Proc
	addr, sshdLog   string
	version, cipher string
}

func (t *sshTunnel) stop() {
	t.client.Stop()
	t.sshd.Stop()
}

// startSSH starts Debian's sshd on 127.0.0.1 with a throw-away host key,
// client key and config in dir, and `ssh -L` forwarding a local port to
// target through it.
func startSSH(ctx context.Context, dir, target string) (*sshTunnel, error) {
	sshd, err := exec.LookPath("/usr/sbin/sshd")
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install -y openssh-server openssh-client)", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation
		return nil, err
	}
	for _, k := range []string{"host", "id"} {
		cmd := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k))
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "id.pub"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AllowTcpForwarding yes
`, filepath.Join(dir, "host"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"))
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	t := &sshTunnel{sshdLog: filepath.Join(dir, "sshd.log")}
	if t.sshd, err = benchstack.Start(sshd, t.sshdLog, nil, "-D", "-e", "-f", cfgPath, "-p", strconv.Itoa(port)); err != nil {
		return nil, err
	}
	sshdAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := benchstack.WaitFor(10*time.Second, "sshd accepts", func() bool {
		c, err := net.Dial("tcp", sshdAddr)
		if err == nil {
			c.Close()
		}
		return err == nil || t.sshd.Exited()
	}); err != nil || t.sshd.Exited() {
		b, _ := os.ReadFile(t.sshdLog)
		t.sshd.Stop()
		return nil, fmt.Errorf("sshd did not start: %v\n%s", err, b)
	}
	local, err := freePort()
	if err != nil {
		t.sshd.Stop()
		return nil, err
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "root"
	}
	t.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(local))
	clientLog := filepath.Join(dir, "ssh.log")
	if t.client, err = benchstack.Start("/usr/bin/ssh", clientLog, []string{"HOME=" + dir}, "-v", "-i", filepath.Join(dir, "id"),
		"-p", strconv.Itoa(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-N", "-L", fmt.Sprintf("127.0.0.1:%d:%s", local, target),
		user+"@127.0.0.1"); err != nil {
		t.sshd.Stop()
		return nil, err
	}
	// Up once a connection through the tunnel echoes.
	err = benchstack.WaitFor(15*time.Second, "ssh -L forwards", func() bool {
		_, err := echoConn(t.addr, 16, []byte("0123456789abcdef"), time.Now().Add(2*time.Second))
		return err == nil || t.client.Exited()
	})
	b, _ := os.ReadFile(clientLog)
	if err != nil || t.client.Exited() {
		t.stop()
		return nil, fmt.Errorf("ssh -L did not come up: %v\n%s", err, b)
	}
	if m := regexp.MustCompile(`Remote protocol version [^,]+, remote software version (\S+)`).FindSubmatch(b); m != nil {
		t.version = string(m[1])
	}
	if m := regexp.MustCompile(`kex: server->client cipher: (\S+)`).FindSubmatch(b); m != nil {
		t.cipher = string(m[1])
	}
	return t, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// treeCPU returns the CPU time (user+system, plus that of reaped children)
// used so far by the live processes rooted at the given pids (they and
// all their descendants, e.g. sshd's per-connection children, which call
// setsid), from /proc/<pid>/stat (USER_HZ = 100).
func treeCPU(roots ...int) time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	ticks := map[int]int64{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		// After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
		if len(f) < 15 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		for _, k := range f[11:15] {
			n, _ := strconv.ParseInt(k, 10, 64)
			ticks[pid] += n
		}
	}
	var total int64
	for pid, t := range ticks {
		for p := pid; p > 1; p = parent[p] {
			if slices.Contains(roots, p) {
				total += t
				break
			}
		}
	}
	return time.Duration(total) * 10 * time.Millisecond
}

// interopForward is a port forward through internal/client in this process
// with Config.Interop: the stream stays in interop mode (per-message
// digests and acknowledgements), as with the real session-manager-plugin.
type interopForward struct {
	id  string
	c   *client.Session
	f   *client.PortForwarder
	ln  net.Listener
	api *ssm.Client
}

func startInteropForward(ctx context.Context, s *stack, port string) (*interopForward, error) {
	out, err := s.api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(s.node),
		DocumentName: aws.String("AWS-StartPortForwardingSession"),
		Parameters:   map[string][]string{"portNumber": {port}, "localPortNumber": {"0"}}})
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	c, err := client.Open(ctx, client.Config{SessionID: *out.SessionId, StreamURL: *out.StreamUrl, Token: *out.TokenValue, Interop: true})
	if err != nil {
		s.terminate(*out.SessionId)
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		p, err := c.Read(hctx)
		if err != nil {
			c.Close()
			s.terminate(*out.SessionId)
			return nil, fmt.Errorf("interop handshake: %w", err)
		}
		if p.Type == wire.PayloadHandshakeComplete {
			break
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Close()
		s.terminate(*out.SessionId)
		return nil, err
	}
	f := client.NewPortForwarder(c)
	go f.Serve(ln, nil)
	return &interopForward{id: *out.SessionId, c: c, f: f, ln: ln}, nil
}

func (i *interopForward) stop(s *stack) {
	i.ln.Close()
	i.f.Close()
	i.c.Close()
	s.terminate(i.id)
}
