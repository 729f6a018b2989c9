package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/amazonauth"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/embeddedsim"
	"github.com/paymentcompletion/paymentcompletion/internal/ipn"
	"github.com/paymentcompletion/paymentcompletion/internal/metrics"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeobserve"
	"github.com/paymentcompletion/paymentcompletion/internal/tracing"
	"github.com/paymentcompletion/paymentcompletion/internal/tracker"
	appwire "github.com/paymentcompletion/paymentcompletion/internal/wire"
)

// deps is the wired service: its implementation, the background workers to
// run until shutdown, and what to close afterwards (in reverse order).
type deps struct {
	service pb.PaymentCompletionServiceServer
	// ready reports whether the store can be reached (health follows it).
	ready func(ctx context.Context) error
	// amazon is the Amazon Pay client (the credentials' probe uses it).
	amazon  *amazonpay.Client
	workers []func(ctx context.Context) error
	closers []func() error
	// ipnLis and ipn are the notification listener and its handler (nil
	// without one); ipnCfg is the receiver's configuration, which the
	// embedded simulator completes.
	ipnLis net.Listener
	ipn    http.Handler
	ipnCfg *ipn.Config
}

// wire builds the service's dependencies in order (wire.Build): the store,
// Amazon Pay (the real API, or the embedded simulator without credentials),
// the completion service with its reconciler, the pending-authorization
// tracker, and the gRPC implementation over them. On error, what was built
// is closed.
func wire(ctx context.Context, cfg Config, logger *slog.Logger, obs *observability) (d *deps, err error) {
	d = &deps{}
	defer func() {
		if err != nil {
			for i := len(d.closers) - 1; i >= 0; i-- {
				_ = d.closers[i]()
			}
			d = nil
		}
	}()
	warnDeprecated(cfg, logger)
	if addr := cfg.IPNListenAddr(); addr != "" {
		if d.ipnCfg, err = ipnConfig(cfg); err != nil {
			return d, err
		}
		if obs.metrics != nil {
			d.ipnCfg.Metrics = obs.metrics
		}
		// Bound before Amazon Pay is set up, so the embedded simulator can
		// be told the endpoint's address.
		if d.ipnLis, err = net.Listen("tcp", addr); err != nil {
			return d, listenError(cfg, "IPN_ADDR", "ipn-addr", err)
		}
		lis := d.ipnLis
		d.closers = append(d.closers, func() error { _ = lis.Close(); return nil })
	}
	svc, err := appwire.Build(ctx, appwire.Config{
		DatabaseURL: cfg.DatabaseURL,
		AmazonPay: func(ctx context.Context) (*amazonpay.Client, error) {
			c, err := amazonPay(ctx, cfg, logger, obs.amazonPay(), d)
			d.amazon = c
			return c, err
		},
		Completion: completion.Config{
			Owner:               cfg.ReplicaID,
			InflightLease:       cfg.CompletionInflightLease,
			UpstreamTimeout:     cfg.CompletionUpstreamTimeout,
			ReconcileFirstDelay: cfg.ReconcileFirstDelay,
			PendingFirstPoll:    cfg.TrackerFirstPoll,
			Metrics:             obs.completionMetrics(),
		},
		Tracker: tracker.Config{
			Owner:       cfg.ReplicaID,
			FirstPoll:   cfg.TrackerFirstPoll,
			MaxInterval: cfg.TrackerMaxInterval,
			Lease:       cfg.TrackerLease,
		},
		Operations:             chargeops.Config{SetMerchantReference: cfg.MerchantReference, AutoCapture: cfg.AutoCapture, Metrics: obs.operationMetrics()},
		MaxCompletionsInFlight: cfg.MaxCompletionsInFlight,
		AmazonPayMaxCalls:      cfg.AmazonPayMaxCalls,
		AmazonPayMaxQueued:     cfg.AmazonPayMaxQueued,
		AmazonPayRates:         cfg.AmazonPayRates(),
		Logger:                 logger,
		ObserveStore:           obs.store,
		IPN:                    d.ipnCfg,
		TracerProvider:         obs.tracer,
		Mode:                   pbMode[cfg.Mode()],
		NoMigrate:              !cfg.MigrateAtStart,
	})
	if errors.Is(err, sqlstore.ErrSchemaBehind) {
		return d, fmt.Errorf("MIGRATE_AT_START (-migrate-at-start) is false and %w: run \"server migrate up\" with the same DATABASE_URL first", err)
	}
	if err != nil {
		return d, err
	}
	// The store closes after what Amazon Pay started (the simulator), as
	// before the split: closers run in reverse.
	d.closers = append([]func() error{svc.Close}, d.closers...)
	if obs.metrics != nil {
		obs.metrics.WatchLimit("completions", svc.CompletionsInFlight)
		obs.metrics.WatchLimit("amazonpay_calls", svc.AmazonPay)
		if obs.opsBacklog != nil {
			obs.metrics.WatchOperations(obs.opsBacklog, time.Now)
		}
	}
	d.service, d.workers, d.ready, d.ipn = svc.API, svc.Workers, svc.Store.Ping, svc.IPN
	return d, nil
}

