package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tether-ssm/tether/bench/internal/benchstack"
	"github.com/tether-ssm/tether/internal/client"
	"github.com/tether-ssm/tether/internal/faultproxy"
	"github.com/tether-ssm/tether/internal/wire"
)

// attempts records when each reconnect attempt of a client started and
// which attempt succeeded (from client.Config.OnStatus).
type attempts struct {
	mu        sync.Mutex
	started   map[int]time.Time
	connected int // attempt number of the last success, 0 before
}

func (a *attempts) onStatus(st client.Status) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st.Connected {
		a.connected = st.Attempt
		return
	}
	a.started[st.Attempt] = time.Now()
}

func (a *attempts) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started, a.connected = map[int]time.Time{}, 0
}

// success returns when the successful attempt started and its number.
func (a *attempts) success() (time.Time, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.started[a.connected], a.connected
}

// resumePart cuts the client↔gateway connection of a cat session o.cuts
// times. Each cut: the proxy refuses new connections and cuts the current
// one; a byte is written (the stream keeps it); the network stays down for
// a random 0..o.outageMax; then the proxy accepts again, and the time until
// the byte comes back is measured. The client is internal/client with its
// default reconnect policy (backoff from 50 ms doubling to 2 s) and
// ResumeSession through aws-sdk-go-v2.
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
	var back, fromAttempt, outages []time.Duration
	attemptsUsed := map[int]int{}
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
		started, n := att.success()
		if n == 0 || started.IsZero() {
			return fmt.Errorf("cut %d: the byte came back but the client reported no reconnect", i+1)
		}
		back, fromAttempt, outages = append(back, d), append(fromAttempt, time.Since(started)-time.Since(t0)+d), append(outages, outage)
		attemptsUsed[n]++
		fmt.Fprintf(os.Stderr, "cut %d: down %v, back → byte %v, attempt %d\n", i+1, outage.Round(time.Millisecond), d.Round(100*time.Microsecond), n)
	}
	fmt.Printf("### Resume: %d cuts of the client↔gateway connection (internal/faultproxy), network down for a random 0–%v each\n\n", len(back), o.outageMax)
	fmt.Println("| | p50 | p99 | max |")
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| network back → first byte delivered (includes the client's backoff wait) | %s |\n", summary(back))
	fmt.Printf("| successful reconnect attempt started → first byte (ResumeSession, dial, resend, echo) | %s |\n", summary(fromAttempt))
	var used []string
	for n := range 64 {
		if attemptsUsed[n] > 0 {
			used = append(used, fmt.Sprintf("attempt %d: %d", n, attemptsUsed[n]))
		}
	}
	fmt.Printf("\nThe reconnect attempt that succeeded (cuts): %s. The client's backoff starts at 50 ms and doubles to 2 s, so the first row is mostly the wait for the next attempt after the network is back.\n\n", strings.Join(used, ", "))
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
}

func (r *resumer) set(fn func(context.Context) (string, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn = fn
}

func (r *resumer) resume(ctx context.Context) (string, error) {
	r.mu.Lock()
	fn := r.fn
	r.mu.Unlock()
	if fn == nil {
		return "", fmt.Errorf("resumer not ready")
	}
	return fn(ctx)
}
