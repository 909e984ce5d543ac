package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tether-ssm/tether/internal/api"
	"github.com/tether-ssm/tether/internal/auth"
	"github.com/tether-ssm/tether/internal/certs"
	"github.com/tether-ssm/tether/internal/debugserver"
	"github.com/tether-ssm/tether/internal/gateway"
	"github.com/tether-ssm/tether/internal/nodes"
	"github.com/tether-ssm/tether/internal/sessions"
	"github.com/tether-ssm/tether/internal/store/sqlitestore"
	"github.com/tether-ssm/tether/internal/token"
)

// serverOptions are the flags of `tether server`.
type serverOptions struct {
	Listen    string
	DataDir   string
	Config    string
	PublicURL string
	LogLevel  string
	// TLSCert and TLSKey are PEM files; with both the server speaks
	// HTTPS/WSS only. They override the config file's tls_cert/tls_key.
	TLSCert, TLSKey string
	// caBundle is the CA that signed TLSCert, when Tether made it (dev).
	caBundle string
	// DebugListen, when set, serves pprof and the goroutine count there
	// (internal/debugserver); empty: off.
	DebugListen string
}

// serverFile is the --config YAML file: the principals (auth.Config) plus
// server settings.
type serverFile struct {
	auth.Config `yaml:",inline"`
	// Region restricts SigV4 credential scopes to one region ("" = any).
	Region string `yaml:"region"`
	// HistoryRetention keeps ended sessions listed this long (Go duration,
	// default 720h = 30 days).
	HistoryRetention string `yaml:"history_retention"`
	// IdleTimeoutMinutes ends a session whose client has been away this
	// long: 1–60, default 20 (AWS's idleSessionTimeout).
	IdleTimeoutMinutes int `yaml:"idle_timeout_minutes"`
	// MaxSessionDurationMinutes ends every session this long after it
	// started: 1–1440, default 0 (no limit).
	MaxSessionDurationMinutes int `yaml:"max_session_duration_minutes"`
	// IdleTimeout is IdleTimeoutMinutes as a Go duration ("90s"), for
	// finer control (tests, demos): 1s to 60m. It wins when both are set.
	IdleTimeout string `yaml:"idle_timeout"`
	// TLSCert and TLSKey are the PEM certificate (chain) and key files the
	// server serves HTTPS and WSS with; relative paths are relative to the
	// config file. Both or neither; default neither (plain HTTP).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// sweepInterval checks for idle sessions often enough for short timeouts;
// zero means the gateway's default (5 s).
func sweepInterval(idle time.Duration) time.Duration {
	if idle <= 0 || idle >= 20*time.Second {
		return 0
	}
	return max(idle/4, 100*time.Millisecond)
}

// idleTimeout returns the configured idle timeout; zero means the default.
func (f serverFile) idleTimeout() time.Duration {
	if d, err := time.ParseDuration(f.IdleTimeout); err == nil && f.IdleTimeout != "" {
		return d
	}
	return time.Duration(f.IdleTimeoutMinutes) * time.Minute
}

// validateTimeouts checks the session timeouts of the file.
func (f serverFile) validateTimeouts() error {
	if f.IdleTimeoutMinutes != 0 && (f.IdleTimeoutMinutes < 1 || f.IdleTimeoutMinutes > 60) {
		return fmt.Errorf("config idle_timeout_minutes %d: want 1 to 60", f.IdleTimeoutMinutes)
	}
	if f.IdleTimeout != "" {
		d, err := time.ParseDuration(f.IdleTimeout)
		if err != nil || d < time.Second || d > time.Hour {
			return fmt.Errorf("config idle_timeout %q: want a Go duration from 1s to 60m", f.IdleTimeout)
		}
	}
	if f.MaxSessionDurationMinutes != 0 && (f.MaxSessionDurationMinutes < 1 || f.MaxSessionDurationMinutes > 1440) {
		return fmt.Errorf("config max_session_duration_minutes %d: want 1 to 1440", f.MaxSessionDurationMinutes)
	}
	return nil
}

func runServer(ctx context.Context, args []string, stdio IO) int {
	var o serverOptions
	fset := flag.NewFlagSet("tether server", flag.ContinueOnError)
	fset.SetOutput(stdio.Err)
	fset.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "address to serve the API on")
	fset.StringVar(&o.DataDir, "data-dir", "tether-data", "directory holding the database (tether.db) and the token key")
	fset.StringVar(&o.Config, "config", "", "YAML file with principals and settings (default <data-dir>/config.yaml if it exists)")
	fset.StringVar(&o.PublicURL, "public-url", "", "externally reachable base URL written into StreamUrl (default http(s)://<listen address>)")
	fset.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	fset.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS and WSS (with --tls-key; default: config tls_cert, else plain HTTP)")
	fset.StringVar(&o.TLSKey, "tls-key", "", "PEM private key file of --tls-cert (default: config tls_key)")
	fset.StringVar(&o.DebugListen, "debug-listen", "", "serve /debug/pprof/ and /debug/goroutines on this address (loopback; default off)")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stdio.Err, "tether server: unexpected arguments %v\n", fset.Args())
		return 2
	}
	if err := serve(ctx, o, stdio.Err); err != nil {
		fmt.Fprintf(stdio.Err, "tether server: %v\n", err)
		return 1
	}
	return 0
}

