// Package wire assembles the service from its parts, the one way the server
// and the end-to-end tests both use: the store (with the watch hub over it
// and, where the database has one, its change feed), the completion service
// with its reconciler, the pending-authorization tracker, and the gRPC
// implementation over them.
package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/amazongate"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcapi"
	"github.com/paymentcompletion/paymentcompletion/internal/ipn"
	"github.com/paymentcompletion/paymentcompletion/internal/listing"
	"github.com/paymentcompletion/paymentcompletion/internal/overload"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeopen"
	"github.com/paymentcompletion/paymentcompletion/internal/tracker"
	"github.com/paymentcompletion/paymentcompletion/internal/watch"
)

// Config is what Build needs.
type Config struct {
	// DatabaseURL names the store (see storeopen.Open).
	DatabaseURL string
	// AmazonPay returns the Amazon Pay client; it is called after the store
	// is open. What it starts must be closed by its caller.
	AmazonPay func(context.Context) (*amazonpay.Client, error)
	// Completion and Tracker tune the domain; Logger is set on both.
	Completion completion.Config
	Tracker    tracker.Config
	// Operations tunes captures and cancellations; zero fields follow the
	// completion's (owner, lease, timeout, reconciliation backoff) and the
	// tracker's (first poll, poll interval) settings.
	Operations chargeops.Config
	Logger     *slog.Logger
	// MaxCompletionsInFlight bounds the completions served at once
	// (completion.Config.InFlight); AmazonPayMaxCalls and
	// AmazonPayMaxQueued bound the Amazon Pay calls of every caller in
	// flight and waiting (amazongate). All must be positive but
	// AmazonPayMaxQueued, which may be 0.
	MaxCompletionsInFlight int
	AmazonPayMaxCalls      int
	AmazonPayMaxQueued     int
	// ObserveStore, when set, wraps the store the service uses (e.g. to
	// trace and time its operations); it gets the store as opened.
	ObserveStore func(store.Store) store.Store
	// AmazonPayRates are the per-operation rate limits of every Amazon Pay
	// call (amazongate.Rates; the zero value: Amazon's live quotas). The
	// reconciler's and the tracker's calls yield to the calls a buyer
	// waits on. A Tracker.Rate of 0 takes the Get Charge limit's.
	AmazonPayRates amazongate.Rates
	// IPN, when set, builds the Amazon Pay notification receiver
	// (Service.IPN) over the store and the tracker; Build sets its Store,
	// Wake and Logger. It is read after AmazonPay returns, so that an
	// embedded simulator can add its host and CA to it.
	IPN *ipn.Config
	// TracerProvider traces the background work (reconciliations, polls,
	// operation checks, notifications), each unit as a trace of its own
	// linked to the call that recorded it; nil: the global provider.
	TracerProvider trace.TracerProvider
	// Mode is the Amazon Pay environment every answered Payment names.
	Mode pb.AmazonPayMode
	// NoMigrate opens the store without applying migrations, refusing a
	// schema that is behind (storeopen.OpenExisting).
	NoMigrate bool
}

// Service is the assembled service.
type Service struct {
	// API implements the gRPC service.
	API pb.PaymentCompletionServiceServer
	// Store is the store as the domain uses it (changes are announced to
	// watchers of this process).
	Store store.Store
	// Workers run until their context ends: the reconciler, the tracker and,
	// with PostgreSQL, the change feed. Each returns nil when stopped.
	Workers []func(context.Context) error
	// IPN is the notification receiver's handler (serve it at ipn.Path on
	// a listener of its own); nil without Config.IPN.
	IPN http.Handler
	// CompletionsInFlight and AmazonPay are the limits of work in flight
	// (MaxCompletionsInFlight; AmazonPayMaxCalls and AmazonPayMaxQueued),
	// for metrics.
	CompletionsInFlight *overload.Limiter
	AmazonPay           *amazongate.Gate
	close               func() error
}

// Close closes the store; call it after the workers have stopped.
func (s *Service) Close() error { return s.close() }

