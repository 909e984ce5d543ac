package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/tether-ssm/tether/internal/agent/channel"
)

type exitError = exec.ExitError

// InteractiveOptions selects what runs on the PTY.
type InteractiveOptions struct {
	// Commands, if not empty, runs `shell -c Commands` (InteractiveCommands);
	// otherwise the login shell runs (Standard_Stream).
	Commands string
	// Cols and Rows are the initial terminal size; zero means 80x24. The
	// client normally sends its real size as its first input.
	Cols, Rows uint16
}

// RunInteractive runs a PTY session until its process exits or ctx is
// done, and returns the process's exit code. Data inputs are written to the
// terminal, Size inputs resize it, and a TerminateSession flag ends the
// session. Output is sent as Stdout messages of at most out.MaxPayload()
// bytes, never splitting a UTF-8 sequence.
func RunInteractive(ctx context.Context, cfg Config, opts InteractiveOptions, in <-chan channel.Input, out channel.Output) (int, error) {
	acct, err := resolveAccount(cfg)
	if err != nil {
		return -1, err
	}
	cmd := &exec.Cmd{Path: acct.shell, Args: []string{argv0Login(acct.shell)}}
	if opts.Commands != "" {
		cmd.Args = []string{acct.shell, "-c", opts.Commands}
	}
	cmd.Env, cmd.Dir = environ(cfg, acct), acct.dir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.cred}
	size := &pty.Winsize{Cols: opts.Cols, Rows: opts.Rows}
	if size.Cols == 0 || size.Rows == 0 {
		size.Cols, size.Rows = 80, 24
	}
	ptmx, err := pty.StartWithAttrs(cmd, size, &syscall.SysProcAttr{Setsid: true, Setctty: true, Credential: acct.cred})
	if err != nil {
		return -1, fmt.Errorf("start %s: %w", acct.shell, err)
	}
	cfg.logger().Info("pty session started", "shell", acct.shell, "user", acct.name, "pid", cmd.Process.Pid)
	return supervise(ctx, cfg, cmd, ptmx, in, out)
}

// supervise pumps input and output until the process exits.
func supervise(ctx context.Context, cfg Config, cmd *exec.Cmd, ptmx *os.File, in <-chan channel.Input, out channel.Output) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	pumpDone := make(chan error, 1)
	wg.Add(1)
	go func() { // owner: supervise; stops when ptmx is closed or drained
		defer wg.Done()
		pumpDone <- pumpPTY(ctx, ptmx, out)
	}()
	wg.Add(1)
	go func() { // owner: supervise; stops when ctx is cancelled
		defer wg.Done()
		feedPTY(ctx, cancel, ptmx, in)
	}()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()

	var waitErr, pumpErr error
	select {
	case waitErr = <-waitDone:
		// The process exited: read what it left in the terminal, bounded
		// in time in case a background child still holds the terminal.
		select {
		case pumpErr = <-pumpDone:
		case <-time.After(cfg.drainTimeout()):
		}
	case <-ctx.Done():
		waitErr = killGroup(cmd, waitDone)
	}
	cancel()
	ptmx.Close()
	wg.Wait()
	code, err := exitStatus(waitErr)
	if err == nil && pumpErr != nil && !errors.Is(pumpErr, context.Canceled) {
		err = pumpErr
	}
	return code, err
}

// pumpPTY copies terminal output to out until the terminal is closed.
func pumpPTY(ctx context.Context, ptmx *os.File, out channel.Output) error {
	max := out.MaxPayload()
	buf := make([]byte, max)
	pending := 0 // bytes of an incomplete UTF-8 sequence kept at buf[0:pending]
	for {
		n, err := ptmx.Read(buf[pending:])
		n += pending
		if n > 0 {
			send := channel.SplitUTF8(buf[:n])
			if err != nil || send == 0 && n == len(buf) {
				send = n // flush at the end, or when held bytes fill the buffer
			}
			if send > 0 {
				if serr := out.Stdout(ctx, append([]byte(nil), buf[:send]...)); serr != nil {
					return fmt.Errorf("send output: %w", serr)
				}
			}
			pending = copy(buf, buf[send:n])
		}
		if err != nil {
			// EIO is how Linux reports that every process closed the
			// terminal: the normal end of output.
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.EIO) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read terminal: %w", err)
		}
	}
}

// feedPTY applies client input to the terminal.
func feedPTY(ctx context.Context, cancel context.CancelFunc, ptmx *os.File, in <-chan channel.Input) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-in:
			if !ok {
				return // the client is gone for good; the shell keeps running
			}
			switch msg.Kind {
			case channel.Data:
				if _, err := ptmx.Write(msg.Data); err != nil {
					return
				}
			case channel.Size:
				if msg.Cols > 0 && msg.Rows > 0 && msg.Cols <= 0xffff && msg.Rows <= 0xffff {
					pty.Setsize(ptmx, &pty.Winsize{Cols: uint16(msg.Cols), Rows: uint16(msg.Rows)})
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

// killGroup ends the session's process group — SIGHUP as a terminal
// hang-up would, then SIGKILL if the leader has not exited within 500 ms —
// and returns the leader's Wait result.
func killGroup(cmd *exec.Cmd, waitDone <-chan error) error {
	pgid := cmd.Process.Pid // the leader of its own session (Setsid)
	syscall.Kill(-pgid, syscall.SIGHUP)
	syscall.Kill(-pgid, syscall.SIGCONT)
	select {
	case err := <-waitDone:
		return err
	case <-time.After(500 * time.Millisecond):
		syscall.Kill(-pgid, syscall.SIGKILL)
		return <-waitDone
	}
}
