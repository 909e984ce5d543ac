package stream_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/stream/streamtest"
	"github.com/tether-ssm/tether/internal/wire"
)

// TestChaosPluginPeer runs an agent-role endpoint against an emulation of
// the real session-manager-plugin's stream rules (protocol.md §4.3–§4.6):
// it never re-acknowledges a duplicate, resends only its oldest unacked
// message, every 100 ms once 200 ms have passed since its first send, and
// has no window. Transports are cut and faulty. Both directions must arrive
// intact; messages whose acks the plugin will never repeat are released by
// PresumeDeliveredAfter instead of filling the window.
func TestChaosPluginPeer(t *testing.T) {
	const (
		toPlugin   = 8 << 20
		fromPlugin = 256 << 10
		cuts       = 200
	)
	seed := *chaosSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d", seed)
	ctx := testContext(t, *chaosTimeout)
	clk := streamtest.NewClock(epoch)
	cfg := stream.DefaultConfig(stream.RoleAgent, stream.ModeInterop)
	cfg.Clock, cfg.PresumeDeliveredAfter = clk, 30
	cfg.SendWindowBytes, cfg.SendWindowMessages = 256<<10, 256
	agent := newEndpoint(t, cfg)
	plugin := newFakePlugin(clk)
	rng := rand.New(rand.NewPCG(seed, 11))
	faults := streamtest.Faults{Drop: 0.01, Duplicate: 0.01, Delay: 0.01}
	var cutMu sync.Mutex
	var cur *streamtest.PipeEnd
	cut := func() {
		cutMu.Lock()
		defer cutMu.Unlock()
		if cur != nil {
			if rng.IntN(2) == 0 {
				cur.Sever()
			} else {
				_ = cur.Close()
			}
		}
		a, b := streamtest.Pipe(64)
		cur = a
		_ = agent.Attach(streamtest.NewFaulty(a, faults, rng.Uint64()))
		plugin.attach(streamtest.NewFaulty(b, faults, rng.Uint64()))
	}
	cut()
	defer plugin.close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // time: 5 ms per real millisecond
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				clk.Advance(5 * time.Millisecond)
				plugin.tick()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	data := func(n int, s uint64) []byte {
		b := make([]byte, n)
		_, _ = rand.NewChaCha8([32]byte{byte(s)}).Read(b)
		return b
	}
	out, in := data(toPlugin, seed), data(fromPlugin, seed+1)
	errs := make(chan error, 3)
	go func() { // agent → plugin, cutting as it goes
		every := toPlugin / cuts
		for off := 0; off < len(out); off += every {
			if _, err := agent.Write(ctx, wire.PayloadOutput, out[off:min(off+every, len(out))]); err != nil {
				errs <- err
				return
			}
			cut()
		}
		errs <- nil
	}()
	go func() { errs <- plugin.write(ctx, in) }()
	go func() { // agent reads what the plugin sent
		h := sha256.New()
		for n := 0; n < len(in); {
			p, err := agent.Read(ctx)
			if err != nil {
				errs <- fmt.Errorf("agent read at %d: %w", n, err)
				return
			}
			h.Write(p.Data)
			n += len(p.Data)
		}
		if got, want := h.Sum(nil), sha256.Sum256(in); string(got) != string(want[:]) {
			errs <- fmt.Errorf("agent received different bytes")
			return
		}
		errs <- nil
	}()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("%v\nagent %+v\n%s", err, agent.Stats(), agent.StateForTest())
		}
	}
	if err := plugin.waitFor(ctx, len(out)); err != nil {
		t.Fatalf("plugin got %d of %d bytes: %v\nagent %+v\n%s", plugin.received(), len(out), err, agent.Stats(), agent.StateForTest())
	}
	if got, want := plugin.sum(), sha256.Sum256(out); got != want {
		t.Fatalf("plugin received different bytes")
	}
	t.Logf("agent %+v", agent.Stats())
}

// fakePlugin is the plugin's side of the stream, reduced to its sequencing
// rules.
type fakePlugin struct {
	clk *streamtest.Clock

	mu       sync.Mutex // guards the fields below
	cond     *sync.Cond
	tr       stream.Transport
	expected int64
	ahead    map[int64][]byte
	recv     []byte
	nextSeq  int64
	out      []pluginMsg // unacked, oldest first
	closed   bool
}

