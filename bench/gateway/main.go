// Command gateway measures the memory the gateway of a real `tether server`
// process holds per idle session: it starts the server, creates sessions in
// its SQLite store, attaches a client websocket and an agent data channel
// to each (tokens minted with the data directory's token key, as
// StartSession and CreateDataChannel mint them), checks that each pair is
// joined (the agent end receives start_publication), lets them sit idle,
// and reads the server's VmRSS from /proc. At the end the server is sent
// SIGQUIT and the goroutines in its dump are counted.
//
// The agent ends are, by default, channels of one multiplexed connection
// (-agent mux: what `tether agent` does, through internal/agent/mgs); with
// -agent ws each is its own websocket (what the real amazon-ssm-agent
// does), which needs two server sockets per session.
//
//	go run ./bench/gateway -n 1000,10000
//
// Per-session memory is (RSS with warm-up + N sessions − RSS with the
// warm-up sessions only) / N, so one-time costs (code paged in, SQLite
// cache, first allocations) are not counted. Results: bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/coder/websocket"

	"github.com/tether-ssm/tether/bench/internal/benchstack"
	"github.com/tether-ssm/tether/internal/agent/mgs"
	"github.com/tether-ssm/tether/internal/sessions"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/store/sqlitestore"
	"github.com/tether-ssm/tether/internal/stream"
	"github.com/tether-ssm/tether/internal/token"
	"github.com/tether-ssm/tether/internal/wire"
	"github.com/tether-ssm/tether/internal/wstransport"
)

const target = "mi-0123456789abcdef0"

func main() {
	counts := flag.String("n", "1000,9850", "comma-separated session counts")
	warm := flag.Int("warmup", 100, "sessions attached before the baseline reading (kept attached)")
	settle := flag.Duration("settle", 12*time.Second, "idle time before the reading (covers two gateway ping rounds)")
	par := flag.Int("p", 32, "parallel attaches")
	bin := flag.String("tether", "", "tether binary (default: build ./cmd/tether)")
	keep := flag.Bool("keep", false, "keep the temporary directories (logs)")
	senv := flag.String("server-env", "", "extra environment for the server, comma-separated (e.g. GOGC=50)")
	agentMode := flag.String("agent", "mux", "agent data channels: mux (one multiplexed connection) or ws (a websocket each)")
	flag.Parse()
	if *agentMode != "mux" && *agentMode != "ws" {
		fmt.Fprintln(os.Stderr, "gateway bench: -agent is mux or ws")
		os.Exit(2)
	}
	muxAgents = *agentMode == "mux"
	if *senv != "" {
		serverEnv = append(serverEnv, strings.Split(*senv, ",")...)
	}
	if err := run(*counts, *warm, *settle, *par, *bin, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "gateway bench:", err)
		os.Exit(1)
	}
}

// serverEnv is added to the server's environment; gctrace lets the table
// split the memory into heap and stacks, GOTRACEBACK=all makes SIGQUIT
// dump every goroutine.
var serverEnv = []string{"GODEBUG=gctrace=1", "GOTRACEBACK=all"}

// muxAgents is the -agent mode (set once by main).
var muxAgents bool

type result struct {
	n                    int
	base, loaded, loadMx int64 // KiB
	threads              int
	attachTime           time.Duration
	dropped              int64
	gcBase, gcLoaded     benchstack.GCTrace // the server's last GC before each reading
	dropReasons          []string
	idleCPU              float64 // server CPU seconds per second while idle
	goroutines           int     // in the server's SIGQUIT dump, with warm + n sessions
}

