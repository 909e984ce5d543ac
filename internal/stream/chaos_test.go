package stream_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"hash"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/stream/streamtest"
	"github.com/tether-ssm/tether/internal/wire"
)

var (
	chaosFastBytes    = flag.Int("chaos.fast-bytes", 64<<20, "bytes sent each way by the fast-mode chaos test")
	chaosInteropBytes = flag.Int("chaos.interop-bytes", 64<<20, "bytes sent each way by the interop-mode chaos test")
	chaosCuts         = flag.Int("chaos.cuts", 1000, "minimum number of transport cuts in each chaos test")
	chaosSeed         = flag.Uint64("chaos.seed", 0, "seed of the chaos tests (0: random, logged)")
	chaosTimeout      = flag.Duration("chaos.timeout", 4*time.Minute, "give up (and fail) after this long")
)

// TestChaos runs two endpoints, each writing and reading at full speed, over
// in-memory transports that drop, duplicate and delay frames and that are
// cut and replaced (closed, half-open, or abandoned; one side re-attached
// before the other) at random points. The bytes each side reads must equal
// the bytes the other wrote (SHA-256 and length), the typed control payloads
// must arrive in order without gaps or repeats, and the run must end.
func TestChaos(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       stream.Mode
		negotiated bool
		bytes      int
	}{
		{"interop", stream.ModeInterop, false, *chaosInteropBytes},
		{"fast", stream.ModeFast, false, *chaosFastBytes},
		// As in a real session: both sides start in interop mode (the
		// agent ready for the real plugin, with PresumeDeliveredAfter) and
		// switch to fast mode after the handshake.
		{"fast-negotiated", stream.ModeFast, true, *chaosFastBytes / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := *chaosSeed
			if seed == 0 {
				seed = rand.Uint64()
			}
			t.Logf("seed %d (rerun with -chaos.seed=%d)", seed, seed)
			runChaos(t, tc.mode, tc.negotiated, tc.bytes, seed)
		})
	}
}

