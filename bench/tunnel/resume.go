package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tether-ssm/tether/bench/internal/benchstack"
	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/faultproxy"
	"github.com/tether-ssm/tether/internal/wire"
)

// attempts records which reconnect attempt of a client succeeded and when
// it started (from client.Config.OnStatus).
type attempts struct {
	mu        sync.Mutex
	started   time.Time     // start of the successful attempt
	took      time.Duration // its dial and the gateway's acceptance
	connected int           // attempt number of the last success, 0 before
	ok        chan struct{} // closed at the success
}

func (a *attempts) onStatus(st client.Status) {
	if !st.Connected {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.connected == 0 {
		close(a.ok)
	}
	a.connected, a.started, a.took = st.Attempt, time.Now().Add(-st.AttemptTime), st.AttemptTime
}

func (a *attempts) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started, a.connected, a.ok = time.Time{}, 0, make(chan struct{})
}

// success returns when the successful attempt started and its number. The
// resent byte can come back before the client has seen the gateway accept
// the connection (its ping answered), so it waits for that, up to 5 s.
func (a *attempts) success(ctx context.Context) (time.Time, time.Duration, int) {
	a.mu.Lock()
	ok := a.ok
	a.mu.Unlock()
	select {
	case <-ok:
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.started, a.took, a.connected
}

// resumePart cuts the client↔gateway connection of a cat session o.cuts
// times. Each cut: the proxy refuses new connections and cuts the current
// one; a byte is written (the stream keeps it); the network stays down for
// a random 0..o.outageMax; then the proxy accepts again, and the time until
// the byte comes back is measured. The client is internal/client with its
// default reconnect policy (package doc: the token in hand is redialled,
// attempts 10 ms apart early in an outage) and ResumeSession through
// aws-sdk-go-v2 when the gateway refuses the token.
func resumePart(ctx context.Context, s *stack, o options) error {
	proxy, err := faultproxy.New(s.srv.Addr)
	if err != nil {
		return err
	}
	defer proxy.Close()
	// The StreamUrl of this session names the proxy, as `tether server
	// --public-url http://<proxy>` would write it; the other parts of the
	// run keep the direct address.
	rewrite := func(u string) string { return strings.Replace(u, s.srv.Addr, proxy.Addr(), 1) }
	var att attempts
	att.reset()
	var rs resumer
	cs, err := openCat(ctx, s, rewrite, client.Config{OnStatus: att.onStatus, Resume: rs.resume})
	if err != nil {
		return err
	}
	r0, err := client.SSMResumer(ctx, cs.id, s.srv.URL, benchstack.Region, "", nil)
	if err != nil {
		cs.close(s)
		return err
	}
	rs.set(r0)
	defer cs.close(s)

	ctx, cancel := context.WithTimeout(ctx, o.resumeLimit)
	defer cancel()
	var back, fromAttempt, accepted, outages []time.Duration
	var attemptsUsed []int
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < o.cuts && ctx.Err() == nil; i++ {
		att.reset()
		proxy.Refuse(true)
		proxy.Cut()
		b := byte('a' + i%26)
		if err := cs.c.Write(ctx, wire.PayloadOutput, []byte{b}); err != nil {
			return fmt.Errorf("cut %d: write: %w", i+1, err)
		}
		outage := time.Duration(r.Int64N(int64(o.outageMax) + 1))
		time.Sleep(outage)
		t0 := time.Now()
		proxy.Refuse(false)
		d, err := cs.await(ctx, b, t0)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("cut %d: %w", i+1, err)
		}
		started, took, n := att.success(ctx)
		if n == 0 || started.IsZero() {
			return fmt.Errorf("cut %d: the byte came back but the client reported no reconnect", i+1)
		}
		back, fromAttempt, outages = append(back, d), append(fromAttempt, time.Since(started)-time.Since(t0)+d), append(outages, outage)
		attemptsUsed = append(attemptsUsed, n)
		accepted = append(accepted, took)
		fmt.Fprintf(os.Stderr, "cut %d: down %v, back → byte %v, attempt %d\n", i+1, outage.Round(time.Millisecond), d.Round(100*time.Microsecond), n)
	}
	fmt.Printf("### Resume: %d cuts of the client↔gateway connection (internal/faultproxy), network down for a random 0–%v each\n\n", len(back), o.outageMax)
	fmt.Println("| | p50 | p99 | max |")
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| network back → first byte delivered (includes the client's backoff wait) | %s |\n", summary(back))
	fmt.Printf("| successful reconnect attempt started → first byte (dial, resend, echo; ResumeSession if called) | %s |\n", summary(fromAttempt))
	fmt.Printf("| successful reconnect attempt started → gateway's acceptance seen (dial, token, ping answered) | %s |\n", summary(accepted))
	slices.Sort(attemptsUsed)
	if len(attemptsUsed) > 0 {
		fmt.Printf("\nThe reconnect attempt that succeeded: median %d, max %d (attempts start 10 ms apart for the first second of an outage, then 1%% of its length apart). ResumeSession calls: %d in %d cuts (the client redials with the token in hand and calls it only when the gateway refuses that token).\n\n",
			attemptsUsed[len(attemptsUsed)/2], attemptsUsed[len(attemptsUsed)-1], rs.calls(), len(back))
	}
	if len(back) < o.cuts {
		fmt.Printf("Stopped after %d of %d cuts: the %v bound was reached.\n\n", len(back), o.cuts, o.resumeLimit)
	}
	return nil
}

// resumer is the client's Resume: ResumeSession for a session whose id is
// known only once StartSession has answered (the first call comes after the
// first cut).
type resumer struct {
	mu sync.Mutex
	fn func(context.Context) (string, error)
	n  int // calls
}

func (r *resumer) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *resumer) set(fn func(context.Context) (string, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn = fn
}

func (r *resumer) resume(ctx context.Context) (string, error) {
	r.mu.Lock()
	fn := r.fn
	r.n++
	r.mu.Unlock()
	if fn == nil {
		return "", fmt.Errorf("resumer not ready")
	}
	return fn(ctx)
}
