package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/paymentcompletion/paymentcompletion/internal/amazonauth"
	"github.com/paymentcompletion/paymentcompletion/internal/callers"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/datadir"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
	"github.com/paymentcompletion/paymentcompletion/internal/ipn"
	"github.com/paymentcompletion/paymentcompletion/internal/logcontext"
	"github.com/paymentcompletion/paymentcompletion/internal/metrics"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles"
	"github.com/paymentcompletion/paymentcompletion/internal/tracing"
)

// run builds the service's dependencies in order, serves until ctx ends and
// tears everything down in reverse order. Logs go to logw as JSON lines.
//
// Every listener is open before anything is served. What runs until
// shutdown (the gRPC server, the debug, metrics and notification
// listeners, the reconciler, the pending-authorization tracker and, with
// PostgreSQL, the change feed) runs in one errgroup: when ctx ends, or any
// of them fails, the gRPC server drains and stops, then all the others are
// asked to stop, and run waits for every one of them before it closes what
// was built (the embedded simulator, the store, the data directory's
// lock), in reverse order.
func run(ctx context.Context, cfg Config, logw io.Writer) (err error) {
	// Every line written with a call's context names its request ID,
	// caller and trace.
	logger := newLogger(logw, cfg.LogLevel)
	build := currentBuild()
	logger.Info("starting", append(build.logAttrs(), cfg.logAttrs()...)...)
	mode := cfg.Mode()

	// Teardown in reverse order of construction, whatever happens below.
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			err = errors.Join(err, closers[i]())
		}
	}()

	token, err := loadAuthToken(cfg.AuthTokenFile)
	if err != nil {
		return err
	}
	var callersFile *callers.File
	if cfg.AuthCallersFile != "" {
		callersFile, err = callers.Open(cfg.AuthCallersFile, grpcserver.MethodNames(), nil, logger)
		if err != nil {
			return fmt.Errorf("AUTH_CALLERS_FILE: %w", err)
		}
		warnCertificateCallers(logger, callersFile.Current(), cfg.TLSClientCAFile)
	}
	var tlsConfig *tls.Config
	if cfg.TLSCertFile != "" {
		src, err := tlsfiles.New(tlsfiles.Files{CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile, ClientCAFile: cfg.TLSClientCAFile}, logger)
		if err != nil {
			return fmt.Errorf("TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE: %w", err)
		}
		tlsConfig = src.ServerConfig()
		logger.Info("serving TLS", "cert_not_after", src.NotAfter(), "client_certificates_required", cfg.TLSClientCAFile != "")
	}
	// Created if missing, checked writable and locked: one server per data
	// directory (the SQLite file and the simulator's state are
	// single-process). The lock goes last, after everything using it.
	dir, err := datadir.Lock(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("DATA_DIR (-data-dir): %w", err)
	}
	closers = append(closers, dir.Release)

	// Traces always get IDs (the logs name them); they leave the process
	// only when the OTEL_* environment configures an exporter.
	tp, err := tracing.New(ctx, os.LookupEnv, build.Version)
	if err != nil {
		return fmt.Errorf("OpenTelemetry (OTEL_* environment): %w", err)
	}
	closers = append(closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return tp.Shutdown(sctx)
	})
	obs := &observability{tracer: tp, creds: &amazonauth.Watch{}}
	if cfg.MetricsAddr != "" {
		obs.metrics = metrics.New(metrics.Build{Version: build.Version, Commit: build.Commit, GoVersion: build.GoVersion, Mode: mode})
	}
	logger.Info("tracing", "exporter", tp.Exporter)

	// Dependencies, in order: the store, Amazon Pay (or the embedded
	// simulator), the completion service with its reconciler, the tracker,
	// and the gRPC implementation over them.
	d, err := wire(ctx, cfg, logger, obs)
	if err != nil {
		return err
	}
	closers = append(closers, d.closers...)
	svc := d.service

	// Probes tell what they talk to: a storefront's operator can see a
	// replica that runs on the simulator or the sandbox.
	healthDetails := map[string]string{healthModeKey: mode}
	opts := grpcserver.Options{
		Logger:             logger,
		AuthToken:          token,
		TLS:                tlsConfig,
		DefaultCallTimeout: cfg.DefaultCallTimeout,
		ShutdownGrace:      cfg.ShutdownGrace,
		DrainDelay:         cfg.ShutdownDrainDelay,
		HealthDetails:      healthDetails,
		TracerProvider:     tp,
		Propagator:         tracing.Propagator,

		MaxStreamsPerConnection: cfg.MaxStreamsPerConnection,
		MaxWatches:              cfg.MaxWatches,
	}
	if obs.metrics != nil {
		opts.Metrics = obs.metrics.GRPC()
		if obs.backlog != nil {
			obs.metrics.WatchBacklog(obs.backlog, time.Now)
		}
		if c, ok := obs.backlog.(store.UnknownOperationCounter); ok {
			obs.metrics.WatchOperationsPastBudget(c, chargeops.UnknownBudget, time.Now)
		}
	}
	if callersFile != nil {
		opts.Callers = callersFile.Current
	}
	srv, err := grpcserver.New(svc, opts)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return listenError(cfg, "LISTEN_ADDR", "listen-addr", err)
	}

	var dlis net.Listener
	if cfg.DebugAddr != "" {
		if dlis, err = net.Listen("tcp", cfg.DebugAddr); err != nil {
			_ = lis.Close()
			return listenError(cfg, "DEBUG_ADDR", "debug-addr", err)
		}
	}

	var mlis net.Listener
	if cfg.MetricsAddr != "" {
		if mlis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			_ = lis.Close()
			if dlis != nil {
				_ = dlis.Close()
			}
			return listenError(cfg, "METRICS_ADDR", "metrics-addr", err)
		}
	}

	// failed ends when anything run below fails; shutdown starts when ctx
	// ends (SIGTERM) or that happens. Everything but the gRPC server runs
	// until the gRPC server has stopped (done), so that during the drain
	// delay the replica works in full: workers, notifications, and the
	// metrics listener, whose /readyz answers 503 rather than refusing
	// connections while load balancers take this replica out.
	g, failed := errgroup.WithContext(context.WithoutCancel(ctx))
	shutdown, stopServing := context.WithCancel(ctx)
	defer stopServing()
	defer context.AfterFunc(failed, stopServing)()
	done, grpcStopped := context.WithCancel(context.WithoutCancel(ctx))
	defer grpcStopped()
	g.Go(func() error {
		defer grpcStopped()
		return srv.Serve(shutdown, lis)
	})
	if dlis != nil {
		logger.Info("serving runtime profiles", "debug_addr", dlis.Addr().String())
		g.Go(func() error { return serveDebug(done, dlis) })
	}
	if mlis != nil {
		logger.Info("serving metrics", "metrics_addr", mlis.Addr().String())
		mux := http.NewServeMux()
		mux.Handle("/metrics", obs.metrics.Handler())
		probes := srv.ProbeHandler(healthDetails)
		mux.Handle("GET /livez", probes)
		mux.Handle("GET /readyz", probes)
		g.Go(func() error { return serveMetrics(done, mlis, mux) })
	}
	if d.ipnLis != nil {
		logger.Info("serving Amazon Pay notifications", "ipn_addr", d.ipnLis.Addr().String(), "path", ipn.Path,
			"tls", cfg.IPNTLSCertFile != "")
		g.Go(func() error { return ipn.Serve(done, d.ipnLis, d.ipn, cfg.IPNTLSCertFile, cfg.IPNTLSKeyFile) })
	}
	if callersFile != nil {
		g.Go(func() error { return callersFile.Watch(done, callersReloadInterval) })
	}
	for _, w := range d.workers {
		g.Go(func() error { return w(done) })
	}

	// Every dependency above is built: let load balancers route here once
	// the store answers and Amazon Pay accepts the credentials, and for as
	// long as both hold.
	obs.creds.Probe = amazonauth.ProbeWith(d.amazon)
	ready := func(ctx context.Context) error {
		if err := d.ready(ctx); err != nil {
			return grpcserver.NotReady("database unreachable", err)
		}
		if err := obs.creds.Check(ctx); err != nil {
			return grpcserver.NotReady("amazon pay credentials rejected", err)
		}
		return nil
	}
	srv.CheckReadiness(shutdown, ready, cfg.HealthCheckInterval)
	g.Go(func() error {
		srv.FollowReadiness(done, ready, cfg.HealthCheckInterval, cfg.HealthCheckInterval)
		return nil
	})
	logger.Info("serving", "addr", lis.Addr().String(), "amazon_pay_mode", mode)

	if err := g.Wait(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// newLogger returns the service's logger: JSON lines on w from level up,
// with every duration written as a Go duration string ("15s", "1m30s")
// whoever logs it, instead of slog's default integer nanoseconds.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(logcontext.NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		},
	})))
}

