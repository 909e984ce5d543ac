// Command agent measures a real `tether agent` against a real `tether
// server` on loopback: the agent's idle memory (VmRSS from /proc) and the
// time from StartSession to the first shell byte at the client.
//
//	go run ./bench/agent -sessions 50
//
// It builds tether, starts the server, creates an activation through the
// SSM API (aws-sdk-go-v2), runs `tether agent register` and `tether agent
// run`, and waits until the node is connected. It then reads the agent's
// memory while idle, and runs sessions one after another: StartSession
// (signed, over loopback), internal/client Open, the handshake, the size
// message a terminal client sends, and the first Output payload of the
// shell (its prompt). Each session is then terminated. Finally the agent's
// idle memory is read again. Results: bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/creack/pty"

	"github.com/tether-ssm/tether/bench/internal/benchstack"
	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/wire"
)

func main() {
	n := flag.Int("sessions", 50, "sessions to time")
	shell := flag.String("shell", "", "shell the agent runs (default: its own default, the login shell)")
	idle := flag.Duration("idle", 10*time.Second, "how long the agent sits idle before its memory is read")
	bin := flag.String("tether", "", "tether binary (default: build ./cmd/tether)")
	keep := flag.Bool("keep", false, "keep the temporary directory (logs)")
	flag.Parse()
	if err := run(*n, *shell, *idle, *bin, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "agent bench:", err)
		os.Exit(1)
	}
}

type timing struct {
	id                      string
	start, handshake, first time.Duration // since before StartSession
}