func run(countList string, warm int, settle time.Duration, par int, bin string, keep bool) error {
	limit, err := benchstack.RaiseFileLimit()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "tether-bench-gw-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(tmp)
	}
	if bin == "" {
		if bin, err = benchstack.Build(context.Background(), tmp); err != nil {
			return err
		}
	}
	var results []result
	for _, f := range strings.Split(countList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad count %q", f)
		}
		// Each session is two sockets at the server and two here, or one
		// with multiplexed agents.
		perSession := uint64(2)
		if muxAgents {
			perSession = 1
		}
		if need := perSession*uint64(n+warm) + 64; need > limit {
			return fmt.Errorf("%d sessions need about %d file descriptors per process; RLIMIT_NOFILE is %d", n, need, limit)
		}
		dir := filepath.Join(tmp, fmt.Sprintf("n%d", n))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		r, err := measure(bin, dir, n, warm, settle, par)
		if err != nil {
			return fmt.Errorf("n=%d: %w", n, err)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "n=%d done: %+v\n", n, r)
	}
	agents := "a client websocket and a channel of one multiplexed agent connection per session"
	if !muxAgents {
		agents = "a client and an agent websocket per session"
	}
	fmt.Printf("Gateway memory per idle session (`tether server` VmRSS; %s; %d warm-up sessions; idle %s; GOMAXPROCS=%d, %s; RLIMIT_NOFILE %d; server env %s)\n\n",
		agents, warm, settle, runtime.GOMAXPROCS(0), runtime.Version(), limit, strings.Join(serverEnv, " "))
	fmt.Println("| sessions | RSS before | RSS after (max while idle) | per session | of which heap / stacks (last GC) | goroutines per session | threads | server CPU while idle | attach time | sockets dropped |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		perMB := func(a, b int) float64 { return float64(b-a) * 1024 / float64(r.n) }
		fmt.Printf("| %d | %.1f MiB | %.1f MiB (%.1f MiB) | %.1f KiB | %.1f / %.1f KiB | %.2f (%d in all) | %d | %.0f%% | %.1fs | %d |\n", r.n, float64(r.base)/1024,
			float64(r.loaded)/1024, float64(r.loadMx)/1024, float64(r.loaded-r.base)/float64(r.n),
			perMB(r.gcBase.LiveMB, r.gcLoaded.LiveMB), perMB(r.gcBase.StackMB, r.gcLoaded.StackMB),
			float64(r.goroutines)/float64(r.n+warm), r.goroutines, r.threads, 100*r.idleCPU, r.attachTime.Seconds(), r.dropped)
	}
	fmt.Println()
	for _, r := range results {
		fmt.Printf("n=%d last server GC before: `%s`; after: `%s`\n", r.n, r.gcBase.Line, r.gcLoaded.Line)
		if len(r.dropReasons) > 0 {
			fmt.Printf("n=%d sockets dropped while held: %s\n", r.n, strings.Join(r.dropReasons, "; "))
		}
	}
	return nil
}

// measure runs one server with warm + n sessions.
func measure(bin, dir string, n, warm int, settle time.Duration, par int) (result, error) {
	res := result{n: n}
	key, err := token.LoadOrCreateKey(filepath.Join(dir, token.KeyFileName))
	if err != nil {
		return res, err
	}
	tokens, err := token.New(key, token.Config{})
	if err != nil {
		return res, err
	}
	srv, err := benchstack.StartServer(bin, dir, "warn", serverEnv)
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	ids, err := seed(filepath.Join(dir, "tether.db"), warm+n)
	if err != nil {
		return res, err
	}
	h := &holder{url: strings.Replace(srv.URL, "http://", "ws://", 1), tokens: tokens}
	if muxAgents {
		h.agent = &mgs.Client{Endpoint: srv.URL, Region: benchstack.Region,
			Credentials: credentials.NewStaticCredentialsProvider(nodeKey, nodeSecret, "")}
	}
	defer h.closeAll()
	if err := h.attach(ids[:warm], par); err != nil {
		return res, err
	}
	time.Sleep(settle)
	base, _, err := benchstack.SampleMemory(srv.Pid(), 2*time.Second, 500*time.Millisecond)
	if err != nil {
		return res, err
	}
	res.base = base.RSS
	res.gcBase, _ = benchstack.LastGC(srv.Log)
	t0 := time.Now()
	if err := h.attach(ids[warm:], par); err != nil {
		return res, err
	}
	res.attachTime = time.Since(t0)
	cpu0, err := benchstack.CPUTime(srv.Pid())
	if err != nil {
		return res, err
	}
	time.Sleep(settle)
	cpu1, err := benchstack.CPUTime(srv.Pid())
	if err != nil {
		return res, err
	}
	res.idleCPU = float64(cpu1-cpu0) / float64(settle)
	last, mx, err := benchstack.SampleMemory(srv.Pid(), 3*time.Second, 500*time.Millisecond)
	if err != nil {
		return res, err
	}
	res.loaded, res.loadMx, res.threads = last.RSS, mx, last.Threads
	res.dropped = h.dropped.Load()
	h.mu.Lock()
	for why, k := range h.reasons {
		res.dropReasons = append(res.dropReasons, fmt.Sprintf("%d× %s", k, why))
	}
	h.mu.Unlock()
	res.gcLoaded, _ = benchstack.LastGC(srv.Log)
	res.goroutines, err = countGoroutines(srv)
	return res, err
}