func loadServerFile(path string, explicit bool) (serverFile, error) {
	var f serverFile
	b, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return f, nil
		}
		return f, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return f, fmt.Errorf("parse config %s: %w", path, err)
	}
	if err := f.Config.Validate(); err != nil {
		return f, fmt.Errorf("config %s: %w", path, err)
	}
	if err := f.validateTimeouts(); err != nil {
		return f, err
	}
	for _, p := range []*string{&f.TLSCert, &f.TLSKey} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(filepath.Dir(path), *p)
		}
	}
	return f, nil
}

// serverTLS returns the server's TLS configuration from the flags, else
// the config file; nil means plain HTTP.
func serverTLS(o serverOptions, f serverFile) (*tls.Config, error) {
	cert, key, from := o.TLSCert, o.TLSKey, "--tls-cert and --tls-key"
	if cert == "" && key == "" {
		cert, key, from = f.TLSCert, f.TLSKey, "config tls_cert and tls_key"
	}
	switch {
	case cert == "" && key == "":
		return nil, nil
	case cert == "" || key == "":
		return nil, fmt.Errorf("%s: give both or neither", from)
	}
	return certs.ServerConfig(cert, key)
}

// serve runs the server until ctx is done.
func serve(ctx context.Context, o serverOptions, logw io.Writer) error {
	rs, err := startServer(ctx, o, logw)
	if err != nil {
		return err
	}
	return rs.wait(ctx)
}

// runningServer is a started `tether server`: the API, the gateway and the
// housekeeping loops on one listener.
type runningServer struct {
	log       *slog.Logger
	url       string // http(s)://<listen address>
	publicURL string
	nodes     *nodes.Service
	gateway   *gateway.Gateway
	srv       *http.Server
	errc      chan error
	stop      func() // stops the background loops and closes the store
}

