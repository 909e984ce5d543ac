// Command resume measures ResumeSession throughput and latency: signed
// AWS JSON requests over loopback HTTP to the real API handler (the one
// `tether server` serves) backed by the SQLite store in a temporary data
// directory. Each request is SigV4-signed by aws-sdk-go-v2's signer, verified
// by the server, and writes the session's new client generation to SQLite.
//
//	go run ./bench/resume -c 16 -d 10s
//
// Client and server share the machine (and, here, the process), as they do
// on a single host. Results are recorded in bench/resume/README.md.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tether-ssm/tether/internal/api"
	"github.com/tether-ssm/tether/internal/auth"
	"github.com/tether-ssm/tether/internal/nodes"
	"github.com/tether-ssm/tether/internal/sessions"
	"github.com/tether-ssm/tether/internal/store"
	"github.com/tether-ssm/tether/internal/store/sqlitestore"
	"github.com/tether-ssm/tether/internal/token"
)

const (
	key    = "AKIABENCHEXAMPLE"
	secret = "benchsecret"
	arn    = "arn:aws:iam::123456789012:user/bench"
)

func main() {
	conc := flag.Int("c", 16, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "measurement duration")
	warm := flag.Duration("warmup", 2*time.Second, "warm-up duration (not measured)")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "resume:", err)
			os.Exit(1)
		}
		defer f.Close()
		pprof.StartCPUProfile(f) //nolint:errcheck // best effort
		defer pprof.StopCPUProfile()
	}
	if err := run(*conc, *dur, *warm); err != nil {
		fmt.Fprintln(os.Stderr, "resume:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(conc int, dur, warm time.Duration) error {
	dir, err := os.MkdirTemp("", "tether-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	url, ids, stop, err := startServer(dir, conc)
	if err != nil {
		return err
	}
	defer stop()

	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	client := &http.Client{Transport: tr}
	load := func(d time.Duration) ([]time.Duration, int, error) {
		var (
			mu   sync.Mutex
			lats []time.Duration
			errs int
			wg   sync.WaitGroup
		)
		deadline := time.Now().Add(d)
		for i := range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				signer := v4.NewSigner()
				var mine []time.Duration
				bad := 0
				for time.Now().Before(deadline) {
					t0 := time.Now()
					if err := resume(client, signer, url, ids[i]); err != nil {
						bad++
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lats = append(lats, mine...)
				errs += bad
				mu.Unlock()
			}()
		}
		wg.Wait()
		return lats, errs, nil
	}
	if _, _, err := load(warm); err != nil {
		return err
	}
	lats, errs, err := load(dur)
	if err != nil {
		return err
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[int(float64(len(lats)-1)*p)] }
	fmt.Printf("ResumeSession: %d clients, %s, GOMAXPROCS=%d, %s\n", conc, dur, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("  requests %d (errors %d)\n  throughput %.0f req/s\n  latency p50 %s  p90 %s  p99 %s  max %s\n",
		len(lats), errs, float64(len(lats))/dur.Seconds(), pct(0.50).Round(time.Microsecond), pct(0.90).Round(time.Microsecond),
		pct(0.99).Round(time.Microsecond), lats[len(lats)-1].Round(time.Microsecond))
	return nil
}

func resume(c *http.Client, signer *v4.Signer, url, id string) error {
	body := []byte(`{"SessionId": "` + id + `"}`)
	r, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AmazonSSM.ResumeSession")
	sum := sha256.Sum256(body)
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), "ssm", "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := c.Do(r)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"TokenValue"`) {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// startServer assembles the API as `tether server` does, seeds one session
// per client and serves on a loopback port.
func startServer(dir string, n int) (string, []string, func(), error) {
	st, err := sqlitestore.Open(filepath.Join(dir, "tether.db"), sqlitestore.DefaultConfig())
	if err != nil {
		return "", nil, nil, err
	}
	var ids []string
	now := time.Now().UTC()
	for i := range n {
		id := fmt.Sprintf("bench-%017x", i)
		if err := st.CreateSession(context.Background(), store.Session{ID: id, Target: "mi-0123456789abcdef0",
			Status: store.StatusConnected, StartDate: now, DocumentName: sessions.DefaultDocument, Owner: arn,
			ClientGeneration: 1, LastActivity: now}); err != nil {
			return "", nil, nil, err
		}
		ids = append(ids, id)
	}
	k, err := token.LoadOrCreateKey(filepath.Join(dir, token.KeyFileName))
	if err != nil {
		return "", nil, nil, err
	}
	tokens, _ := token.New(k, token.Config{})
	principals, err := auth.NewDirectory(auth.Config{Users: []auth.User{{Name: "bench", AccessKeyID: key, SecretAccessKey: secret}}})
	if err != nil {
		return "", nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	url := "http://" + ln.Addr().String() + "/"
	scfg := sessions.DefaultConfig()
	scfg.PublicURL = url
	ss, err := sessions.New(scfg, st, tokens, nil, nil)
	if err != nil {
		return "", nil, nil, err
	}
	h, err := api.New(api.DefaultConfig(), api.Services{Sessions: ss, Nodes: nodes.New(nodes.DefaultConfig(), st, tokens, sessions.Offline{}, nil),
		Principals: principals}, nil)
	if err != nil {
		return "", nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // closed by stop
	return url, ids, func() { srv.Close(); st.Close() }, nil
}
