package client

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
)

func defaultSchedule() schedule {
	var c Config
	c.setDefaults()
	return c.schedule()
}

func TestScheduleDefaults(t *testing.T) {
	tests := []struct {
		elapsed      time.Duration
		gap, timeout time.Duration
	}{
		{0, 10 * time.Millisecond, time.Second},
		{500 * time.Millisecond, 10 * time.Millisecond, time.Second},
		{time.Second, 10 * time.Millisecond, time.Second},
		{2 * time.Second, 20 * time.Millisecond, time.Second},
		{5 * time.Second, 50 * time.Millisecond, 1250 * time.Millisecond},
		{15 * time.Second, 150 * time.Millisecond, 3750 * time.Millisecond},
		{time.Minute, 600 * time.Millisecond, 10 * time.Second},
		{200 * time.Second, 2 * time.Second, 10 * time.Second},
		{time.Hour, 2 * time.Second, 10 * time.Second},
	}
	s := defaultSchedule()
	if s.inflight != 8 {
		t.Fatalf("inflight = %d, want 8", s.inflight)
	}
	for _, tc := range tests {
		t.Run(tc.elapsed.String(), func(t *testing.T) {
			if got := s.gap(tc.elapsed); got != tc.gap {
				t.Errorf("gap = %v, want %v", got, tc.gap)
			}
			if got := s.timeout(tc.elapsed); got != tc.timeout {
				t.Errorf("timeout = %v, want %v", got, tc.timeout)
			}
		})
	}
}

// fakeClock is a stream.Clock whose time moves only when the test moves it
// to the next armed timer.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]time.Time
}

type fakeTimer struct {
	c  *fakeClock
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), timers: map[*fakeTimer]time.Time{}}
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) NewTimer(d time.Duration) stream.Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, armed := t.c.timers[t]
	delete(t.c.timers, t)
	select { // no stale tick after Stop
	case <-t.ch:
	default:
	}
	return armed
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	armed := t.Stop()
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.c.timers[t] = t.c.now.Add(d)
	return armed
}

// advance moves the clock to the earliest armed timer and fires it; it
// reports false if no timer is armed.
func (c *fakeClock) advance() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first *fakeTimer
	for t, when := range c.timers {
		if first == nil || when.Before(c.timers[first]) {
			first = t
		}
	}
	if first == nil {
		return false
	}
	if when := c.timers[first]; when.After(c.now) {
		c.now = when
	}
	for t, when := range c.timers {
		if !when.After(c.now) {
			delete(c.timers, t)
			t.ch <- c.now
		}
	}
	return true
}

// fakeCandidate records what the retrier did with it.
type fakeCandidate struct {
	mu                   sync.Mutex
	commitErr            error
	committed, discarded bool
}

func (c *fakeCandidate) commit(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.committed = true
	return c.commitErr
}

func (c *fakeCandidate) discard() { c.mu.Lock(); c.discarded = true; c.mu.Unlock() }

func (c *fakeCandidate) state() (committed, discarded bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed, c.discarded
}

// behaviour says what attempt n does: it returns at once (block false), or
// waits for its context to end first (block true, a blackholed dial); then
// it returns the candidate or the error.
type behaviour func(n int) (block bool, c candidate, err error)

var errRefused = errors.New("connection refused")

func refused(int) (bool, candidate, error) { return false, nil, errRefused }

func blackholed(int) (bool, candidate, error) { return true, nil, errRefused }

// harness runs a retrier on a fake clock in lock step: each time the loop
// waits, the harness either lets a result that is on its way arrive or
// moves the clock to the next timer.
type harness struct {
	t      *testing.T
	clock  *fakeClock
	do     behaviour
	mu     sync.Mutex
	starts []time.Duration // attempt start times, since the loss
	modes  map[int]bool    // attempt → blocks until cancelled
	status []Status
	idle   chan []pendingSnap
	lost   time.Time
}

type pendingSnap struct {
	id      int
	expired bool
}

func newHarness(t *testing.T, do behaviour) *harness {
	c := newFakeClock()
	return &harness{t: t, clock: c, do: do, modes: map[int]bool{}, idle: make(chan []pendingSnap), lost: c.Now()}
}