// Build opens the store and assembles the service. On error nothing stays
// open.
func Build(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	open := storeopen.Open
	if cfg.NoMigrate {
		open = storeopen.OpenExisting
	}
	raw, err := open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	hub := watch.NewHub()
	var observed store.Store = raw
	if cfg.ObserveStore != nil {
		observed = cfg.ObserveStore(raw)
	}
	st := hub.Wrap(observed)
	s := &Service{Store: st, close: raw.Close}
	if l, ok := raw.(storeopen.ChangeListener); ok {
		// Changes made by other replicas reach this replica's watchers.
		s.Workers = append(s.Workers, func(ctx context.Context) error { return l.ListenChanges(ctx, hub.Publish) })
	}

	inFlight, err := overload.New("completions in flight", cfg.MaxCompletionsInFlight, 0)
	if err != nil {
		return nil, errors.Join(err, raw.Close())
	}
	client, err := cfg.AmazonPay(ctx)
	if err != nil {
		return nil, errors.Join(err, raw.Close())
	}
	// Every caller of Amazon Pay goes through the one gate.
	az, err := amazongate.New(client, cfg.AmazonPayMaxCalls, cfg.AmazonPayMaxQueued, amazongate.WithRates(cfg.AmazonPayRates))
	if err != nil {
		return nil, errors.Join(err, raw.Close())
	}
	if cfg.Tracker.Rate <= 0 {
		// The tracker sizes its batches by the rate its calls get; the
		// gate paces them.
		if l, ok := cfg.AmazonPayRates.Limit("GetCharge"); ok {
			cfg.Tracker.Rate, cfg.Tracker.Burst = l.Rate, l.Burst
		}
	}
	cfg.Completion.Logger, cfg.Tracker.Logger = cfg.Logger, cfg.Logger
	cfg.Completion.TracerProvider, cfg.Tracker.TracerProvider = cfg.TracerProvider, cfg.TracerProvider
	cfg.Completion.InFlight = inFlight
	s.CompletionsInFlight, s.AmazonPay = inFlight, az
	opStore, ok := raw.(store.Operations)
	if !ok {
		return nil, errors.Join(errors.New("DATABASE_URL: the store keeps no operations"), raw.Close())
	}
	// Operation changes reach this process's watchers of the payment at
	// once (other replicas' through the change feed).
	ops := chargeops.New(hub.WrapOperations(opStore), az, operationsConfig(cfg))
	// What follows a completion (the merchant reference, the automatic
	// capture) is recorded when the completion, the reconciler or the
	// tracker records a completed payment.
	followed := ops.Follow(st)
	svc := completion.New(followed, az, hub, cfg.Completion)
	tr := tracker.New(followed, az, cfg.Tracker)
	// Background work: its Amazon Pay calls yield to the buyers' calls.
	s.Workers = append(s.Workers,
		func(ctx context.Context) error { return svc.RunReconciler(amazongate.Background(ctx)) },
		func(ctx context.Context) error { return tr.Run(amazongate.Background(ctx)) },
		func(ctx context.Context) error { return ops.Run(amazongate.Background(ctx)) })
	if cfg.IPN != nil {
		ic := *cfg.IPN
		// A notification may make a pending payment or an operation on
		// a charge due: both workers look at once.
		ic.Store, ic.Logger, ic.TracerProvider = st, cfg.Logger, cfg.TracerProvider
		ic.Wake = func() { tr.Wake(); ops.Wake() }
		rc, err := ipn.New(ic)
		if err != nil {
			return nil, errors.Join(err, raw.Close())
		}
		s.IPN = rc
	}
	s.API = grpcapi.NewServer(grpcapi.Deps{Completer: svc, Amazon: az, Lister: listing.New(st, pageTokenKey(client)), Operator: ops, Logger: cfg.Logger, Mode: cfg.Mode})
	return s, nil
}

// operationsConfig fills the operations' settings left zero from the
// completion's and the tracker's.
func operationsConfig(cfg Config) chargeops.Config {
	o := cfg.Operations
	o.Logger = cfg.Logger
	o.TracerProvider = cfg.TracerProvider
	if o.Owner == "" {
		o.Owner = cfg.Completion.Owner
	}
	if o.Lease <= 0 {
		o.Lease = cfg.Completion.InflightLease
	}
	if o.UpstreamTimeout <= 0 {
		o.UpstreamTimeout = cfg.Completion.UpstreamTimeout
	}
	if o.FirstDelay <= 0 {
		o.FirstDelay = cfg.Completion.ReconcileFirstDelay
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = cfg.Completion.ReconcileMaxInterval
	}
	if o.PendingFirst <= 0 {
		o.PendingFirst = cfg.Tracker.FirstPoll
	}
	if o.PendingMax <= 0 {
		o.PendingMax = cfg.Tracker.MaxInterval
	}
	if o.Now == nil {
		o.Now = cfg.Completion.Now
	}
	return o
}

// pageTokenKey is the key of ListPayments' page tokens, derived from the
// Amazon Pay private key: every replica of one merchant holds it, so a
// token issued by one replica is accepted by the others, and nothing else
// has to be configured or stored. A new Amazon Pay key ends the listings
// under way (their next page is refused, the caller starts again).
func pageTokenKey(c *amazonpay.Client) []byte { return c.DeriveKey("ListPayments page tokens") }
