package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tether-ssm/tether/internal/certs"
	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/wire"
	"golang.org/x/term"
)

// StartResponse is what StartSession returned.
type StartResponse struct {
	SessionID  string `json:"SessionId"`
	TokenValue string `json:"TokenValue"`
	StreamURL  string `json:"StreamUrl"`
}

// RunOptions configure Run.
type RunOptions struct {
	Start StartResponse
	// Endpoint, Region and Profile locate the SSM API for ResumeSession.
	Endpoint, Region, Profile string
	// Parameters are StartSession's document parameters
	// (localPortNumber is read from them).
	Parameters map[string][]string
	// Stdin, Stdout and Stderr are the user's streams. When Stdin is a
	// terminal it is put in raw mode for shells.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// PluginMode prints what the real session-manager-plugin prints and
	// always exits 0, as the AWS CLI expects of it. Otherwise a command's
	// exit code becomes Run's, and a session that could not be resumed
	// exits non-zero.
	PluginMode bool
	// TLS configures the websocket's and ResumeSession's TLS (trusted CAs,
	// no verification); nil means the system roots (and, for
	// ResumeSession, the AWS configuration's ca_bundle).
	TLS *tls.Config
	// Resume overrides the ResumeSession call (tests); nil means SSMResumer.
	Resume func(context.Context) (string, error)
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
}

// Run opens the session, runs the user interface its type calls for
// (terminal, port forwarding, command, stdio tunnel) and returns the
// process exit code.
func Run(ctx context.Context, o RunOptions) int {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	id := o.Start.SessionID
	resume := o.Resume
	if resume == nil {
		r, err := SSMResumer(ctx, id, o.Endpoint, o.Region, o.Profile, o.TLS)
		if err != nil {
			return fail(o, err)
		}
		resume = r
	}
	fmt.Fprintf(o.Stdout, "\nStarting session with SessionId: %s\n", id)
	st := &statusLine{w: o.Stderr}
	var hc *http.Client
	if o.TLS != nil {
		hc = certs.HTTPClient(o.TLS)
	}
	s, err := Open(ctx, Config{SessionID: id, StreamURL: o.Start.StreamURL, Token: o.Start.TokenValue,
		Resume: resume, OnStatus: st.update, HTTPClient: hc, Logger: o.Logger})
	if err != nil {
		return fail(o, err)
	}
	defer s.Close()
	first, err := s.Read(ctx)
	if err != nil {
		return finish(o, s, 0, err)
	}
	typ, props := s.SessionType()
	var code int
	switch {
	case typ == wire.SessionPort:
		code, err = runPort(ctx, o, s, props)
	case typ == wire.SessionNonInteractiveCommands:
		code, err = runCommand(ctx, o, s, first)
	default: // Standard_Stream, InteractiveCommands
		code, err = runShell(ctx, o, s, first)
	}
	return finish(o, s, code, err)
}

// fail reports an error before the session ran.
func fail(o RunOptions, err error) int {
	if o.PluginMode {
		fmt.Fprintf(o.Stdout, "Cannot perform start session: %v\n", err)
		return 0
	}
	fmt.Fprintf(o.Stderr, "tether: %v\n", err)
	return 1
}

// finish prints how the session ended and picks the exit code.
func finish(o RunOptions, s *Session, code int, err error) int {
	id := o.Start.SessionID
	if errors.Is(err, errUserExit) {
		fmt.Fprintf(o.Stdout, "\n\nExiting session with sessionId: %s.\n\n", id)
		return code
	}
	if out, ok := s.ClosedOutput(); ok {
		if out == "" {
			fmt.Fprintf(o.Stdout, "\n\nExiting session with sessionId: %s.\n\n", id)
		} else {
			fmt.Fprintf(o.Stdout, "\n\nSessionId: %s : %s\n\n", id, out)
		}
	}
	if e := s.Err(); e != nil {
		err = e
	}
	if err != nil && !errors.Is(err, ErrEnded) && !errors.Is(err, context.Canceled) {
		if errors.Is(err, ErrSessionEnded) {
			msg := strings.TrimPrefix(err.Error(), ErrSessionEnded.Error()+": ")
			fmt.Fprintf(o.Stderr, "\r\x1b[K\nThe session %s can no longer be resumed: it was terminated, or the client was away longer than the idle timeout (server: %s)\n", id, msg)
		} else {
			fmt.Fprintf(o.Stderr, "\nCannot perform start session: %v\n", err)
		}
		if !o.PluginMode {
			return 1
		}
	}
	if o.PluginMode {
		return 0
	}
	return code
}

