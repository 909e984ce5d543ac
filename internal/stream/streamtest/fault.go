package streamtest

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/tether-ssm/tether/internal/stream"
)

// Faults are the per-frame probabilities of a Faulty transport's misdeeds.
type Faults struct {
	Drop      float64 // the frame is lost
	Duplicate float64 // the frame is delivered twice
	Delay     float64 // the frame is held back and delivered after later ones
	// MaxDelay is how many later sends a delayed frame waits for, at most.
	// Zero means 8. A held frame is lost if the transport closes first.
	MaxDelay int
}

// FaultStats counts what a Faulty transport did.
type FaultStats struct {
	Sent, Dropped, Duplicated, Delayed int
}

// Faulty wraps a transport and drops, duplicates and delays (reorders) the
// frames sent through it, at random but reproducibly from seed.
type Faulty struct {
	stream.Transport
	f Faults

	mu    sync.Mutex // guards the fields below
	rng   *rand.Rand
	held  []heldFrame
	stats FaultStats
}

type heldFrame struct {
	frame []byte
	after int // sends to wait
}

var _ stream.Transport = (*Faulty)(nil)

// NewFaulty wraps t.
func NewFaulty(t stream.Transport, f Faults, seed uint64) *Faulty {
	if f.MaxDelay <= 0 {
		f.MaxDelay = 8
	}
	return &Faulty{Transport: t, f: f, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Send sends frame, or not, or twice, or later.
func (t *Faulty) Send(ctx context.Context, frame []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.Sent++
	r := t.rng.Float64()
	switch {
	case r < t.f.Drop:
		t.stats.Dropped++
		return nil
	case r < t.f.Drop+t.f.Delay:
		t.stats.Delayed++
		t.held = append(t.held, heldFrame{append([]byte(nil), frame...), 1 + t.rng.IntN(t.f.MaxDelay)})
		return nil
	}
	if err := t.Transport.Send(ctx, frame); err != nil {
		return err
	}
	if r < t.f.Drop+t.f.Delay+t.f.Duplicate {
		t.stats.Duplicated++
		if err := t.Transport.Send(ctx, frame); err != nil {
			return err
		}
	}
	return t.releaseLocked(ctx)
}

// releaseLocked sends the held frames whose wait is over.
func (t *Faulty) releaseLocked(ctx context.Context) error {
	k := 0
	for _, h := range t.held {
		h.after--
		if h.after > 0 {
			t.held[k] = h
			k++
			continue
		}
		if err := t.Transport.Send(ctx, h.frame); err != nil {
			return err
		}
	}
	clear(t.held[k:])
	t.held = t.held[:k]
	return nil
}

// Stats returns what the transport has done so far.
func (t *Faulty) Stats() FaultStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}
