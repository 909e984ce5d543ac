package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/agent/channel"
	"github.com/tether-ssm/tether/internal/agent/mgs"
	"github.com/tether-ssm/tether/internal/agent/portforward"
	"github.com/tether-ssm/tether/internal/agent/shell"
	"github.com/tether-ssm/tether/internal/controlchannel"
	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/wire"
)

// dataChannel is one session's resumable connection to the gateway.
type dataChannel struct {
	a         *Agent
	sessionID string
	ep        *stream.Endpoint
	cancel    context.CancelFunc // ends the session
	ctx       context.Context

	reconnectMu sync.Mutex       // guards running and again
	running     bool             // a reconnect loop is running
	again       bool             // a transport failed while it ran: run it once more
	early       []stream.Payload // input read during the handshake, for the plugin
}

// runSession runs one session to its end and reports it on the control
// channel.
func (a *Agent) runSession(ctx context.Context, task controlchannel.TaskPayload) {
	log := a.log.With("session_id", task.SessionID)
	log.Info("session starting", "document", task.DocumentName, "type", task.DocumentContent.SessionType)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dc := &dataChannel{a: a, sessionID: task.SessionID, cancel: cancel, ctx: ctx}
	status, output := dc.run(ctx, task)
	log.Info("session ended", "status", status, "output", output)
	a.reportComplete(task.SessionID, status, output)
}

// run opens the data channel, runs the document and drains the stream.
func (dc *dataChannel) run(ctx context.Context, task controlchannel.TaskPayload) (status, output string) {
	ep, err := stream.New(stream.Config{
		Role: stream.RoleAgent, Mode: stream.ModeInterop, Logger: dc.a.log,
		// The real plugin never re-acknowledges a duplicate (protocol.md
		// §4.6): without this a message whose ack died with a connection
		// would stay in the window for ever. Fast mode (a Tether client,
		// which re-acks) does not need it.
		PresumeDeliveredAfter: 30,
		OnControl:             dc.onControl,
		OnTransportError:      func(stream.Transport, error) { dc.triggerReconnect() },
	})
	if err != nil {
		return controlchannel.StatusFailed, err.Error()
	}
	dc.ep = ep
	defer ep.Close(closedContext()) // at once: the drain below waited if there was time
	if err := dc.connectFirst(ctx); err != nil {
		return controlchannel.StatusFailed, fmt.Sprintf("Setting up data channel with id %s failed: %v", dc.sessionID, err)
	}
	ep.SendControl(stateMessage(dc.sessionID, wire.SessionStateConnected))

	runErr := dc.runDocument(ctx, task)
	status = controlchannel.StatusSuccess
	if runErr != nil && ctx.Err() == nil {
		status, output = controlchannel.StatusFailed, runErr.Error()
	}
	if ctx.Err() != nil {
		return controlchannel.StatusCancelled, ""
	}
	// Wait until the client has everything, then say goodbye.
	dctx, dcancel := context.WithTimeout(ctx, dc.a.cfg.DrainTimeout)
	defer dcancel()
	ep.SendControl(stateMessage(dc.sessionID, wire.SessionStateTerminating))
	if err := ep.Close(dctx); err != nil {
		dc.a.log.Warn("session output not fully acknowledged", "session_id", dc.sessionID, "err", err)
	}
	return status, output
}

// connect creates the data channel, dials it and attaches it to the stream.
func (dc *dataChannel) connect(ctx context.Context) error {
	tok, err := dc.a.mgs.CreateDataChannel(ctx, dc.sessionID)
	if err != nil {
		return err
	}
	open := wire.AgentOpenDataChannelInput{
		MessageSchemaVersion: wire.MessageSchemaVersion, RequestID: wire.NewUUID().String(),
		TokenValue: tok, ClientInstanceID: dc.a.cfg.Registration.NodeID,
	}
	// Multiplexed over the node's one connection when the gateway offers
	// it, else the session's own websocket (mgs.OpenDataChannel).
	tr, err := dc.a.mgs.OpenDataChannel(ctx, dc.sessionID, open)
	if err != nil {
		return err
	}
	return dc.ep.Attach(tr)
}

// connectFirst opens the data channel for the first time, retrying
// failures other than the session's end for up to
// Config.FirstConnectTimeout.
func (dc *dataChannel) connectFirst(ctx context.Context) error {
	return dc.connectRetrying(ctx, time.Now().Add(dc.a.cfg.FirstConnectTimeout), 2*time.Second)
}

