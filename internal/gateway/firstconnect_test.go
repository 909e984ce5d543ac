package gateway_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tether-ssm/tether/internal/gateway"
	"github.com/tether-ssm/tether/internal/wire"
)

// failingCreates answers the first n CreateDataChannel calls (POST
// /v1/data-channel/<id>) with 503, as a gateway restarting or a proxy
// having a bad moment would, then lets them through.
type failingCreates struct {
	mu     sync.Mutex
	n      int
	failed int
}

func (f *failingCreates) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/data-channel/") {
			f.mu.Lock()
			fail := f.failed < f.n
			if fail {
				f.failed++
			}
			f.mu.Unlock()
			if fail {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// TestFirstDataChannelConnectIsRetried: a session whose first
// data-channel setup fails transiently is not failed: the agent retries
// (with backoff, up to agent.Config.FirstConnectTimeout) and the client
// gets its shell.
func TestFirstDataChannelConnectIsRetried(t *testing.T) {
	f := &failingCreates{n: 3}
	e := newEnvWithout(t, gateway.Config{}, f.wrap)
	e.startAgentWith(e.srv.URL, false)
	ctx := testCtx(t)
	c, _ := e.startSession("SSM-SessionManagerRunShell", nil)
	must(t, c.Write(ctx, wire.PayloadOutput, []byte("echo retried-$((6*7))\n")))
	var out bytes.Buffer
	readUntil(t, c, &out, "retried-42")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != 3 {
		t.Fatalf("%d CreateDataChannel calls failed, want 3", f.failed)
	}
}