func run(n int, shell string, idle time.Duration, bin string, keep bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "tether-bench-agent-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if bin == "" {
		if bin, err = benchstack.Build(ctx, dir); err != nil {
			return err
		}
	}
	srvDir := filepath.Join(dir, "server")
	if err := os.MkdirAll(srvDir, 0o700); err != nil {
		return err
	}
	srv, err := benchstack.StartServer(bin, srvDir, "info", nil)
	if err != nil {
		return err
	}
	defer srv.Stop()
	api := ssm.New(ssm.Options{Region: benchstack.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(benchstack.AccessKey, benchstack.SecretKey, "")})
	agent, nodeID, err := benchstack.StartAgent(ctx, api, bin, srv.URL, filepath.Join(dir, "agent"), shell)
	if err != nil {
		return err
	}
	defer agent.Stop()

	time.Sleep(idle)
	idle1, max1, err := benchstack.SampleMemory(agent.Pid(), 5*time.Second, 500*time.Millisecond)
	if err != nil {
		return err
	}
	var ts []timing
	for i := range n {
		t, err := session(ctx, api, nodeID)
		if err != nil {
			return fmt.Errorf("session %d: %w (agent log %s, server log %s)", i+1, err, agent.Log, srv.Log)
		}
		ts = append(ts, t)
	}
	time.Sleep(idle)
	idle2, max2, err := benchstack.SampleMemory(agent.Pid(), 5*time.Second, 500*time.Millisecond)
	if err != nil {
		return err
	}

	fmt.Printf("Agent and session start (`tether server` + `tether agent run` on 127.0.0.1, shell %s; GOMAXPROCS=%d, %s)\n\n",
		shellName(shell), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Println("| agent, idle | VmRSS | max VmRSS while sampled | VmHWM (peak since start) | threads |")
	fmt.Println("|---|---:|---:|---:|---:|")
	fmt.Printf("| connected, before any session | %.1f MiB | %.1f MiB | %.1f MiB | %d |\n", mib(idle1.RSS), mib(max1), mib(idle1.HWM), idle1.Threads)
	fmt.Printf("| after %d sessions | %.1f MiB | %.1f MiB | %.1f MiB | %d |\n", n, mib(idle2.RSS), mib(max2), mib(idle2.HWM), idle2.Threads)
	fmt.Println()
	fmt.Printf("| %d sessions, from before StartSession | p50 | p90 | p99 | min | max |\n", n)
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	row := func(name string, get func(timing) time.Duration) {
		var d []time.Duration
		for _, t := range ts {
			d = append(d, get(t))
		}
		slices.Sort(d)
		pct := func(p float64) string { return ms(d[int(float64(len(d)-1)*p+0.5)]) }
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", name, pct(0.5), pct(0.9), pct(0.99), ms(d[0]), ms(d[len(d)-1]))
	}
	row("StartSession answered", func(t timing) time.Duration { return t.start })
	row("handshake complete", func(t timing) time.Duration { return t.handshake })
	row("first shell byte at the client", func(t timing) time.Duration { return t.first })
	if base, err := shellBaseline(shell, 20); err == nil {
		var d []time.Duration
		for _, b := range base {
			d = append(d, b)
		}
		slices.Sort(d)
		pct := func(p float64) string { return ms(d[int(float64(len(d)-1)*p+0.5)]) }
		fmt.Printf("| the same shell alone on a PTY, no Tether (%d runs) | %s | %s | %s | %s | %s |\n", len(d),
			pct(0.5), pct(0.9), pct(0.99), ms(d[0]), ms(d[len(d)-1]))
	} else {
		fmt.Fprintln(os.Stderr, "shell baseline:", err)
	}
	var slow []string
	for _, t := range ts {
		if t.handshake > 100*time.Millisecond {
			slow = append(slow, t.id)
		}
	}
	fmt.Printf("\nHandshakes slower than 100 ms: %d of %d\n", len(slow), len(ts))
	if len(slow) > 0 {
		fmt.Fprintf(os.Stderr, "slow handshakes: %s\n", strings.Join(slow, " "))
	}
	return nil
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func shellName(s string) string {
	if s == "" {
		return loginShell() + " (the agent's default: the login shell)"
	}
	return s
}

// shellBaseline times the shell the agent runs (as a login shell, with the
// agent's TERM) from start to its first output byte on a PTY, without
// Tether, n times.
func shellBaseline(shell string, n int) ([]time.Duration, error) {
	if shell == "" {
		shell = loginShell()
	}
	var out []time.Duration
	for range n {
		cmd := &exec.Cmd{Path: shell, Args: []string{"-" + filepath.Base(shell)},
			Env: []string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH"), "TERM=xterm-256color", "SHELL=" + shell}}
		t0 := time.Now()
		f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 1024)
		_, err = f.Read(buf)
		d := time.Since(t0)
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// loginShell is the current user's shell from /etc/passwd (the agent's
// default), or /bin/sh.
func loginShell() string {
	u, err := user.Current()
	if err != nil {
		return "/bin/sh"
	}
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == u.Username && f[6] != "" {
			return f[6]
		}
	}
	return "/bin/sh"
}

// session times one shell session to its first output byte, then ends it.
func session(ctx context.Context, api *ssm.Client, nodeID string) (timing, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var t timing
	t0 := time.Now()
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(nodeID)})
	if err != nil {
		return t, fmt.Errorf("start session: %w", err)
	}
	t.start, t.id = time.Since(t0), *out.SessionId
	s, err := client.Open(ctx, client.Config{SessionID: *out.SessionId, StreamURL: *out.StreamUrl, Token: *out.TokenValue})
	if err != nil {
		return t, err
	}
	defer func() {
		s.Close()
		api.TerminateSession(context.Background(), &ssm.TerminateSessionInput{SessionId: out.SessionId})
	}()
	sized := false
	for {
		p, err := s.Read(ctx)
		if err != nil {
			return t, fmt.Errorf("read: %w", err)
		}
		switch {
		case p.Type == wire.PayloadHandshakeComplete && !sized:
			t.handshake = time.Since(t0)
			// What a terminal client sends first (client.Run does the same).
			b, _ := json.Marshal(wire.Size{Cols: 120, Rows: 40})
			if err := s.Write(ctx, wire.PayloadSize, b); err != nil {
				return t, err
			}
			sized = true
		case p.Type == wire.PayloadOutput && len(p.Data) > 0:
			t.first = time.Since(t0)
			if !sized {
				return t, errors.New("output before the handshake completed")
			}
			return t, nil
		}
	}
}