// connectRetrying calls connect until it succeeds, fails with
// mgs.ErrSessionTerminated, ctx is done, or the next attempt would start
// after deadline (zero: no deadline), backing off from 100 ms to
// maxBackoff. It returns the last error.
func (dc *dataChannel) connectRetrying(ctx context.Context, deadline time.Time, maxBackoff time.Duration) error {
	backoff := 100 * time.Millisecond
	for {
		err := dc.connect(ctx)
		if err == nil || errors.Is(err, mgs.ErrSessionTerminated) || ctx.Err() != nil ||
			(!deadline.IsZero() && time.Now().Add(backoff).After(deadline)) {
			return err
		}
		dc.a.log.Info("data channel connect failed; retrying", "session_id", dc.sessionID, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// triggerReconnect runs the reconnect loop, once at a time. A failure that
// happens while the loop runs (the new transport died before the loop
// returned) makes it run again, so no failure goes unanswered.
func (dc *dataChannel) triggerReconnect() {
	dc.reconnectMu.Lock()
	if dc.running {
		dc.again = true
		dc.reconnectMu.Unlock()
		return
	}
	dc.running = true
	dc.reconnectMu.Unlock()
	go func() {
		for {
			dc.reconnect()
			dc.reconnectMu.Lock()
			if !dc.again {
				dc.running = false
				dc.reconnectMu.Unlock()
				return
			}
			dc.again = false
			dc.reconnectMu.Unlock()
		}
	}()
}

// reconnect re-establishes the data channel after a failure, with backoff,
// until it succeeds, the session ends, or the gateway says the session is
// over.
func (dc *dataChannel) reconnect() {
	err := dc.connectRetrying(dc.ctx, time.Time{}, 5*time.Second)
	switch {
	case err == nil:
		dc.a.log.Info("data channel reconnected", "session_id", dc.sessionID)
	case errors.Is(err, mgs.ErrSessionTerminated):
		dc.a.log.Info("session terminated while reconnecting", "session_id", dc.sessionID)
		dc.cancel()
	}
}

// onControl handles gateway messages the stream does not consume.
func (dc *dataChannel) onControl(m *wire.Message) {
	if m.MessageType == wire.TypeChannelClosed {
		dc.cancel()
	}
}

// closedContext returns a cancelled context, for Close calls that must not
// wait.
func closedContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func stateMessage(sessionID, state string) wire.Message {
	p, _ := json.Marshal(wire.AgentSessionState{SchemaVersion: 1, SessionState: state, SessionID: sessionID})
	return wire.Message{MessageType: wire.TypeAgentSessionState, Flags: wire.FlagsAck, Payload: p}
}

// reportComplete sends agent_task_complete on the control channel.
func (a *Agent) reportComplete(sessionID, status, output string) {
	p, _ := json.Marshal(controlchannel.TaskComplete{
		SchemaVersion: 1, TaskID: sessionID, Topic: wire.TypeAgentTaskComplete,
		FinalTaskStatus: status, InstanceID: a.cfg.Registration.NodeID, Output: output, RetryNumber: 1,
	})
	m := &wire.Message{
		MessageType: wire.TypeAgentTaskComplete, SchemaVersion: wire.SchemaVersion,
		CreatedDate: wire.Millis(time.Now()), MessageID: wire.NewUUID(), Payload: p,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.sendControl(ctx, m); err != nil {
		a.log.Warn("report session end", "session_id", sessionID, "err", err)
	}
}

func writeJSON(ctx context.Context, conn *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageText, b)
}

// runDocument runs the session document's plugin. Every session starts
// with the handshake (the real plugin answers it for shells too, as in KMS
// sessions), so that a Tether client gets fast mode and separate streams.
func (dc *dataChannel) runDocument(ctx context.Context, task controlchannel.TaskPayload) error {
	doc := task.DocumentContent
	out := &streamOutput{ep: dc.ep}
	in := make(chan channel.Input)
	cfg := dc.a.cfg.Shell
	if task.RunAsUser != "" {
		cfg.RunAsUser = task.RunAsUser
	}
	switch doc.SessionType {
	case wire.SessionStandardStream, wire.SessionInteractiveCommands:
		var cmds string
		if doc.SessionType == wire.SessionInteractiveCommands {
			cmd, err := linuxCommand(doc)
			if err != nil {
				return err
			}
			cmds = cmd.Commands
		}
		if _, err := dc.handshake(ctx, doc); err != nil {
			return err
		}
		go dc.pumpInput(ctx, in)
		_, err := shell.RunInteractive(ctx, cfg, shell.InteractiveOptions{Commands: cmds}, in, out)
		return err
	case wire.SessionNonInteractiveCommands:
		cmd, err := linuxCommand(doc)
		if err != nil {
			return err
		}
		pr, err := dc.handshake(ctx, doc)
		if err != nil {
			return err
		}
		go dc.pumpInput(ctx, in)
		_, err = shell.RunCommand(ctx, cfg, shell.CommandOptions{
			Commands: cmd.Commands, SeparateOutput: cmd.SeparateOutputStream || pr.tether,
			StdoutPrefix: cmd.StdOutSeparatorPrefix, StderrPrefix: cmd.StdErrSeparatorPrefix,
		}, in, out)
		return err
	case wire.SessionPort:
		var props controlchannel.PortProperties
		if err := json.Unmarshal(doc.Properties, &props); err != nil || props.PortNumber == "" {
			return errors.New("Port document has no portNumber")
		}
		pr, err := dc.handshake(ctx, doc)
		if err != nil {
			return err
		}
		go dc.pumpInput(ctx, in)
		err = portforward.Run(ctx, portforward.Config{
			Host: props.Host, Port: props.PortNumber, Mode: portMode(props, pr.version), Logger: dc.a.log,
		}, in, out)
		if errors.Is(err, portforward.ErrTerminated) {
			return nil
		}
		return err
	default:
		return fmt.Errorf("unsupported session type %q", doc.SessionType)
	}
}

// linuxCommand returns the linux command of a command document.
func linuxCommand(doc controlchannel.DocumentContent) (*controlchannel.PlatformCommand, error) {
	var props controlchannel.CommandProperties
	if err := json.Unmarshal(doc.Properties, &props); err != nil || props.Linux == nil || props.Linux.Commands == "" {
		return nil, fmt.Errorf("%s document has no linux commands", doc.SessionType)
	}
	return props.Linux, nil
}

// portMode chooses the forwarding mode as the real agent does (§6.2).
func portMode(p controlchannel.PortProperties, clientVersion string) portforward.Mode {
	if p.Type != "LocalPortForwarding" {
		return portforward.Stream
	}
	if versionAtLeast(clientVersion, "1.1.70") {
		return portforward.Mux
	}
	return portforward.Basic
}

// pumpInput reads the stream and feeds the plugin, until ctx is done.
func (dc *dataChannel) pumpInput(ctx context.Context, in chan<- channel.Input) {
	early := dc.early
	dc.early = nil
	for {
		var p stream.Payload
		if len(early) > 0 {
			p, early = early[0], early[1:]
		} else {
			var err error
			if p, err = dc.ep.Read(ctx); err != nil {
				return
			}
		}
		msg, ok := toInput(p)
		if !ok {
			continue
		}
		select {
		case in <- msg:
		case <-ctx.Done():
			return
		}
	}
}

func toInput(p stream.Payload) (channel.Input, bool) {
	switch p.Type {
	case wire.PayloadOutput:
		return channel.Input{Kind: channel.Data, Data: p.Data}, true
	case wire.PayloadSize:
		in, err := channel.ParseSize(p.Data)
		return in, err == nil
	case wire.PayloadFlag:
		f, err := wire.ParseFlag(p.Data)
		return channel.Input{Kind: channel.Flag, Flag: uint32(f)}, err == nil
	}
	return channel.Input{}, false
}

// streamOutput is channel.Output over the session's stream.
type streamOutput struct{ ep *stream.Endpoint }

func (o *streamOutput) write(ctx context.Context, pt wire.PayloadType, p []byte) error {
	_, err := o.ep.Write(ctx, pt, p)
	return err
}

func (o *streamOutput) Stdout(ctx context.Context, p []byte) error {
	return o.write(ctx, wire.PayloadOutput, p)
}

func (o *streamOutput) Stderr(ctx context.Context, p []byte) error {
	return o.write(ctx, wire.PayloadStdErr, p)
}

func (o *streamOutput) ExitCode(ctx context.Context, code int) error {
	return o.write(ctx, wire.PayloadExitCode, wire.ExitCodePayload(code))
}

func (o *streamOutput) Flag(ctx context.Context, f uint32) error {
	return o.write(ctx, wire.PayloadFlag, wire.Flag(f).Bytes())
}

func (o *streamOutput) MaxPayload() int { return o.ep.Config().MaxPayload }