// negotiatedEndpoint starts an endpoint in interop mode as the agent and
// client do, then switches it to fast mode with the chaos test's sizes.
func negotiatedEndpoint(t *testing.T, role stream.Role, clk stream.Clock) *stream.Endpoint {
	t.Helper()
	cfg := chaosConfig(role, stream.ModeInterop, clk)
	fast := chaosConfig(role, stream.ModeFast, clk)
	cfg.SendWindowMessages, cfg.RecvBufferMessages = fast.SendWindowMessages, fast.RecvBufferMessages
	if role == stream.RoleAgent {
		cfg.PresumeDeliveredAfter = 30 // as internal/agent sets it
	}
	ep := newEndpoint(t, cfg)
	err := ep.EnableFast(context.Background(), stream.FastOptions{
		SendWindowBytes: fast.SendWindowBytes, RecvBufferBytes: fast.RecvBufferBytes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func chaosConfig(role stream.Role, mode stream.Mode, clk stream.Clock) stream.Config {
	cfg := stream.DefaultConfig(role, mode)
	cfg.Clock = clk
	if mode == stream.ModeFast {
		// Small windows keep the resend after each of the many cuts short.
		cfg.SendWindowBytes, cfg.SendWindowMessages = 512<<10, 64 // cumulative acks, no digests
	} else {
		cfg.SendWindowBytes, cfg.SendWindowMessages = 128<<10, 128
	}
	cfg.RecvBufferBytes, cfg.RecvBufferMessages = cfg.SendWindowBytes, cfg.SendWindowMessages
	return cfg
}

func runChaos(t *testing.T, mode stream.Mode, negotiated bool, total int, seed uint64) {
	ctx := testContext(t, *chaosTimeout)
	clk := streamtest.NewClock(epoch)
	var client, agent *stream.Endpoint
	if negotiated {
		client = negotiatedEndpoint(t, stream.RoleClient, clk)
		agent = negotiatedEndpoint(t, stream.RoleAgent, clk)
	} else {
		client = newEndpoint(t, chaosConfig(stream.RoleClient, mode, clk))
		agent = newEndpoint(t, chaosConfig(stream.RoleAgent, mode, clk))
	}
	ch := newChaos(client, agent, seed, int64(2*total), *chaosCuts)
	ch.attachBoth()

	// Time runs 5x faster than real time, driven by one goroutine, which
	// also completes half-done cuts.
	stopClock := make(chan struct{})
	var clockWG sync.WaitGroup
	clockWG.Add(1)
	go func() {
		defer clockWG.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopClock:
				return
			case <-tick.C:
				clk.Advance(5 * time.Millisecond)
				ch.tick()
			}
		}
	}()
	defer func() { close(stopClock); clockWG.Wait() }()

	sides := []*chaosSide{
		{name: "client→agent", w: client, r: agent, seed: seed ^ 1, slow: negotiated},
		{name: "agent→client", w: agent, r: client, seed: seed ^ 2, slow: negotiated},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, s := range sides {
		wg.Add(2)
		go func() { defer wg.Done(); errs <- s.write(ctx, total) }()
		go func() { defer wg.Done(); errs <- s.read(ctx, total, ch) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("%v\nclient %+v\nagent %+v", err, client.Stats(), agent.Stats())
		}
	}
	if t.Failed() {
		return
	}
	for _, s := range sides {
		if s.sentSum != s.recvSum || s.sentN != s.recvN {
			t.Errorf("%s: sent %d bytes sha256 %x, received %d bytes sha256 %x", s.name, s.sentN, s.sentSum, s.recvN, s.recvSum)
		}
	}
	// Both sides wait for their acks before either stops acknowledging.
	flushErrs := make(chan error, 2)
	for _, ep := range []*stream.Endpoint{client, agent} {
		go func() { flushErrs <- ep.Flush(ctx) }()
	}
	for range 2 {
		if err := <-flushErrs; err != nil {
			t.Errorf("flush: %v\nclient %s\nagent %s", err, client.StateForTest(), agent.StateForTest())
		}
	}
	for _, ep := range []*stream.Endpoint{client, agent} {
		if err := ep.Close(ctx); err != nil {
			t.Errorf("close: %v\nclient %s\nagent %s\nclock %v pending %v", err, client.StateForTest(), agent.StateForTest(), clk.Now(), ch.pendingForTest())
		}
	}
	cuts, fs := ch.summary()
	if cuts < *chaosCuts {
		t.Errorf("only %d transport cuts, want at least %d", cuts, *chaosCuts)
	}
	cs, as := client.Stats(), agent.Stats()
	t.Logf("%d cuts; faults %+v", cuts, fs)
	t.Logf("client %+v", cs)
	t.Logf("agent  %+v", as)
	if fs.Dropped == 0 || fs.Duplicated == 0 || fs.Delayed == 0 || cs.Duplicates+as.Duplicates == 0 {
		t.Errorf("the faults did not happen: %+v", fs)
	}
}

// chaosSide is one direction of the chaos test.
type chaosSide struct {
	name         string
	w, r         *stream.Endpoint
	seed         uint64
	slow         bool // the reader pauses now and then (full buffers: parked and dropped messages)
	sentSum      [32]byte
	recvSum      [32]byte
	sentN, recvN int
}

// write sends total bytes of Output in random-sized chunks, with a numbered
// Size message after every chunk whose first byte is 0.
func (s *chaosSide) write(ctx context.Context, total int) error {
	rng := rand.New(rand.NewPCG(s.seed, 7))
	data := rand.NewChaCha8([32]byte{byte(s.seed), byte(s.seed >> 8), 1})
	h := sha256.New()
	max := s.w.Config().MaxPayload
	buf := make([]byte, 3*max)
	ctrl := 0
	for s.sentN < total {
		n := min(1+rng.IntN(len(buf)), total-s.sentN)
		chunk := buf[:n]
		_, _ = data.Read(chunk)
		if _, err := s.w.Write(ctx, wire.PayloadOutput, chunk); err != nil {
			return fmt.Errorf("%s: write at %d: %w", s.name, s.sentN, err)
		}
		h.Write(chunk)
		s.sentN += n
		if chunk[0] == 0 {
			ctrl++
			if _, err := s.w.Write(ctx, wire.PayloadSize, binary.BigEndian.AppendUint32(nil, uint32(ctrl))); err != nil {
				return fmt.Errorf("%s: write control: %w", s.name, err)
			}
		}
	}
	copy(s.sentSum[:], h.Sum(nil))
	return nil
}

func (s *chaosSide) read(ctx context.Context, total int, ch *chaos) error {
	var h hash.Hash = sha256.New()
	ctrl := uint32(0)
	pause := rand.New(rand.NewPCG(s.seed, 11))
	for s.recvN < total {
		if s.slow && pause.IntN(64) == 0 {
			// Load shaping, not synchronisation: the writer fills the
			// reader's buffers meanwhile.
			time.Sleep(time.Duration(pause.IntN(3000)) * time.Microsecond)
		}
		p, err := s.r.Read(ctx)
		if err != nil {
			return fmt.Errorf("%s: read at %d of %d: %w", s.name, s.recvN, total, err)
		}
		switch p.Type {
		case wire.PayloadOutput:
			h.Write(p.Data)
			s.recvN += len(p.Data)
			ch.advance(len(p.Data))
		case wire.PayloadSize:
			if got := binary.BigEndian.Uint32(p.Data); got != ctrl+1 {
				return fmt.Errorf("%s: control payload %d after %d", s.name, got, ctrl)
			}
			ctrl++
		default:
			return fmt.Errorf("%s: unexpected payload type %v", s.name, p.Type)
		}
	}
	copy(s.recvSum[:], h.Sum(nil))
	return nil
}

// chaos cuts and replaces the transports between two endpoints when the
// bytes delivered (both directions together) cross random thresholds.
type chaos struct {
	client, agent *stream.Endpoint

	mu         sync.Mutex // guards the fields below
	rng        *rand.Rand
	faults     streamtest.Faults
	cur        *streamtest.PipeEnd // one end of the current pipe (Close and Sever act on both)
	pending    func()              // the second half of a cut, done by tick
	thresholds []int64
	next       int
	progress   int64
	cuts       int
	all        []*streamtest.Faulty
}

func newChaos(client, agent *stream.Endpoint, seed uint64, total int64, minCuts int) *chaos {
	rng := rand.New(rand.NewPCG(seed, 3))
	n := minCuts + minCuts/4
	th := make([]int64, n)
	for i := range th {
		th[i] = rng.Int64N(total)
	}
	slices.Sort(th)
	th = slices.Compact(th)
	return &chaos{
		client: client, agent: agent, rng: rng, thresholds: th,
		faults: streamtest.Faults{Drop: 0.01, Duplicate: 0.01, Delay: 0.01, MaxDelay: 8},
	}
}

// newPipeLocked returns the two (faulty) ends of a fresh pipe.
func (c *chaos) newPipeLocked() (forClient, forAgent stream.Transport) {
	a, b := streamtest.Pipe(64)
	c.cur = a
	fa := streamtest.NewFaulty(a, c.faults, c.rng.Uint64())
	fb := streamtest.NewFaulty(b, c.faults, c.rng.Uint64())
	c.all = append(c.all, fa, fb)
	return fa, fb
}

func (c *chaos) attachBoth() {
	c.mu.Lock()
	defer c.mu.Unlock()
	fa, fb := c.newPipeLocked()
	_ = c.client.Attach(fa)
	_ = c.agent.Attach(fb)
}

func (c *chaos) advance(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.progress += int64(n)
	for c.next < len(c.thresholds) && c.progress >= c.thresholds[c.next] {
		c.next++
		c.cutLocked()
	}
}

// cutLocked kills the current pipe in one of several ways and attaches a
// new one to both endpoints, sometimes one now and the other a tick later.
func (c *chaos) cutLocked() {
	if c.pending != nil {
		c.pending()
		c.pending = nil
	}
	c.cuts++
	old := c.cur
	switch c.rng.IntN(3) {
	case 0:
		_ = old.Close() // both ends see the failure
	case 1:
		old.Sever() // half-open: nobody notices until Attach
	case 2:
		// left alone: Attach closes it
	}
	fa, fb := c.newPipeLocked()
	first, second := func() { _ = c.client.Attach(fa) }, func() { _ = c.agent.Attach(fb) }
	if c.rng.IntN(2) == 0 {
		first, second = second, first
	}
	first()
	if c.rng.IntN(2) == 0 {
		second()
	} else {
		c.pending = second
	}
}

// tick completes a half-done cut.
func (c *chaos) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		c.pending()
		c.pending = nil
	}
}

func (c *chaos) summary() (int, streamtest.FaultStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s streamtest.FaultStats
	for _, f := range c.all {
		fs := f.Stats()
		s.Sent += fs.Sent
		s.Dropped += fs.Dropped
		s.Duplicated += fs.Duplicated
		s.Delayed += fs.Delayed
	}
	return c.cuts, s
}

func (c *chaos) pendingForTest() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending != nil
}