// healthModeKey is the health answers' header metadata, and the /readyz
// and /livez JSON field, naming the Amazon Pay mode.
const healthModeKey = "amazon-pay-mode"

// callersReloadInterval is how often the callers file is checked for
// changes.
const callersReloadInterval = 2 * time.Second

// serveDebug serves the runtime's profiles (net/http/pprof) on lis until
// ctx ends. Its own mux keeps the handlers off http.DefaultServeMux.
func serveDebug(ctx context.Context, lis net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// A CPU profile or trace writes for as long as it was asked to
		// record (30 s by default), and pprof refuses a duration that
		// reaches the write timeout: leave room for a few minutes.
		WriteTimeout:   5 * time.Minute,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
	}
	return serveHTTP(ctx, lis, srv, "debug listener")
}

// serveMetrics serves h (the metrics and the probes) on lis until ctx
// ends.
func serveMetrics(ctx context.Context, lis net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// A scrape's slowest part, the backlog query, is bounded at 5 s.
		WriteTimeout: 20 * time.Second,
		// Longer than the usual scrape intervals (up to a minute), so a
		// scraper keeps its connection between scrapes.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
	}
	return serveHTTP(ctx, lis, srv, "metrics listener")
}

// serveHTTP serves srv on lis until ctx ends. Like the notifications
// listener, srv has read, write and idle timeouts, so that a slow or idle
// client cannot hold connections open.
func serveHTTP(ctx context.Context, lis net.Listener, srv *http.Server, name string) error {
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// loadAuthToken reads the bearer token from path; "" means no auth. The
// token is trimmed of surrounding whitespace (files usually end in a
// newline) and must not be empty.
func loadAuthToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("AUTH_TOKEN_FILE: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("AUTH_TOKEN_FILE: %s is empty", path)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("AUTH_TOKEN_FILE: the token in %s must be one word", path)
	}
	return token, nil
}