// countGoroutines stops the server with SIGQUIT and counts the goroutines
// in its dump (GOTRACEBACK=all).
func countGoroutines(srv *benchstack.Server) (int, error) {
	if err := srv.Cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		return 0, err
	}
	if err := benchstack.WaitFor(60*time.Second, "server dumps its goroutines", srv.Exited); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(srv.Log)
	if err != nil {
		return 0, err
	}
	return len(goroutineLine.FindAll(b, -1)), nil
}

var goroutineLine = regexp.MustCompile(`(?m)^goroutine \d+ `)

// The node the sessions target, registered by seed.
const nodeKey, nodeSecret = "AKIABENCHNODE0000001", "bench-node-secret"

// seed registers the target node and creates count sessions in the
// server's database, as StartSession would (Connecting, generation 1,
// owned by the bench user).
func seed(dbPath string, count int) ([]string, error) {
	st, err := sqlitestore.Open(dbPath, sqlitestore.DefaultConfig())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	now := time.Now().UTC()
	ctx := context.Background()
	if err := st.CreateActivation(ctx, store.Activation{ID: "bench-activation", RegistrationLimit: 1,
		ExpirationDate: now.Add(time.Hour), CreatedDate: now}); err != nil {
		return nil, err
	}
	if err := st.RegisterNode(ctx, store.Node{ID: target, ActivationID: "bench-activation", RegistrationDate: now,
		AccessKeyID: nodeKey, SecretAccessKey: nodeSecret}); err != nil {
		return nil, err
	}
	ids := make([]string, count)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%017x", benchstack.UserName, i)
		err := st.CreateSession(context.Background(), store.Session{ID: ids[i], Target: target,
			Status: store.StatusConnecting, StartDate: now, DocumentName: sessions.DefaultDocument,
			Owner: benchstack.UserARN, ClientGeneration: 1, LastActivity: now})
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// holder keeps the bench side of the sockets open, reading (and so
// answering the gateway's pings) until closed.
type holder struct {
	url     string
	tokens  *token.Codec
	agent   *mgs.Client // multiplexed agent ends; nil: a websocket each
	mu      sync.Mutex
	conns   []*websocket.Conn
	held    []stream.Transport
	wg      sync.WaitGroup
	closing atomic.Bool
	dropped atomic.Int64   // sockets the server closed while held
	reasons map[string]int // why, by close reason or error; guarded by mu
}

var dialer = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}