func (h *harness) attempt(ctx context.Context) (candidate, error) {
	h.mu.Lock()
	h.starts = append(h.starts, h.clock.Now().Sub(h.lost))
	n := len(h.starts)
	block, c, err := h.do(n)
	h.modes[n] = block
	h.mu.Unlock()
	if block {
		<-ctx.Done()
	}
	return c, err
}

// run runs the retrier until it returns or the fake clock passes limit.
func (h *harness) run(sched schedule, limit time.Duration) (error, bool) {
	r := retrier{sched: sched, clock: h.clock, attempt: h.attempt,
		status: func(st Status) { h.mu.Lock(); h.status = append(h.status, st); h.mu.Unlock() },
		idle: func(p map[int]*pendingAttempt) {
			snap := make([]pendingSnap, 0, len(p))
			for id, a := range p {
				snap = append(snap, pendingSnap{id, a.expired})
			}
			h.idle <- snap
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.run(ctx, errRefused) }()
	deadline := time.After(30 * time.Second) // real time: a hung loop fails the test
	for {
		select {
		case err := <-done:
			return err, true
		case <-deadline:
			h.t.Fatal("retrier loop did not progress")
		case snap := <-h.idle:
			if h.resultsDue(snap) {
				continue // the loop wakes on it
			}
			if h.clock.Now().Sub(h.lost) >= limit {
				cancel()
				for {
					select {
					case err := <-done:
						return err, false
					case <-h.idle: // it may take a result before it sees ctx
					}
				}
			}
			if !h.clock.advance() {
				h.t.Fatal("the loop waits with no timer armed and no result coming")
			}
		}
	}
}

// resultsDue reports whether an attempt in flight returns without the
// clock moving: one that does not block, or one cancelled at its deadline.
func (h *harness) resultsDue(snap []pendingSnap) bool {
	h.waitKnown(snap)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range snap {
		if !h.modes[p.id] || p.expired {
			return true
		}
	}
	return false
}

// waitKnown waits until every attempt in flight has said whether it blocks.
func (h *harness) waitKnown(snap []pendingSnap) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Microsecond) {
		h.mu.Lock()
		known := true
		for _, p := range snap {
			if _, ok := h.modes[p.id]; !ok {
				known = false
			}
		}
		h.mu.Unlock()
		if known {
			return
		}
	}
	h.t.Fatal("an attempt did not start")
}

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// TestRetrierRefusedNetwork: attempts that fail at once start on the
// schedule: 10 ms apart for the first second, then 1% of the outage apart;
// progress is reported at most every 250 ms.
func TestRetrierRefusedNetwork(t *testing.T) {
	h := newHarness(t, refused)
	sched := defaultSchedule()
	if _, ended := h.run(sched, 20*time.Second); ended {
		t.Fatal("the retrier stopped on its own")
	}
	var want []time.Duration // up to the first at or after the limit
	for at := time.Duration(0); ; at += sched.gap(at) {
		want = append(want, at)
		if at >= 20*time.Second {
			break
		}
	}
	if len(h.starts) != len(want) {
		t.Fatalf("%d attempts in 20 s, want %d", len(h.starts), len(want))
	}
	for i := range want {
		if h.starts[i] != want[i] {
			t.Fatalf("attempt %d started at %v, want %v", i+1, h.starts[i], want[i])
		}
	}
	if n := len(want); n < 350 || n > 450 {
		t.Fatalf("%d attempts in 20 s, expected about 100 + 100·ln(20)", n)
	}
	// Progress: the first attempt, then at most one report per 250 ms.
	if len(h.status) == 0 || h.status[0].Attempt != 1 || h.status[0].Elapsed != 0 || !errors.Is(h.status[0].Err, errRefused) {
		t.Fatalf("first status = %+v", h.status)
	}
	for i := 1; i < len(h.status); i++ {
		if d := h.status[i].Elapsed - h.status[i-1].Elapsed; d < statusEvery || d > statusEvery+200*time.Millisecond {
			t.Fatalf("status %d came %v after the previous one", i, d)
		}
	}
}

