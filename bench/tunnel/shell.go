package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/wire"
)

// catSession is a shell session running `cat` on a raw, non-echoing PTY:
// every byte written comes back once, unchanged.
type catSession struct {
	id string
	c  *client.Session
}

// openCat starts a shell session and turns it into cat. rewrite, if set,
// changes the StreamUrl (to go through a proxy); cfg is the rest of the
// client's configuration.
func openCat(ctx context.Context, s *stack, rewrite func(string) string, cfg client.Config) (*catSession, error) {
	out, err := s.api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(s.node)})
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	cfg.SessionID, cfg.StreamURL, cfg.Token = *out.SessionId, *out.StreamUrl, *out.TokenValue
	if rewrite != nil {
		cfg.StreamURL = rewrite(cfg.StreamURL)
	}
	c, err := client.Open(ctx, cfg)
	if err != nil {
		s.terminate(*out.SessionId)
		return nil, err
	}
	cs := &catSession{id: *out.SessionId, c: c}
	size, _ := json.Marshal(wire.Size{Cols: 120, Rows: 40})
	if err := c.Write(ctx, wire.PayloadSize, size); err != nil {
		cs.close(s)
		return nil, err
	}
	// The typed line is echoed with "READY;"; only the output of echo ends
	// the line right after READY.
	if err := c.Write(ctx, wire.PayloadOutput, []byte("stty raw -echo; echo READY; exec cat\n")); err != nil {
		cs.close(s)
		return nil, err
	}
	var pre bytes.Buffer
	for !bytes.Contains(pre.Bytes(), []byte("READY\n")) && !bytes.Contains(pre.Bytes(), []byte("READY\r\n")) {
		p, err := c.Read(ctx)
		if err != nil {
			cs.close(s)
			return nil, fmt.Errorf("waiting for cat: %w (got %q)", err, pre.String())
		}
		if p.Type == wire.PayloadOutput {
			pre.Write(p.Data)
		}
	}
	return cs, nil
}

// echo writes b and waits until it comes back; it returns the time taken.
func (cs *catSession) echo(ctx context.Context, b byte) (time.Duration, error) {
	t0 := time.Now()
	if err := cs.c.Write(ctx, wire.PayloadOutput, []byte{b}); err != nil {
		return 0, err
	}
	return cs.await(ctx, b, t0)
}

// await reads until b arrives and returns the time since t0.
func (cs *catSession) await(ctx context.Context, b byte, t0 time.Time) (time.Duration, error) {
	for {
		p, err := cs.c.Read(ctx)
		if err != nil {
			return 0, err
		}
		if p.Type != wire.PayloadOutput || len(p.Data) == 0 {
			continue
		}
		d := time.Since(t0)
		if len(p.Data) != 1 || p.Data[0] != b {
			return d, fmt.Errorf("sent %q, got back %q", b, p.Data)
		}
		return d, nil
	}
}

func (cs *catSession) close(s *stack) {
	cs.c.Close()
	s.terminate(cs.id)
}

func (s *stack) terminate(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.api.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(id)})
}

// pct returns the p-th percentile (nearest rank) of sorted d.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(float64(len(d)-1)*p+0.5)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// summary formats p50 | p99 | max of d (sorted in place) as table cells.
func summary(d []time.Duration) string {
	slices.Sort(d)
	if len(d) == 0 {
		return "– | – | –"
	}
	return fmt.Sprintf("%s | %s | %s", ms(pct(d, 0.5)), ms(pct(d, 0.99)), ms(d[len(d)-1]))
}