func (h *holder) attach(ids []string, par int) error {
	work := make(chan string)
	errc := make(chan error, par)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := h.attachOne(id); err != nil {
					errc <- fmt.Errorf("session %s: %w", id, err)
					for range work {
					}
					return
				}
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// attachOne opens the agent end, waits for pause_publication (attached,
// no client yet), opens the client end and waits for start_publication at
// the agent end (both attached and joined).
func (h *holder) attachOne(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	agentTok, err := h.tokens.Seal(token.Claims{SessionID: id, Role: token.RoleAgent, Principal: "node/" + target,
		IssuedAt: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		return err
	}
	open := wire.AgentOpenDataChannelInput{MessageSchemaVersion: wire.MessageSchemaVersion,
		RequestID: wire.NewUUID().String(), TokenValue: agentTok, ClientInstanceID: target}
	var agent stream.Transport
	var recvAgent func(context.Context) ([]byte, error)
	if h.agent != nil {
		agent, err = h.agent.OpenDataChannel(ctx, id, open)
		recvAgent = func(ctx context.Context) ([]byte, error) { return agent.Recv(ctx) }
	} else {
		var c *websocket.Conn
		if c, err = h.open(ctx, id, "", open); err == nil {
			// Read the websocket itself while joining: a wstransport may
			// tie itself to the first context it is given.
			agent, recvAgent = wstransport.New(c), wsRecv(c)
		}
	}
	if err != nil {
		return fmt.Errorf("agent end: %w", err)
	}
	if err := expect(ctx, recvAgent, wire.TypePausePublication); err != nil {
		return fmt.Errorf("agent end: %w", err)
	}
	clientTok, err := h.tokens.Seal(token.Claims{SessionID: id, Role: token.RoleClient, Principal: benchstack.UserARN,
		Generation: 1, IssuedAt: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		return err
	}
	client, err := h.open(ctx, id, "?role=publish_subscribe", wire.OpenDataChannelInput{MessageSchemaVersion: wire.MessageSchemaVersion,
		RequestID: wire.NewUUID().String(), TokenValue: clientTok, ClientID: wire.NewUUID().String(), ClientVersion: "1.2.707.0"})
	if err != nil {
		return fmt.Errorf("client end: %w", err)
	}
	if err := expect(ctx, recvAgent, wire.TypeStartPublication); err != nil {
		return fmt.Errorf("agent end: %w", err)
	}
	h.hold(agent)
	h.hold(wstransport.New(client))
	return nil
}

func (h *holder) open(ctx context.Context, id, query string, first any) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, h.url+"/v1/data-channel/"+id+query, &websocket.DialOptions{
		HTTPClient: dialer, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	b, _ := json.Marshal(first)
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, err
	}
	return c, nil
}

func wsRecv(c *websocket.Conn) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		_, b, err := c.Read(ctx)
		return b, err
	}
}

// expect reads frames with recv until one of type typ arrives.
func expect(ctx context.Context, recv func(context.Context) ([]byte, error), typ string) error {
	for {
		b, err := recv(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", typ, err)
		}
		if m, err := wire.Decode(b); err == nil && m.MessageType == typ {
			return nil
		}
	}
}

func (h *holder) hold(c stream.Transport) {
	h.mu.Lock()
	h.held = append(h.held, c)
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			if _, err := c.Recv(context.Background()); err != nil {
				if !h.closing.Load() {
					h.dropped.Add(1)
					why := err.Error()
					var ce websocket.CloseError
					if errors.As(err, &ce) {
						why = fmt.Sprintf("close %d %q", ce.Code, ce.Reason)
					}
					h.mu.Lock()
					if h.reasons == nil {
						h.reasons = map[string]int{}
					}
					h.reasons[why]++
					h.mu.Unlock()
				}
				return
			}
		}
	}()
}

func (h *holder) closeAll() {
	h.closing.Store(true)
	h.mu.Lock()
	conns, held := h.conns, h.held
	h.conns, h.held = nil, nil
	h.mu.Unlock()
	for _, c := range held {
		c.Close()
	}
	for _, c := range conns {
		c.CloseNow()
	}
	h.wg.Wait()
}
