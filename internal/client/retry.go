package client

import (
	"context"
	"errors"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
)

// schedule is the reconnect policy, as functions of the time since the
// connection was lost (Config documents the fields).
type schedule struct {
	minGap, maxGap         time.Duration
	fraction               float64
	minTimeout, maxTimeout time.Duration
	inflight               int
}

func (c *Config) schedule() schedule {
	return schedule{minGap: c.MinBackoff, maxGap: c.MaxBackoff, fraction: c.BackoffFraction,
		minTimeout: c.AttemptTimeout, maxTimeout: c.MaxAttemptTimeout, inflight: c.MaxInflight}
}

// gap is how long after an attempt started, elapsed after the loss, the
// next one starts: a fixed fraction of the outage so far, so that the wait
// after the network comes back is a small part of the time it was away.
func (s schedule) gap(elapsed time.Duration) time.Duration {
	return clamp(time.Duration(float64(elapsed)*s.fraction), s.minGap, s.maxGap)
}

// timeout is how long an attempt started elapsed after the loss may take:
// short early in an outage, so that dials hanging on a blackholed network
// free their slots, then longer, so that a slow network also gets through.
func (s schedule) timeout(elapsed time.Duration) time.Duration {
	return clamp(elapsed/4, s.minTimeout, s.maxTimeout)
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}

// candidate is an attempt's connection, dialed but not yet in use.
type candidate interface {
	// commit puts the connection into use and returns once the gateway
	// has accepted it, or an error.
	commit(ctx context.Context) error
	// discard closes a connection that is not going to be used.
	discard()
}

// attemptFunc dials one candidate. An error wrapping ErrSessionEnded ends
// the retries; other errors are retried.
type attemptFunc func(ctx context.Context) (candidate, error)

// statusEvery is the least time between two progress reports of one outage
// (the first attempt and the reconnection are always reported).
const statusEvery = 250 * time.Millisecond

// retrier runs the attempts of one outage.
type retrier struct {
	sched   schedule
	clock   stream.Clock
	attempt attemptFunc
	status  func(Status)
	// idle, if set (tests), is called each time the loop is about to wait,
	// with the attempts in flight; it may block.
	idle func(pending map[int]*pendingAttempt)
}

type attemptResult struct {
	id  int
	c   candidate
	err error
}

// pendingAttempt is an attempt in flight.
type pendingAttempt struct {
	started, deadline time.Time
	cancel            context.CancelFunc
	expired           bool // cancelled at its deadline; its result is awaited
}

// run starts attempts on the schedule, at most sched.inflight at a time,
// each cancelled at its deadline; the first candidate to commit wins and
// every other one is discarded. It returns nil once connected, ctx's error
// when ctx ends, or an attempt's error wrapping ErrSessionEnded.
func (r *retrier) run(ctx context.Context, cause error) error {
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan attemptResult, r.sched.inflight)
	pending := map[int]*pendingAttempt{}
	defer func() {
		cancel()
		for range pending { // each attempt sends exactly one result
			if res := <-results; res.c != nil {
				res.c.discard()
			}
		}
	}()
	lost := r.clock.Now()
	next := lost // when the next attempt may start
	var reported time.Time
	timer := r.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for n := 0; ; {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		now := r.clock.Now()
		for _, p := range pending {
			if !p.expired && !now.Before(p.deadline) {
				p.cancel() // its result still comes, and frees the slot
				p.expired = true
			}
		}
		if len(pending) < r.sched.inflight && !now.Before(next) {
			n++
			elapsed := now.Sub(lost)
			if n == 1 || now.Sub(reported) >= statusEvery {
				r.status(Status{Attempt: n, Elapsed: elapsed, Err: cause})
				reported = now
			}
			actx, acancel := context.WithCancel(ctx)
			pending[n] = &pendingAttempt{started: now, deadline: now.Add(r.sched.timeout(elapsed)), cancel: acancel}
			go func(id int) {
				c, err := r.attempt(actx)
				results <- attemptResult{id: id, c: c, err: err}
			}(n)
			next = now.Add(r.sched.gap(elapsed))
		}
		w, due := r.wait(now, next, pending)
		if due && w <= 0 {
			continue
		}
		var tick <-chan time.Time
		if due {
			timer.Reset(w)
			tick = timer.C()
		}
		if r.idle != nil {
			r.idle(pending)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
		case res := <-results:
			timer.Stop()
			p := pending[res.id]
			delete(pending, res.id)
			p.cancel()
			switch {
			case res.err != nil && errors.Is(res.err, ErrSessionEnded):
				return res.err
			case res.err != nil:
				cause = res.err
			default:
				// The commit is I/O: its bound is in real time.
				cctx, ccancel := context.WithTimeout(ctx, r.sched.timeout(r.clock.Now().Sub(lost)))
				err := res.c.commit(cctx)
				ccancel()
				if err != nil {
					res.c.discard()
					cause = err
					continue
				}
				now := r.clock.Now()
				r.status(Status{Connected: true, Attempt: res.id, Elapsed: now.Sub(lost), AttemptTime: now.Sub(p.started)})
				return nil
			}
		}
	}
}

// wait is how long to sleep at now before something is due: the next
// attempt (if a slot is free) or the earliest deadline. due is false when
// nothing is: only a result can wake the loop then.
func (r *retrier) wait(now, next time.Time, pending map[int]*pendingAttempt) (w time.Duration, due bool) {
	at := time.Time{}
	if len(pending) < r.sched.inflight {
		at = next
	}
	for _, p := range pending {
		if !p.expired && (at.IsZero() || p.deadline.Before(at)) {
			at = p.deadline
		}
	}
	if at.IsZero() {
		return 0, false
	}
	return at.Sub(now), true
}
