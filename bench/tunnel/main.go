// Command tunnel measures Tether's data path on loopback against baselines
// measured in the same run, and prints markdown tables:
//
//   - port-forward throughput, 1 connection and N in parallel, through a
//     TCP echo server: direct loopback TCP, `ssh -L` (Debian's sshd started
//     here on 127.0.0.1 with a throw-away key and its own sshd_config), and
//     `tether ssm start-session --document-name
//     AWS-StartPortForwardingSession` (fast mode) over plain HTTP/WS and,
//     through a second server and agent, over HTTPS/WSS (`tether server
//     --tls-cert` with a throw-away CA from internal/certs);
//
//   - interactive echo latency (one byte to `cat` on a raw PTY and back)
//     at 1, 100 and 1,000 concurrent shell sessions (internal/client);
//
//   - resume time: from the network coming back (internal/faultproxy
//     accepting again) to the first echoed byte, over repeated cuts;
//
//   - session start to first shell byte.
//
//     go run ./bench/tunnel [-tether PATH] [-mib 256] [-levels 1,100,1000]
//
// Everything runs on 127.0.0.1: one `tether server`, one `tether agent run
// --shell /bin/sh` (bench/internal/benchstack; a TLS pair of them for the
// throughput part), the echo server in this
// process. These are measurements, not tests: nothing is asserted about
// timing. Results: bench/RESULTS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/tether-ssm/tether/bench/internal/benchstack"
)

type options struct {
	bin, parts        string
	keep              bool
	mib, par, rounds  int
	levels            []int
	keys              int
	think             time.Duration
	cuts              int
	outageMax         time.Duration
	starts            int
	limit, setupLimit time.Duration
	resumeLimit       time.Duration
}

func main() {
	var o options
	var levels string
	flag.StringVar(&o.bin, "tether", "", "tether binary (default: go build ./cmd/tether into a temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs)")
	flag.StringVar(&o.parts, "parts", "forward,start,latency,resume", "what to measure")
	flag.IntVar(&o.mib, "mib", 256, "MiB echoed per throughput run (split over the parallel connections)")
	flag.IntVar(&o.par, "parallel", 8, "connections of the parallel throughput run")
	flag.IntVar(&o.rounds, "rounds", 3, "throughput rounds (direct, ssh, tether alternate; the median is shown)")
	flag.StringVar(&levels, "levels", "1,100,1000", "concurrent shell sessions for the latency runs")
	flag.IntVar(&o.keys, "keys", 2000, "keystrokes timed per latency level (spread over its sessions, 10 to 300 each)")
	flag.DurationVar(&o.think, "think", 100*time.Millisecond, "mean pause between a session's keystrokes (uniform 0..2×)")
	flag.IntVar(&o.cuts, "cuts", 100, "network cuts for the resume measurement")
	flag.DurationVar(&o.outageMax, "outage", time.Second, "each cut keeps the network down for a uniform random 0..outage")
	flag.IntVar(&o.starts, "starts", 100, "sessions timed from StartSession to the first shell byte")
	flag.DurationVar(&o.limit, "limit", 120*time.Second, "time bound of each measurement")
	flag.DurationVar(&o.resumeLimit, "resume-limit", 5*time.Minute, "time bound of the resume measurement")
	flag.DurationVar(&o.setupLimit, "setup-limit", 5*time.Minute, "time bound for opening a latency level's sessions")
	flag.Parse()
	for _, f := range strings.Split(levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "tunnel bench: bad -levels", levels)
			os.Exit(2)
		}
		o.levels = append(o.levels, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "tunnel bench:", err)
		os.Exit(1)
	}
}

// stack is the running server and agent.
type stack struct {
	bin, dir string
	srv      *benchstack.Server
	agent    *benchstack.Proc
	node     string
	api      *ssm.Client

	mu    sync.Mutex
	procs []*benchstack.Proc // killed on SIGINT, SIGTERM, SIGHUP
}

// track registers p to be killed if this program is interrupted.
func (s *stack) track(p *benchstack.Proc) *benchstack.Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = append(s.procs, p)
	return p
}

// killOnSignal stops every tracked process group and exits when the
// program is interrupted (deferred clean-ups do not run then).
func (s *stack) killOnSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		got := <-sig
		s.mu.Lock()
		for _, p := range s.procs {
			p.Stop()
		}
		s.mu.Unlock()
		fmt.Fprintln(os.Stderr, "tunnel bench: stopped by", got)
		os.Exit(1)
	}()
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "tether-bench-tunnel-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if _, err := benchstack.RaiseFileLimit(); err != nil {
		return err
	}
	// internal/client's resumer loads the AWS configuration from the
	// environment, as `tether ssm` does.
	for _, kv := range benchstack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	if o.bin == "" {
		if o.bin, err = benchstack.Build(ctx, dir); err != nil {
			return err
		}
	}
	s := &stack{bin: o.bin, dir: dir}
	s.killOnSignal()
	srvDir := filepath.Join(dir, "server")
	if err := os.MkdirAll(srvDir, 0o700); err != nil {
		return err
	}
	if s.srv, err = benchstack.StartServer(o.bin, srvDir, "warn", nil); err != nil {
		return err
	}
	s.track(s.srv.Proc)
	defer s.srv.Stop()
	s.api = ssm.New(ssm.Options{Region: benchstack.Region, BaseEndpoint: aws.String(s.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(benchstack.AccessKey, benchstack.SecretKey, "")})
	if s.agent, s.node, err = benchstack.StartAgent(ctx, s.api, o.bin, s.srv.URL, filepath.Join(dir, "agent"), "/bin/sh"); err != nil {
		return err
	}
	s.track(s.agent)
	defer s.agent.Stop()

	fmt.Printf("Tether data path on 127.0.0.1 (%s; GOMAXPROCS=%d, %s)\n\n", machine(), runtime.GOMAXPROCS(0), runtime.Version())
	for _, part := range strings.Split(o.parts, ",") {
		var err error
		switch strings.TrimSpace(part) {
		case "forward":
			err = forwardPart(ctx, s, o)
		case "start":
			err = startPart(ctx, s, o)
		case "latency":
			err = latencyPart(ctx, s, o)
		case "resume":
			err = resumePart(ctx, s, o)
		default:
			err = fmt.Errorf("unknown part %q", part)
		}
		if err != nil {
			return fmt.Errorf("%s: %w (server log %s, agent log %s)", part, err, s.srv.Log, s.agent.Log)
		}
	}
	return nil
}

// machine describes the host: CPU model, cores, memory, load.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				kb, _ := strconv.Atoi(strings.Fields(line)[1])
				mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%s, %d CPUs%s%s", model, runtime.NumCPU(), mem, load)
}