// statusLine shows reconnect progress on one line of stderr.
type statusLine struct {
	mu    sync.Mutex
	w     io.Writer
	shown bool
}

func (l *statusLine) update(st Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st.Connected {
		if l.shown {
			fmt.Fprint(l.w, "\r\x1b[K")
			l.shown = false
		}
		return
	}
	fmt.Fprintf(l.w, "\r\x1b[Kconnection lost — resuming (attempt %d, %.1f s)", st.Attempt, st.Elapsed.Seconds())
	l.shown = true
}

// runShell runs a terminal session. first is the first payload read.
func runShell(ctx context.Context, o RunOptions, s *Session, first stream.Payload) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fd, isTerm := terminalFD(o.Stdin)
	if isTerm {
		old, err := term.MakeRaw(fd)
		if err == nil {
			defer term.Restore(fd, old)
		}
	}
	sendSize(ctx, s, fd, isTerm)
	stopResize := watchResize(ctx, s, fd, isTerm)
	defer stopResize()
	if !isTerm {
		stopSignals := forwardSignals(ctx, s)
		defer stopSignals()
	}
	inputDone := make(chan error, 1)
	go func() { inputDone <- pumpStdin(ctx, s, o, isTerm) }()
	code := 0
	emit := func(p stream.Payload) {
		switch p.Type {
		case wire.PayloadOutput:
			o.Stdout.Write(p.Data)
		case wire.PayloadStdErr:
			o.Stderr.Write(p.Data)
		case wire.PayloadExitCode:
			if n, err := wire.ParseExitCode(p.Data); err == nil {
				code = n
			}
		}
	}
	emit(first)
	payloads, readErr := readAll(ctx, s)
	for {
		select {
		case p := <-payloads:
			emit(p)
		case err := <-readErr:
			return code, err
		case err := <-inputDone:
			if errors.Is(err, errEscape) {
				s.Write(ctx, wire.PayloadFlag, wire.FlagTerminateSession.Bytes())
				return code, nil
			}
			inputDone = nil // stdin ended: the session goes on until the remote side ends it
		}
	}
}

