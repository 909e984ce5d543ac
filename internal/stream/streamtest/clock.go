package streamtest

import (
	"sync"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
)

// Clock is a fake stream.Clock: time stands still until Advance.
type Clock struct {
	mu     sync.Mutex // guards the fields below
	now    time.Time
	timers map[*timer]struct{} // armed timers
}

var _ stream.Clock = (*Clock)(nil)

// NewClock returns a fake clock reading start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, timers: make(map[*timer]struct{})}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock is advanced past now+d.
func (c *Clock) NewTimer(d time.Duration) stream.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d and fires every timer that is due.
// A timer whose channel already holds a value does not get a second one.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	for t := range c.timers {
		if !t.when.After(now) {
			delete(c.timers, t)
			select {
			case t.ch <- now:
			default:
			}
		}
	}
	c.mu.Unlock()
}

// Armed returns how many timers are waiting to fire.
func (c *Clock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type timer struct {
	c    *Clock
	ch   chan time.Time
	when time.Time // guarded by c.mu
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, armed := t.c.timers[t]
	delete(t.c.timers, t)
	return armed
}

func (t *timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, armed := t.c.timers[t]
	t.when = t.c.now.Add(d)
	t.c.timers[t] = struct{}{}
	return armed
}