// TestRetrierBlackholedNetwork: dials that hang hold at most MaxInflight
// slots; each is cancelled at its deadline and its slot goes to a new
// attempt at once.
func TestRetrierBlackholedNetwork(t *testing.T) {
	h := newHarness(t, blackholed)
	sched := defaultSchedule()
	h.run(sched, 5*time.Second)
	// Attempt k starts when the gap after attempt k-1 has passed and a slot
	// is free: attempt k-8 has reached its deadline (1 s early on).
	var want []time.Duration
	for k := 0; len(want) == 0 || want[len(want)-1] < 5*time.Second; k++ {
		at := time.Duration(0)
		if k > 0 {
			at = want[k-1] + sched.gap(want[k-1])
		}
		if k >= 8 {
			at = max(at, want[k-8]+sched.timeout(want[k-8]))
		}
		want = append(want, at)
	}
	if fmt.Sprint(h.starts) != fmt.Sprint(want) {
		t.Fatalf("attempts started at\n%v\nwant\n%v", h.starts, want)
	}
	for i, at := range []time.Duration{0, ms(10), ms(20), ms(30), ms(40), ms(50), ms(60), ms(70), ms(1000), ms(1010)} {
		if h.starts[i] != at {
			t.Fatalf("attempt %d started at %v, want %v", i+1, h.starts[i], at)
		}
	}
}

// TestRetrierOutcomes: who wins, what is discarded, when it stops.
func TestRetrierOutcomes(t *testing.T) {
	errEnded := fmt.Errorf("%w: gone", ErrSessionEnded)
	tests := []struct {
		name string
		// cands[n] is attempt n's candidate; attempts with none are refused
		// at once, or block until cancelled when blocks[n].
		cands     map[int]*fakeCandidate
		blocks    map[int]bool
		endAt     int // attempt returning ErrSessionEnded
		err       error
		winner    int
		discarded []int
	}{
		{name: "first candidate wins", cands: map[int]*fakeCandidate{3: {}}, winner: 3},
		{name: "commit refused, next wins",
			cands:  map[int]*fakeCandidate{2: {commitErr: errors.New("closed 1008")}, 4: {}},
			winner: 4, discarded: []int{2}},
		{name: "late candidates of cancelled attempts are discarded",
			cands:  map[int]*fakeCandidate{1: {}, 2: {}, 3: {}},
			blocks: map[int]bool{1: true, 2: true},
			winner: 3, discarded: []int{1, 2}},
		{name: "session ended stops", endAt: 5, err: ErrSessionEnded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(n int) (bool, candidate, error) {
				if n == tc.endAt {
					return false, nil, errEnded
				}
				if c, ok := tc.cands[n]; ok {
					return tc.blocks[n], c, nil
				}
				return tc.blocks[n], nil, errRefused
			})
			err, ended := h.run(defaultSchedule(), 10*time.Second)
			if !ended {
				t.Fatal("the retrier did not stop")
			}
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("run = %v, want %v", err, tc.err)
			}
			var discarded []int
			for n, c := range tc.cands {
				committed, d := c.state()
				if committed != (n == tc.winner || c.commitErr != nil) {
					t.Errorf("candidate %d committed = %v", n, committed)
				}
				if d {
					discarded = append(discarded, n)
				}
			}
			sort.Ints(discarded)
			if fmt.Sprint(discarded) != fmt.Sprint(tc.discarded) && len(discarded)+len(tc.discarded) > 0 {
				t.Errorf("discarded %v, want %v", discarded, tc.discarded)
			}
			last := h.status[len(h.status)-1]
			if tc.winner != 0 {
				if !last.Connected || last.Attempt != tc.winner || last.Elapsed != h.starts[tc.winner-1] || last.AttemptTime != 0 {
					t.Errorf("last status = %+v, want connected by attempt %d at %v", last, tc.winner, h.starts[tc.winner-1])
				}
			} else if last.Connected {
				t.Errorf("reported connected: %+v", last)
			}
		})
	}
}