// readAll reads the session in a goroutine until it fails, which is sent
// on the error channel; it stops when ctx is done.
func readAll(ctx context.Context, s *Session) (<-chan stream.Payload, <-chan error) {
	payloads, errc := make(chan stream.Payload), make(chan error, 1)
	go func() {
		for {
			p, err := s.Read(ctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case payloads <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	return payloads, errc
}

var errEscape = errors.New("escape sequence ~. typed")

// pumpStdin sends the user's input, handling "~." (end the session) and
// "~?" (help) at the start of a line on a terminal. Input typed while the
// connection is down is queued by the stream, not dropped.
func pumpStdin(ctx context.Context, s *Session, o RunOptions, escapes bool) error {
	buf := make([]byte, 1024)
	lineStart, pendingTilde := true, false
	for {
		n, err := o.Stdin.Read(buf)
		if n > 0 {
			out := make([]byte, 0, n+1)
			for _, b := range buf[:n] {
				if !escapes {
					out = append(out, b)
					continue
				}
				if pendingTilde {
					pendingTilde = false
					switch b {
					case '.':
						if len(out) > 0 { // what was typed before the escape still goes
							s.Write(ctx, wire.PayloadOutput, out)
						}
						return errEscape
					case '?':
						fmt.Fprint(o.Stderr, "\r\nSupported escape sequences:\r\n ~.  - terminate the session\r\n ~?  - this message\r\n ~~  - send the escape character\r\n")
						continue
					case '~':
						out = append(out, '~')
						lineStart = false
						continue
					default:
						out = append(out, '~')
					}
				}
				if b == '~' && lineStart {
					pendingTilde = true
					continue
				}
				out = append(out, b)
				lineStart = b == '\r' || b == '\n'
			}
			if len(out) > 0 {
				if werr := s.Write(ctx, wire.PayloadOutput, out); werr != nil {
					return werr
				}
			}
		}
		if err != nil {
			return err
		}
	}
}

func terminalFD(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return -1, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// sendSize sends the terminal size, or 300x100 (the plugin's default) when
// there is no terminal.
func sendSize(ctx context.Context, s *Session, fd int, isTerm bool) {
	size := wire.Size{Cols: 300, Rows: 100}
	if isTerm {
		if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
			size = wire.Size{Cols: uint32(w), Rows: uint32(h)}
		}
	}
	b, _ := json.Marshal(size)
	s.Write(ctx, wire.PayloadSize, b)
}

// watchResize sends the new size on SIGWINCH.
func watchResize(ctx context.Context, s *Session, fd int, isTerm bool) func() {
	if !isTerm {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				sendSize(ctx, s, fd, true)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// forwardSignals sends SIGINT, SIGQUIT and SIGTSTP as the control bytes the
// remote terminal understands, as the plugin does when stdin is not a
// terminal (in raw mode they arrive as bytes anyway).
func forwardSignals(ctx context.Context, s *Session) func() {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-ch:
				b := map[os.Signal]byte{syscall.SIGINT: 0x03, syscall.SIGQUIT: 0x1c, syscall.SIGTSTP: 0x1a}[sig]
				s.Write(ctx, wire.PayloadOutput, []byte{b})
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// runCommand runs a non-interactive command: stdout and stderr are kept
// apart and the exit code is returned.
func runCommand(ctx context.Context, o RunOptions, s *Session, first stream.Payload) (int, error) {
	stop := forwardSignals(ctx, s)
	defer stop()
	code := 0
	p := first
	for {
		switch p.Type {
		case wire.PayloadOutput:
			o.Stdout.Write(p.Data)
		case wire.PayloadStdErr:
			o.Stderr.Write(p.Data)
		case wire.PayloadExitCode:
			// The real plugin prints "EXIT_CODE: n"; Tether's agent sends it
			// only because this client asked for separate streams, so it is
			// not printed, only returned.
			if n, err := wire.ParseExitCode(p.Data); err == nil {
				code = n
			}
		}
		var err error
		if p, err = s.Read(ctx); err != nil {
			return code, err
		}
	}
}

// runPort runs a port session: a local listener multiplexed over the
// session (LocalPortForwarding), or stdin/stdout as the tunnel (SSH).
func runPort(ctx context.Context, o RunOptions, s *Session, props json.RawMessage) (int, error) {
	var pp struct {
		Type            string `json:"type"`
		LocalPortNumber string `json:"localPortNumber"`
	}
	json.Unmarshal(props, &pp)
	if pp.Type != "LocalPortForwarding" {
		return runTunnel(ctx, o, s)
	}
	local := pp.LocalPortNumber
	if v := o.Parameters["localPortNumber"]; len(v) > 0 && v[0] != "" {
		local = v[0]
	}
	if local == "" {
		local = "0"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("localhost", local))
	if err != nil {
		return 1, fmt.Errorf("listen on local port %s: %w", local, err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Fprintf(o.Stdout, "Port %s opened for sessionId %s.\nWaiting for connections...\n", port, o.Start.SessionID)
	fwd := NewPortForwarder(s)
	defer fwd.Close()
	go fwd.Serve(ln, func(net.Conn) {
		fmt.Fprintf(o.Stdout, "\nConnection accepted for session [%s]\n", o.Start.SessionID)
	})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGTSTP)
	defer signal.Stop(sigs)
	select {
	case <-s.Done():
		return 0, s.Err()
	case <-ctx.Done():
	case <-sigs:
	}
	// Ctrl-C: tell the agent, as the plugin does, then leave.
	wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.Write(wctx, wire.PayloadFlag, wire.FlagTerminateSession.Bytes())
	fmt.Fprintf(o.Stdout, "Terminate signal received, exiting.\n")
	return 0, errUserExit
}

// errUserExit: the user ended the session from this side; finish says so.
var errUserExit = errors.New("terminated by the user")

// runTunnel connects stdin and stdout to the session (SSH ProxyCommand).
func runTunnel(ctx context.Context, o RunOptions, s *Session) (int, error) {
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := o.Stdin.Read(buf)
			if n > 0 && s.Write(ctx, wire.PayloadOutput, buf[:n]) != nil {
				return
			}
			if err != nil {
				s.Write(ctx, wire.PayloadFlag, wire.FlagTerminateSession.Bytes())
				return
			}
		}
	}()
	for {
		p, err := s.Read(ctx)
		if err != nil {
			return 0, err
		}
		if p.Type == wire.PayloadOutput {
			if _, err := o.Stdout.Write(p.Data); err != nil {
				return 0, err
			}
		}
	}
}
