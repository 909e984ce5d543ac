package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/faultproxy"
	"github.com/tether-ssm/tether/internal/gateway"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/wire"
)

// TestShellSurvivesClientCuts streams numbered lines from a shell while the
// client's connection is cut again and again: every line arrives once, in
// order, and input typed while disconnected is not lost.
func TestShellSurvivesClientCuts(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	ctx := testCtx(t)
	proxy, err := faultproxy.New(strings.TrimPrefix(e.srv.URL, "http://"))
	must(t, err)
	defer proxy.Close()
	c, id := e.startSessionVia("http://"+proxy.Addr(), "SSM-SessionManagerRunShell", nil)
	const lines = 3000
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("stty -echo; i=0; while [ $i -lt "+fmt.Sprint(lines)+" ]; do i=$((i+1)); echo line-$i; done; echo DONE\n")))

	var out bytes.Buffer
	cutsDone := make(chan int)
	go func() {
		n := 0
		for ; n < 20; n++ {
			time.Sleep(15 * time.Millisecond) // spread the cuts over the transfer; not a correctness wait
			proxy.Cut()
		}
		cutsDone <- n
	}()
	readUntil(t, c, &out, "DONE")
	cuts := <-cutsDone
	// Type while disconnected: the input is queued and delivered after resume.
	proxy.Refuse(true)
	proxy.Cut()
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("echo after-$((1+1))\n")))
	proxy.Refuse(false)
	readUntil(t, c, &out, "after-2")

	// A line may follow the shell's prompt, which raced with our input.
	var got []string
	for _, l := range strings.Split(out.String(), "\n") {
		if m := lineRE.FindStringSubmatch(l); m != nil {
			got = append(got, m[1])
		}
	}
	for i, l := range got {
		if l != fmt.Sprintf("line-%d", i+1) {
			t.Fatalf("line %d is %q after %d cuts: lost, repeated or reordered; context:\n%s", i+1, l, cuts, strings.Join(got[max(0, i-3):min(len(got), i+3)], "\n"))
		}
	}
	if len(got) != lines {
		t.Fatalf("got %d lines after %d cuts, want %d", len(got), cuts, lines)
	}
	if st := e.status(id); st != store.StatusConnected {
		t.Fatalf("status after resume = %s", st)
	}
}

func TestTerminateSendsChannelClosed(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	ctx := testCtx(t)
	c, id := e.startSession("SSM-SessionManagerRunShell", nil)
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("echo ready\n")))
	var out bytes.Buffer
	readUntil(t, c, &out, "ready")
	e.gw.Terminate(ctx, id, "")
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("client got no channel_closed")
	}
	if _, ok := c.ClosedOutput(); !ok || c.Err() != nil {
		t.Fatalf("client end: closed=%v err=%v", ok, c.Err())
	}
	s, err := e.st.ListSessions(ctx, store.SessionQuery{History: true})
	must(t, err)
	if len(s) != 1 || s[0].ID != id || s[0].Status != store.StatusTerminated || s[0].EndDate.IsZero() {
		t.Fatalf("history = %+v", s)
	}
}

func TestIdleTimeoutEndsDisconnectedSession(t *testing.T) {
	e := newEnv(t, gateway.Config{IdleTimeout: 500 * time.Millisecond, SweepInterval: 20 * time.Millisecond})
	ctx := testCtx(t)
	proxy, err := faultproxy.New(strings.TrimPrefix(e.srv.URL, "http://"))
	must(t, err)
	defer proxy.Close()
	c, id := e.startSessionVia("http://"+proxy.Addr(), "SSM-SessionManagerRunShell", nil)
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("echo ready\n")))
	var out bytes.Buffer
	readUntil(t, c, &out, "ready")
	proxy.Refuse(true)
	proxy.Cut()
	waitFor(t, 20*time.Second, "session Terminated by the idle timeout", func() bool { return e.status(id) == store.StatusTerminated })
	select {
	case <-c.Done():
		if err := c.Err(); err == nil {
			t.Fatal("client ended without an error after the idle timeout")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("client kept trying to resume an ended session")
	}
	s, err := e.st.GetSession(ctx, id)
	must(t, err)
	if !strings.Contains(s.Details, "idle timeout") {
		t.Fatalf("details = %q", s.Details)
	}
}

func TestForgedAndSupersededTokensRefused(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	ctx := testCtx(t)
	c0, id := e.startSession("SSM-SessionManagerRunShell", nil)
	c0.Close() // it would resume and take the session back
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/data-channel/" + id + "?role=publish_subscribe"
	// Supersede generation 1 by resuming once.
	if _, err := e.resumer(id)(ctx); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"forged":        "AAAA" + strings.Repeat("x", 100),
		"superseded":    e.clientToken(id, 1),
		"tampered":      tamper(e.clientToken(id, 2)),
		"other session": e.clientToken("alice-00000000000000000", 9),
	} {
		t.Run(name, func(t *testing.T) {
			conn, _, err := websocket.Dial(ctx, url, nil)
			must(t, err)
			defer conn.CloseNow()
			open := fmt.Sprintf(`{"MessageSchemaVersion":"1.0","RequestId":"r","TokenValue":%q,"ClientId":"c"}`, tok)
			must(t, conn.Write(ctx, websocket.MessageText, []byte(open)))
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, _, err = conn.Read(rctx)
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("read after %s token: %v, want close 1008", name, err)
			}
		})
	}
	// The current token is accepted.
	c, err := client.Open(ctx, client.Config{SessionID: id, StreamURL: url, Token: e.clientToken(id, 2)})
	must(t, err)
	defer c.Close()
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("echo ok-$((2+3))\n")))
	var out bytes.Buffer
	readUntil(t, c, &out, "ok-5")
}

var lineRE = regexp.MustCompile(`(line-[0-9]+)\r?$`)

func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
