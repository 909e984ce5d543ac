package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// pinger checks every watched websocket with one goroutine, instead of a
// goroutine per socket: each round (PingInterval) it pings every socket,
// spreading the pings over the round, each on a short-lived goroutine that
// lives until the pong (or PingTimeout, after which the socket is dropped).
type pinger struct {
	mu    sync.Mutex // guards socks
	socks map[*websocket.Conn]func(reason string)
}

// watch adds conn to the pinger; dead is called (once) when it stops
// answering. The returned function removes it.
func (g *Gateway) watch(conn *websocket.Conn, dead func(reason string)) (unwatch func()) {
	g.ping.mu.Lock()
	if g.ping.socks == nil {
		g.ping.socks = map[*websocket.Conn]func(string){}
	}
	g.ping.socks[conn] = dead
	g.ping.mu.Unlock()
	return func() {
		g.ping.mu.Lock()
		delete(g.ping.socks, conn)
		g.ping.mu.Unlock()
	}
}

// pingBatch is how many pings start together within a round.
const pingBatch = 64

// pingLoop runs ping rounds until ctx is done or the gateway closes.
func (g *Gateway) pingLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.stopped:
			return
		case <-t.C:
		}
		if !g.pingRound(ctx) {
			return
		}
	}
}

// pingRound pings every watched socket once, in batches spread over about
// half the interval. It reports false when it was stopped.
func (g *Gateway) pingRound(ctx context.Context) bool {
	g.ping.mu.Lock()
	type entry struct {
		conn *websocket.Conn
		dead func(string)
	}
	all := make([]entry, 0, len(g.ping.socks))
	for c, d := range g.ping.socks {
		all = append(all, entry{c, d})
	}
	g.ping.mu.Unlock()
	batches := (len(all) + pingBatch - 1) / pingBatch
	step := time.Duration(0)
	if batches > 1 {
		step = g.cfg.PingInterval / 2 / time.Duration(batches)
	}
	for i, e := range all {
		if i > 0 && i%pingBatch == 0 && step > 0 {
			select {
			case <-ctx.Done():
				return false
			case <-g.stopped:
				return false
			case <-time.After(step):
			}
		}
		go g.pingOne(e.conn, e.dead)
	}
	return true
}

// pingOne pings conn and calls dead if no pong comes back in time.
func (g *Gateway) pingOne(conn *websocket.Conn, dead func(string)) {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.PingTimeout)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		dead("no answer to ping") // a closed peer ignores it
	}
}
