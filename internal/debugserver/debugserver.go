// Package debugserver serves a process's runtime diagnostics to its
// operator: Go's profiles under /debug/pprof/ and the live goroutine count
// at /debug/goroutines (JSON). `tether server` and `tether agent run` start
// it with --debug-listen; it is off by default and has no authentication,
// so bind it to a loopback address.
package debugserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// Stats is what /debug/goroutines answers.
type Stats struct {
	Goroutines int `json:"goroutines"`
}

// Handler returns the diagnostics routes.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/goroutines", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Stats{Goroutines: runtime.NumGoroutine()})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Server is a running diagnostics listener.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Start listens on addr and serves Handler until Close. A non-loopback
// address is served but logged as a warning: the routes expose profiles.
func Start(addr string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		log.Warn("the debug listener is not on a loopback address: anyone who reaches it can read profiles", "addr", ln.Addr().String())
	}
	s := &Server{
		srv:  &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug listener stopped", "err", err)
		}
	}()
	log.Info("debug listener up", "addr", s.addr)
	return s, nil
}

// Addr is the address served (with the port chosen when addr had port 0).
func (s *Server) Addr() string { return s.addr }

// Close stops the listener and waits for it.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