// startServer assembles and starts the server; wait runs it until ctx is
// done.
func startServer(ctx context.Context, o serverOptions, logw io.Writer) (*runningServer, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	cfgPath, explicit := o.Config, o.Config != ""
	if !explicit {
		cfgPath = filepath.Join(o.DataDir, "config.yaml")
	}
	file, err := loadServerFile(cfgPath, explicit)
	if err != nil {
		return nil, err
	}
	principals, err := auth.NewDirectory(file.Config)
	if err != nil {
		return nil, err
	}
	if principals.Len() == 0 {
		log.Warn("no principals configured: every request will be rejected", "config", cfgPath)
	}
	retention := time.Duration(0)
	if file.HistoryRetention != "" {
		if retention, err = time.ParseDuration(file.HistoryRetention); err != nil || retention <= 0 {
			return nil, fmt.Errorf("config history_retention %q: want a positive Go duration such as 720h", file.HistoryRetention)
		}
	}
	key, err := token.LoadOrCreateKey(filepath.Join(o.DataDir, token.KeyFileName))
	if err != nil {
		return nil, err
	}
	tokens, err := token.New(key, token.Config{})
	if err != nil {
		return nil, err
	}
	tlsConf, err := serverTLS(o, file)
	if err != nil {
		return nil, err
	}
	st, err := sqlitestore.Open(filepath.Join(o.DataDir, "tether.db"), sqlitestore.DefaultConfig())
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		st.Close()
		return nil, err
	}
	scheme := "http://"
	if tlsConf != nil {
		scheme = "https://"
	}
	publicURL := o.PublicURL
	if publicURL == "" {
		publicURL = scheme + ln.Addr().String()
	}
	if tlsConf != nil && (strings.HasPrefix(publicURL, "http://") || strings.HasPrefix(publicURL, "ws://")) {
		log.Warn("the server speaks TLS but --public-url is plain: clients will fail to open their streams", "public_url", publicURL)
	}
	gw := gateway.New(gateway.Config{
		IdleTimeout:        file.idleTimeout(),
		SweepInterval:      sweepInterval(file.idleTimeout()),
		MaxSessionDuration: time.Duration(file.MaxSessionDurationMinutes) * time.Minute,
		Logger:             log,
	}, st, tokens)
	scfg := sessions.DefaultConfig()
	scfg.PublicURL, scfg.Region, scfg.HistoryRetention = publicURL, file.Region, retention
	ss, err := sessions.New(scfg, st, tokens, gw, log)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	ns := nodes.New(nodes.DefaultConfig(), st, tokens, gw, log)
	gw.EnableRegistration(ns)
	acfg := api.DefaultConfig()
	acfg.Region = file.Region
	handler, err := api.New(acfg, api.Services{Sessions: ss, Nodes: ns, Principals: principals}, log)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	mux.Handle("/v1/", gw.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if tlsConf != nil {
		// HTTP/1.1 only: websocket upgrades need it, and AWS clients use it.
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		tlsConf.NextProtos = []string{"http/1.1"}
		srv.TLSConfig = tlsConf
		ln = tls.NewListener(ln, tlsConf)
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var loops sync.WaitGroup
	loops.Add(2)
	go func() { defer loops.Done(); sweepLoop(bg, ss, log) }()
	go func() {
		defer loops.Done()
		if err := gw.Run(bg); err != nil {
			log.Error("gateway housekeeping", "err", err)
		}
	}()
	rs := &runningServer{log: log, url: scheme + ln.Addr().String(), publicURL: publicURL, nodes: ns,
		gateway: gw, srv: srv, errc: make(chan error, 1)}
	var dbg *debugserver.Server
	rs.stop = func() {
		stopBG()
		gw.Close()
		loops.Wait()
		st.Close()
		if dbg != nil {
			dbg.Close()
		}
	}
	if o.DebugListen != "" {
		if dbg, err = debugserver.Start(o.DebugListen, log); err != nil {
			rs.stop()
			ln.Close()
			return nil, err
		}
	}
	go func() { rs.errc <- srv.Serve(ln) }()
	log.Info("tether server listening", "addr", rs.url, "public_url", publicURL,
		"data_dir", o.DataDir, "principals", principals.Len())
	return rs, nil
}

// wait serves until ctx is done or the listener fails, then shuts down:
// websockets (which http.Server.Shutdown does not track) first.
func (rs *runningServer) wait(ctx context.Context) error {
	var err error
	select {
	case err = <-rs.errc:
	case <-ctx.Done():
	}
	rs.gateway.Close()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := rs.srv.Shutdown(shutdown); serr != nil && err == nil {
		err = fmt.Errorf("shut down: %w", serr)
	}
	rs.stop()
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		rs.log.Info("tether server stopped")
		return nil
	}
	return err
}

// sweepLoop removes expired session history at start and then hourly.
func sweepLoop(ctx context.Context, ss *sessions.Service, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := ss.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.Error("sweep session history", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
