package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/wire"
)

// startPart times sessions one after another from before StartSession to
// the first shell output at the client.
func startPart(ctx context.Context, s *stack, o options) error {
	ctx, cancel := context.WithTimeout(ctx, o.limit)
	defer cancel()
	var first, answered []time.Duration
	for i := 0; i < o.starts && ctx.Err() == nil; i++ {
		a, f, err := startOne(ctx, s)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("session %d: %w", i+1, err)
		}
		answered, first = append(answered, a), append(first, f)
	}
	fmt.Printf("### Session start (agent shell /bin/sh), %d sessions one after another\n\n", len(first))
	fmt.Println("| from before StartSession to | p50 | p99 | max |")
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| StartSession answered | %s |\n", summary(answered))
	fmt.Printf("| first shell byte at the client | %s |\n", summary(first))
	if len(first) < o.starts {
		fmt.Printf("\nStopped after %d of %d sessions: the %v bound was reached.\n", len(first), o.starts, o.limit)
	}
	fmt.Println()
	return nil
}

func startOne(ctx context.Context, s *stack) (answered, first time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	out, err := s.api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(s.node)})
	if err != nil {
		return 0, 0, fmt.Errorf("start session: %w", err)
	}
	answered = time.Since(t0)
	defer s.terminate(*out.SessionId)
	c, err := client.Open(ctx, client.Config{SessionID: *out.SessionId, StreamURL: *out.StreamUrl, Token: *out.TokenValue})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	sized := false
	for {
		p, err := c.Read(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("read: %w", err)
		}
		switch {
		case p.Type == wire.PayloadHandshakeComplete && !sized:
			// What a terminal client sends first.
			b, _ := json.Marshal(wire.Size{Cols: 120, Rows: 40})
			if err := c.Write(ctx, wire.PayloadSize, b); err != nil {
				return 0, 0, err
			}
			sized = true
		case p.Type == wire.PayloadOutput && len(p.Data) > 0:
			return answered, time.Since(t0), nil
		}
	}
}

// latencyPart times keystroke echoes at each level of concurrent sessions.
func latencyPart(ctx context.Context, s *stack, o options) error {
	fmt.Printf("### Interactive echo latency: one byte to `cat` on a raw PTY (`stty raw -echo`) and back, internal/client, think time uniform 0–%v\n\n", 2*o.think)
	fmt.Println("| concurrent sessions | keystrokes timed | p50 | p99 | max | sessions opened in |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	var notes []string
	for _, n := range o.levels {
		row, note, err := latencyLevel(ctx, s, o, n)
		if err != nil {
			return fmt.Errorf("%d sessions: %w", n, err)
		}
		fmt.Println(row)
		if note != "" {
			notes = append(notes, note)
			break // a level the machine does not cope with ends the series
		}
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println(n)
	}
	if len(notes) > 0 {
		fmt.Println()
	}
	return nil
}

// latencyLevel opens n cat sessions (8 at a time), then has every session
// type keystrokes with a random pause between them: o.keys in all, at
// least 10 and at most 300 per session. It reports a note instead of
// failing when the sessions cannot all be opened within o.setupLimit.
func latencyLevel(ctx context.Context, s *stack, o options, n int) (row, note string, err error) {
	t0 := time.Now()
	sessions, openErr := openMany(ctx, s, n, o.setupLimit)
	opened := time.Since(t0)
	defer closeMany(s, sessions)
	if openErr != nil {
		row = fmt.Sprintf("| %d | – | – | – | – | %d opened in %.1f s, then failed |", n, len(sessions), opened.Seconds())
		return row, fmt.Sprintf("The %d-session level was stopped: %d sessions opened in %.1f s, then: %v.", n, len(sessions), opened.Seconds(), openErr), nil
	}
	per := max(10, min(300, o.keys/n))
	ctx, cancel := context.WithTimeout(ctx, o.limit)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	var failed atomic.Int64
	var firstErr error
	var wg sync.WaitGroup
	for i, cs := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			var mine []time.Duration
			for k := 0; k < per; k++ {
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(r.Int64N(int64(2*o.think) + 1))):
				}
				if ctx.Err() != nil {
					break
				}
				d, err := cs.echo(ctx, byte('a'+k%26))
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						mu.Lock()
						firstErr = errors.Join(firstErr, fmt.Errorf("%s: %w", cs.id, err))
						mu.Unlock()
					}
					break
				}
				mine = append(mine, d)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	row = fmt.Sprintf("| %d | %d | %s | %.1f s |", n, len(all), summary(all), opened.Seconds())
	if failed.Load() > 0 {
		return row, fmt.Sprintf("The %d-session level was stopped: %d sessions failed while typing: %v.", n, failed.Load(), firstErr), nil
	}
	if len(all) < per*n {
		note = fmt.Sprintf("The %d-session level timed %d of %d keystrokes within the %v bound.", n, len(all), per*n, o.limit)
	}
	return row, note, nil
}

// openMany opens n cat sessions, 8 at a time, within limit.
func openMany(ctx context.Context, s *stack, n int, limit time.Duration) ([]*catSession, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var mu sync.Mutex
	var out []*catSession
	var firstErr error
	next := make(chan struct{})
	go func() {
		defer close(next)
		for range n {
			select {
			case next <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				cs, err := openCat(ctx, s, nil, client.Config{})
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					cancel()
				} else {
					out = append(out, cs)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && len(out) < n {
		firstErr = ctx.Err()
	}
	return out, firstErr
}

// closeMany closes and terminates sessions, 16 at a time.
func closeMany(s *stack, sessions []*catSession) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, cs := range sessions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			cs.close(s)
			<-sem
		}()
	}
	wg.Wait()
}