// pbMode is Config.Mode as the API answers it on every Payment.
var pbMode = map[string]pb.AmazonPayMode{
	ModeSimulator: pb.AmazonPayMode_AMAZON_PAY_MODE_SIMULATOR,
	ModeSandbox:   pb.AmazonPayMode_AMAZON_PAY_MODE_SANDBOX,
	ModeLive:      pb.AmazonPayMode_AMAZON_PAY_MODE_LIVE,
}

// ipnConfig is the notification receiver's configuration from the
// settings.
func ipnConfig(cfg Config) (*ipn.Config, error) {
	ic := &ipn.Config{
		Verifier: ipn.VerifierConfig{
			ExtraHosts: list(cfg.IPNCertHosts),
			TopicArns:  list(cfg.IPNTopicArns),
			MaxAge:     cfg.IPNMaxAge,
		},
		MerchantID: cfg.IPNMerchantID,
		Rate:       cfg.IPNRate,
		Burst:      max(1, int(2*cfg.IPNRate)),
	}
	if cfg.IPNCAFile != "" {
		b, err := os.ReadFile(cfg.IPNCAFile)
		if err != nil {
			return nil, fmt.Errorf("IPN_CA_FILE (-ipn-ca-file): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("IPN_CA_FILE (-ipn-ca-file): no PEM certificate in %s", cfg.IPNCAFile)
		}
		ic.Verifier.Roots = pool
	}
	return ic, nil
}

// registerIPN points the embedded simulator's notifications at this
// server's receiver and makes the receiver trust the simulator's signing
// certificate: its host is allowed and its CA is a root. An endpoint kept
// from an earlier run at the same URL is reused; ones at other addresses
// of this receiver's path are removed, so a notification is sent once.
func registerIPN(sim *simulator.Simulator, srv *simulator.Server, ic *ipn.Config, lis net.Listener, tlsOn bool, logger *slog.Logger) error {
	ic.Verifier.ExtraHosts = append(ic.Verifier.ExtraHosts, srv.Addr)
	if ic.Verifier.Roots == nil {
		ic.Verifier.Roots = srv.CertPool
	} else {
		ic.Verifier.Roots = ic.Verifier.Roots.Clone()
		ic.Verifier.Roots.AppendCertsFromPEM(srv.CertPEM)
	}
	if ic.MerchantID == "" {
		ic.MerchantID = embeddedMerchantID
	}
	// Its notifications carry its time, which a manual clock moves ahead
	// of the real one: their age is judged on that clock, so IPN_MAX_AGE
	// keeps its meaning however far the clock was advanced.
	ic.Verifier.SenderNow = sim.Now
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	url := scheme + "://" + lis.Addr().String() + ipn.Path
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/simulator/notificationEndpoints?merchantId="+ic.MerchantID, nil))
	var listed struct {
		Endpoints []struct{ ID, URL string } `json:"notificationEndpoints"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &listed); err != nil {
		return fmt.Errorf("embedded simulator: list notification endpoints: %w", err)
	}
	found := false
	for _, ep := range listed.Endpoints {
		switch {
		case ep.URL == url:
			found = true
		case strings.HasSuffix(ep.URL, ipn.Path):
			sim.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodDelete, "/simulator/notificationEndpoints/"+ep.ID, nil))
		}
	}
	if !found {
		if _, err := sim.AddNotificationEndpoint(url, ic.MerchantID, "2"); err != nil {
			return fmt.Errorf("embedded simulator: %w", err)
		}
	}
	logger.Info("embedded simulator sends its notifications to this server", "ipn_url", url, "merchant_id", ic.MerchantID)
	return nil
}

// amazonPay returns the Amazon Pay client: for the configured account, or,
// without credentials, for the embedded simulator it starts.
func amazonPay(ctx context.Context, cfg Config, logger *slog.Logger, observer amazonpay.CallObserver, d *deps) (*amazonpay.Client, error) {
	if !cfg.UseSimulator() {
		ac, err := amazonpay.ConfigFromSettings(cfg.AmazonPay)
		if err != nil {
			return nil, err
		}
		ac.Logger = logger
		ac.Observer = observer
		c, err := amazonpay.New(ac)
		if err != nil {
			return nil, err
		}
		logger.Info("using Amazon Pay", "amazon_pay_mode", cfg.Mode(), "base_url", c.BaseURL(), "region", c.Region(), "public_key_id", cfg.AmazonPay.PublicKeyID)
		return c, nil
	}

	dir := embeddedsim.Dir(cfg.DataDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("DATA_DIR (-data-dir): %w", err)
	}
	sim, err := simulator.New(simulator.Options{
		PendingDelay: cfg.SimulatorPendingDelay,
		ManualClock:  cfg.SimulatorClock == "manual",
		Throttle:     cfg.SimulatorThrottle,
		StateDir:     dir,
		Logger:       logger,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded simulator: %w", err)
	}
	d.closers = append(d.closers, sim.Close)
	key, err := embeddedsim.LoadOrCreateKey(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded simulator key: %w", err)
	}
	if err := sim.RegisterPublicKey(embeddedsim.KeyID, &key.PublicKey, ""); err != nil {
		return nil, fmt.Errorf("embedded simulator key: %w", err)
	}
	// The simulator serves until the service stops: it is shut down by its
	// own context, cancelled by the closer after the workers have stopped.
	simCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv, err := simulator.Serve(simCtx, cfg.SimulatorAddr, sim, dir)
	if err != nil {
		cancel()
		return nil, listenError(cfg, "SIMULATOR_ADDR", "simulator-addr", err)
	}
	d.closers = append(d.closers, func() error {
		cancel()
		sctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		return srv.Shutdown(sctx)
	})
	if d.ipnCfg != nil {
		if err := registerIPN(sim, srv, d.ipnCfg, d.ipnLis, cfg.IPNTLSCertFile != "", logger); err != nil {
			return nil, err
		}
	}
	c, err := amazonpay.New(amazonpay.Config{
		PublicKeyID: embeddedsim.KeyID,
		PrivateKey:  key,
		Region:      "na",
		Endpoint:    srv.URL,
		RootCAs:     srv.CertPool,
		Logger:      logger,
		Observer:    observer,
	})
	if err != nil {
		return nil, err
	}
	logger.Warn("no Amazon Pay credentials configured: running against the embedded Amazon Pay simulator, no real payment is made",
		"amazon_pay_mode", ModeSimulator, "simulator_url", srv.URL, "simulator_cert", filepath.Join(dir, simulator.CertFile),
		"public_key_id", embeddedsim.KeyID, "state_dir", dir)
	return c, nil
}

// embeddedMerchantID is the merchant of embeddedsim.KeyID at the embedded
// simulator: a key registered without one belongs to its "default"
// merchant (docs/simulator.md).
const embeddedMerchantID = "default"

// observability is what traces and measures the service: the tracer
// provider (always set) and the metrics (nil without METRICS_ADDR).
type observability struct {
	tracer  trace.TracerProvider
	metrics *metrics.Metrics
	// creds follows whether Amazon Pay accepts the credentials
	// (readiness).
	creds *amazonauth.Watch
	// backlog is the store as opened, once wire has opened it.
	backlog store.Backlogger
	// opsBacklog is the same store's backlog of operations.
	opsBacklog store.OperationsBacklogger
}

func (o *observability) amazonPay() amazonpay.CallObserver {
	obs := []amazonpay.CallObserver{tracing.NewAmazonPay(o.tracer)}
	if o.creds != nil {
		obs = append(obs, o.creds)
	}
	if o.metrics != nil {
		obs = append(obs, o.metrics)
	}
	return amazonpay.Observers(obs...)
}

func (o *observability) completionMetrics() completion.Metrics {
	if o.metrics == nil {
		return nil
	}
	return o.metrics
}

func (o *observability) operationMetrics() chargeops.Metrics {
	if o.metrics == nil {
		return nil
	}
	return o.metrics
}

func (o *observability) store(raw store.Store) store.Store {
	o.backlog, _ = raw.(store.Backlogger)
	o.opsBacklog, _ = raw.(store.OperationsBacklogger)
	var sobs storeobserve.Observer
	if o.metrics != nil {
		sobs = o.metrics
	}
	return storeobserve.Wrap(raw, o.tracer, sobs)
}

// warnDeprecated logs the settings still accepted, so that a deployment
// setting them keeps starting, that no longer do anything.
func warnDeprecated(cfg Config, logger *slog.Logger) {
	if cfg.TrackerGetChargeRate > 0 {
		logger.Warn("TRACKER_GET_CHARGE_RATE is deprecated and ignored: the tracker's Get Charge calls are paced by the process's Get Charge limit (AMAZON_PAY_RATE_LIMITS, e.g. GetCharge=2/2), behind calls a buyer waits on; remove the setting",
			"tracker_get_charge_rate", cfg.TrackerGetChargeRate)
	}
}
