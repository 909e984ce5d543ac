package shell

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/tether-ssm/tether/internal/agent/channel"
)

// CommandOptions configures a NonInteractiveCommands session.
type CommandOptions struct {
	Commands string
	// SeparateOutput sends stdout as Output and stderr as StdErr messages,
	// then the exit code as an ExitCode message. Otherwise both streams are
	// merged into Output in the order written and no ExitCode is sent, as
	// the real agent does (the real plugin would print "EXIT_CODE: n").
	SeparateOutput bool
	// StdoutPrefix and StderrPrefix are prepended to each message of the
	// stream when SeparateOutput is set; they must match ValidPrefix.
	StdoutPrefix, StderrPrefix string
}

// ValidPrefix is the pattern the real agent accepts for output prefixes.
var ValidPrefix = regexp.MustCompile(`^[0-9a-zA-Z\r\n_:-]{0,30}$`)

// signalBytes maps control bytes in the input to signals, as the real agent
// does for non-interactive commands.
var signalBytes = map[byte]syscall.Signal{0x03: syscall.SIGINT, 0x1c: syscall.SIGQUIT, 0x1a: syscall.SIGTSTP}

// RunCommand runs a NonInteractiveCommands session and returns the exit
// code. Data inputs are scanned for control bytes (Ctrl-C → SIGINT, Ctrl-\ →
// SIGQUIT, Ctrl-Z → SIGTSTP) sent to the process group; other input is
// ignored; Size is ignored; a TerminateSession flag ends the session.
func RunCommand(ctx context.Context, cfg Config, opts CommandOptions, in <-chan channel.Input, out channel.Output) (int, error) {
	if !ValidPrefix.MatchString(opts.StdoutPrefix) || !ValidPrefix.MatchString(opts.StderrPrefix) {
		return -1, fmt.Errorf("output prefix must match %s", ValidPrefix)
	}
	acct, err := resolveAccount(cfg)
	if err != nil {
		return -1, err
	}
	cmd := exec.Command(acct.shell, "-c", opts.Commands)
	cmd.Env, cmd.Dir = environ(cfg, acct), acct.dir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: acct.cred}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return -1, err
	}
	defer devnull.Close()
	cmd.Stdin = devnull

	outR, outW, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	errR, errW := outR, outW // merged unless separate
	if opts.SeparateOutput {
		if errR, errW, err = os.Pipe(); err != nil {
			outR.Close()
			outW.Close()
			return -1, err
		}
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	startErr := cmd.Start()
	outW.Close()
	if opts.SeparateOutput {
		errW.Close()
	}
	if startErr != nil {
		outR.Close()
		errR.Close()
		return -1, fmt.Errorf("start command: %w", startErr)
	}
	cfg.logger().Info("command started", "user", acct.name, "pid", cmd.Process.Pid)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pumps sync.WaitGroup
	pumpErrs := make(chan error, 2)
	pump := func(r *os.File, prefix string, send func(context.Context, []byte) error) {
		pumps.Add(1)
		go func() { // owner: RunCommand; ends at EOF or when r is closed
			defer pumps.Done()
			pumpErrs <- pumpPipe(ctx, r, prefix, out.MaxPayload(), send)
		}()
	}
	pump(outR, opts.StdoutPrefix, out.Stdout)
	if opts.SeparateOutput {
		pump(errR, opts.StderrPrefix, out.Stderr)
	}
	go watchSignals(ctx, cancel, cmd, in) // ends with ctx

	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-waitDone:
		drained := make(chan struct{})
		go func() { pumps.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(cfg.drainTimeout()):
		}
	case <-ctx.Done():
		waitErr = killGroup(cmd, waitDone)
	}
	outR.Close()
	errR.Close()
	pumps.Wait()
	close(pumpErrs)
	code, err := exitStatus(waitErr)
	if err != nil {
		return code, err
	}
	for perr := range pumpErrs {
		if perr != nil {
			return code, perr
		}
	}
	if ctx.Err() == nil && opts.SeparateOutput {
		if err := out.ExitCode(ctx, code); err != nil {
			return code, fmt.Errorf("send exit code: %w", err)
		}
	}
	return code, nil
}

// pumpPipe copies r to send in messages of at most max bytes, each
// starting with prefix.
func pumpPipe(ctx context.Context, r io.Reader, prefix string, max int, send func(context.Context, []byte) error) error {
	room := max - len(prefix)
	if room < 1 {
		return fmt.Errorf("prefix %q leaves no room in a %d-byte payload", prefix, max)
	}
	buf := make([]byte, max)
	copy(buf, prefix)
	for {
		n, err := r.Read(buf[len(prefix) : len(prefix)+room])
		if n > 0 {
			if serr := send(ctx, append([]byte(nil), buf[:len(prefix)+n]...)); serr != nil {
				return fmt.Errorf("send output: %w", serr)
			}
		}
		if err != nil {
			return nil // EOF, or the pipe closed after the drain deadline
		}
	}
}

func watchSignals(ctx context.Context, cancel context.CancelFunc, cmd *exec.Cmd, in <-chan channel.Input) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-in:
			if !ok {
				return
			}
			switch msg.Kind {
			case channel.Data:
				for _, b := range msg.Data {
					if sig, ok := signalBytes[b]; ok {
						syscall.Kill(-cmd.Process.Pid, sig)
					}
				}
			case channel.Flag:
				if msg.Flag == channel.FlagTerminateSession {
					cancel()
					return
				}
			}
		}
	}
}