type pluginMsg struct {
	seq       int64
	frame     []byte
	firstSent time.Time // the plugin never refreshes it
}

func newFakePlugin(clk *streamtest.Clock) *fakePlugin {
	p := &fakePlugin{clk: clk, ahead: map[int64][]byte{}}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *fakePlugin) attach(t stream.Transport) {
	p.mu.Lock()
	old := p.tr
	p.tr = t
	p.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	go p.recvLoop(t)
}

func (p *fakePlugin) close() {
	p.mu.Lock()
	p.closed = true
	t := p.tr
	p.cond.Broadcast()
	p.mu.Unlock()
	if t != nil {
		_ = t.Close()
	}
}

func (p *fakePlugin) recvLoop(t stream.Transport) {
	for {
		f, err := t.Recv(context.Background())
		if err != nil {
			return
		}
		m, err := wire.Decode(f)
		if err != nil {
			continue
		}
		switch m.MessageType {
		case wire.TypeAcknowledge:
			a, err := wire.ParseAcknowledge(m.Payload)
			if err == nil {
				p.ack(a.AcknowledgedMessageSequenceNumber)
			}
		case wire.TypeOutputStreamData:
			if p.data(m) {
				ack := wire.Message{MessageType: wire.TypeAcknowledge, SchemaVersion: 1, CreatedDate: wire.Millis(p.clk.Now()),
					Flags: wire.FlagsAck, MessageID: wire.NewUUID(), Payload: wire.AppendAcknowledge(nil, wire.AckOf(&m))}
				fr, _ := wire.Encode(&ack)
				_ = t.Send(context.Background(), fr)
			}
		}
	}
}

// data applies the plugin's receive rules; true means acknowledge.
func (p *fakePlugin) data(m wire.Message) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.cond.Broadcast()
	switch s := m.SequenceNumber; {
	case s < p.expected:
		return false // duplicates are dropped without an ack
	case s > p.expected:
		if len(p.ahead) >= 10000 {
			return false
		}
		p.ahead[s] = m.Payload
		return true
	}
	p.recv = append(p.recv, m.Payload...)
	p.expected++
	for d, ok := p.ahead[p.expected]; ok; d, ok = p.ahead[p.expected] {
		delete(p.ahead, p.expected)
		p.recv = append(p.recv, d...)
		p.expected++
	}
	return true
}

func (p *fakePlugin) ack(seq int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, m := range p.out {
		if m.seq == seq {
			p.out = append(p.out[:i], p.out[i+1:]...)
			return
		}
	}
}

// write sends data in 1024-byte input messages, each sent once at once; the
// resend scheduler (tick) does the rest.
func (p *fakePlugin) write(ctx context.Context, data []byte) error {
	for off := 0; off < len(data); off += 1024 {
		p.mu.Lock()
		m := wire.Message{MessageType: wire.TypeInputStreamData, SchemaVersion: 1, CreatedDate: wire.Millis(p.clk.Now()),
			SequenceNumber: p.nextSeq, MessageID: wire.NewUUID(), PayloadType: wire.PayloadOutput, Payload: data[off:min(off+1024, len(data))]}
		fr, err := wire.Encode(&m)
		if err != nil {
			p.mu.Unlock()
			return err
		}
		p.nextSeq++
		p.out = append(p.out, pluginMsg{seq: m.SequenceNumber, frame: fr, firstSent: p.clk.Now()})
		t := p.tr
		p.mu.Unlock()
		_ = t.Send(ctx, fr)
	}
	return nil
}

// tick is the plugin's 100 ms resend scheduler, called every 5 fake ms; it
// resends only the head, whenever 200 ms have passed since its first send.
func (p *fakePlugin) tick() {
	p.mu.Lock()
	if len(p.out) == 0 || p.clk.Now().Sub(p.out[0].firstSent) < 200*time.Millisecond || p.clk.Now().UnixMilli()%100 >= 5 {
		p.mu.Unlock()
		return
	}
	fr, t := p.out[0].frame, p.tr
	p.mu.Unlock()
	_ = t.Send(context.Background(), fr)
}

func (p *fakePlugin) waitFor(ctx context.Context, n int) error {
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.recv) < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.cond.Wait()
	}
	return nil
}

func (p *fakePlugin) received() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recv)
}

func (p *fakePlugin) sum() [32]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sha256.Sum256(p.recv)
}
