// Package benchstack starts the real `tether server` and `tether agent`
// processes on 127.0.0.1 for the benchmark programs under bench/, and reads
// their memory use from /proc. It is for measurements only.
package benchstack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// User is the API principal every benchmark signs requests with.
const (
	AccessKey = "AKIABENCH00000000001"
	SecretKey = "bench-secret-key-00000000000000000000000"
	UserName  = "bench"
	UserARN   = "arn:aws:iam::123456789012:user/bench"
	Region    = "us-east-1"
)

// Build compiles cmd/tether into dir and returns the binary's path. It must
// run from inside the module (go run ./bench/... does).
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "tether")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tether")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/tether: %v\n%s", err, out)
	}
	return bin, nil
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit (children
// inherit it) and returns the new limit.
func RaiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// Proc is a started process; its output goes to a log file.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
}

// Start runs bin with args, output appended to logPath.
func Start(bin, logPath string, env []string, args ...string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = f, f, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Stop kills the process group and waits for it.
func (p *Proc) Stop() {
	syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Env is the environment of the tether processes: dummy AWS settings, no
// metadata service, no shared config.
func Env() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_REGION=" + Region, "AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey}
}

// Server is a running `tether server`.
type Server struct {
	*Proc
	Addr    string // 127.0.0.1:port
	URL     string // http://Addr
	DataDir string
}

// StartServer writes a config with the bench user (and extraConfig lines)
// into dataDir and starts `tether server` on a free loopback port with
// extraEnv added to Env, waiting until it accepts.
func StartServer(bin, dataDir, logLevel string, extraEnv []string, extraConfig ...string) (*Server, error) {
	cfg := fmt.Sprintf("users:\n  - name: %s\n    access_key_id: %s\n    secret_access_key: %s\n    account_id: \"123456789012\"\n%s\n",
		UserName, AccessKey, SecretKey, strings.Join(extraConfig, "\n"))
	if err := os.WriteFile(filepath.Join(dataDir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := Start(bin, filepath.Join(dataDir, "server.log"), append(Env(), extraEnv...), "server", "--listen", addr,
		"--data-dir", dataDir, "--log-level", logLevel)
	if err != nil {
		return nil, err
	}
	s := &Server{Proc: p, Addr: addr, URL: "http://" + addr, DataDir: dataDir}
	if err := WaitFor(20*time.Second, "server accepts", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil || p.Exited()
	}); err != nil || p.Exited() {
		p.Stop()
		return nil, fmt.Errorf("server did not start (log %s): %v", p.Log, err)
	}
	return s, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitFor polls cond every 20ms until it holds or d passes.
func WaitFor(d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Memory is a process's memory from /proc/<pid>/status, in KiB.
type Memory struct {
	RSS, HWM int64 // VmRSS, VmHWM
	Threads  int
}

// ReadMemory reads /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = n
		case "VmHWM":
			m.HWM = n
		case "Threads":
			m.Threads = int(n)
		}
	}
	if m.RSS == 0 {
		return m, errors.New("no VmRSS in /proc status")
	}
	return m, sc.Err()
}

// GCTrace is what the Go runtime's last GODEBUG=gctrace=1 line reported.
type GCTrace struct {
	Line            string
	LiveMB, StackMB int // heap live after the collection; goroutine stacks
}

var gcLine = regexp.MustCompile(`gc \d+ @.*?\d+->\d+->(\d+) MB, \d+ MB goal, (\d+) MB stacks`)

// LastGC returns the last gctrace line in the log file at path.
func LastGC(path string) (GCTrace, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return GCTrace{}, err
	}
	all := gcLine.FindAllSubmatch(b, -1)
	if len(all) == 0 {
		return GCTrace{}, errors.New("no gctrace line")
	}
	m := all[len(all)-1]
	live, _ := strconv.Atoi(string(m[1]))
	stacks, _ := strconv.Atoi(string(m[2]))
	return GCTrace{Line: string(m[0]), LiveMB: live, StackMB: stacks}, nil
}

// CPUTime returns the user+system CPU time pid has used, from
// /proc/<pid>/stat (clock ticks of 10 ms, the Linux USER_HZ).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}

// SampleMemory reads pid's memory every interval for d and returns the
// last sample and the largest RSS seen.
func SampleMemory(pid int, d, interval time.Duration) (last Memory, maxRSS int64, err error) {
	deadline := time.Now().Add(d)
	for {
		last, err = ReadMemory(pid)
		if err != nil {
			return last, maxRSS, err
		}
		maxRSS = max(maxRSS, last.RSS)
		if time.Now().After(deadline) {
			return last, maxRSS, nil
		}
		time.Sleep(interval)
	}
}
