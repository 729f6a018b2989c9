package e2e_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/amazongate"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
	"github.com/paymentcompletion/paymentcompletion/internal/ipn"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeopen"
	"github.com/paymentcompletion/paymentcompletion/internal/tracker"
	"github.com/paymentcompletion/paymentcompletion/internal/wire"
)

// amazonSim is a simulator served over a real socket, with a signed client
// for the test's own set-up calls (the storefront's part: create and update
// sessions).
type amazonSim struct {
	t      testing.TB
	sim    *simulator.Simulator
	URL    string
	KeyID  string
	Key    *rsa.PrivateKey
	client *amazonpay.Client
	// roots and httpc trust a simulator served over HTTPS (nil: plain
	// HTTP).
	roots *x509.CertPool
	httpc *http.Client
	// jpClient is the storefront of a Japanese merchant: Amazon keeps a
	// merchant to its ledger currency outside the EU, so JPY checkouts are
	// prepared through the JP region.
	jpClient *amazonpay.Client
}

func newAmazonSim(t testing.TB, pendingDelay time.Duration) *amazonSim {
	t.Helper()
	s := simtest.Start(t, simtest.Options{Simulator: simulator.Options{PendingDelay: pendingDelay}})
	a := &amazonSim{t: t, sim: s.Simulator, URL: s.URL, KeyID: simtest.KeyID, Key: simtest.Key()}
	setup := amazonpay.RetryPolicy{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxElapsed: 5 * time.Second}
	a.client = a.newClient(t, setup, 5*time.Second)
	a.jpClient = a.regionClient(t, "jp", setup, 5*time.Second)
	return a
}

func (a *amazonSim) newClient(t testing.TB, retry amazonpay.RetryPolicy, attemptTimeout time.Duration) *amazonpay.Client {
	t.Helper()
	return a.regionClient(t, "na", retry, attemptTimeout)
}

func (a *amazonSim) regionClient(t testing.TB, region string, retry amazonpay.RetryPolicy, attemptTimeout time.Duration) *amazonpay.Client {
	t.Helper()
	c, err := amazonpay.New(amazonpay.Config{
		PublicKeyID:    a.KeyID,
		PrivateKey:     a.Key,
		Region:         region,
		Endpoint:       a.URL,
		RootCAs:        a.roots,
		Retry:          retry,
		AttemptTimeout: attemptTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sessionSpec describes a checkout the storefront prepares.
type sessionSpec struct {
	Amount, Currency string
	Intent           string // Authorize (default), AuthorizeWithCapture, Confirm
	CanHandlePending bool
	Total            *amazonpay.Price
	// Scenario is the buyer's part; "" leaves the buyer on Amazon's page.
	Scenario string
}

// newSession creates and updates a checkout session as a storefront does,
// then plays the buyer.
func (a *amazonSim) newSession(t testing.TB, ctx context.Context, spec sessionSpec) string {
	t.Helper()
	if spec.Intent == "" {
		spec.Intent = "Authorize"
	}
	if spec.Currency == "" {
		spec.Currency = "USD"
	}
	client := a.client
	if spec.Currency == "JPY" {
		client = a.jpClient
	}
	sess, _, err := client.CreateCheckoutSession(ctx, amazonpay.CreateCheckoutSessionRequest{
		WebCheckoutDetails: amazonpay.WebCheckoutDetails{CheckoutReviewReturnURL: "https://shop.example/review"},
		StoreID:            "amzn1.application-oa2-client.e2e",
	})
	if err != nil {
		t.Fatalf("create checkout session: %v", err)
	}
	price := amazonpay.Price{Amount: spec.Amount, CurrencyCode: spec.Currency}
	_, _, err = client.UpdateCheckoutSession(ctx, sess.CheckoutSessionID, amazonpay.UpdateCheckoutSessionRequest{
		WebCheckoutDetails: &amazonpay.WebCheckoutDetails{CheckoutResultReturnURL: "https://shop.example/result"},
		PaymentDetails: &amazonpay.PaymentDetails{
			PaymentIntent:                 spec.Intent,
			CanHandlePendingAuthorization: spec.CanHandlePending,
			ChargeAmount:                  &price,
			TotalOrderAmount:              spec.Total,
		},
		MerchantMetadata: &amazonpay.MerchantMetadata{MerchantReferenceID: "order-e2e"},
	})
	if err != nil {
		t.Fatalf("update checkout session: %v", err)
	}
	if spec.Scenario != "" {
		a.control(t, http.MethodPost, "/simulator/checkoutSessions/"+sess.CheckoutSessionID+"/buyer", map[string]any{"scenario": spec.Scenario}, nil)
	}
	return sess.CheckoutSessionID
}

// control calls the simulator's control API and decodes the answer into out.
func (a *amazonSim) control(t testing.TB, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.URL+path, body)
	req.Header.Set("Content-Type", "application/json")
	hc := a.httpc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// calls returns how many times each operation was called for a session.
func (a *amazonSim) calls(t testing.TB, sessionID string) map[string]int {
	t.Helper()
	out := map[string]int{}
	a.control(t, http.MethodGet, "/simulator/checkoutSessions/"+sessionID+"/calls", nil, &out)
	return out
}

// fault injects a fault into the next count calls of an operation.
func (a *amazonSim) fault(t testing.TB, op, kind string, count int, latency time.Duration) {
	t.Helper()
	in := map[string]any{"operation": op, "kind": kind, "count": count}
	if latency > 0 {
		in["latency"] = latency.String()
	}
	a.control(t, http.MethodPost, "/simulator/faults", in, nil)
}

func (a *amazonSim) clearFaults(t testing.TB) {
	t.Helper()
	a.control(t, http.MethodDelete, "/simulator/faults", nil, nil)
}

// service is the whole service assembled in-process on a real TCP port:
// the real gRPC server with its interceptor chain, the real Amazon Pay
// client, a real SQLite store, the reconciler and the tracker.
type service struct {
	Client pb.PaymentCompletionServiceClient
	Store  store.Store
	Addr   string
	// IPNURL is the notification receiver's URL (with serviceOptions.IPN).
	IPNURL string
	cancel context.CancelFunc
	done   chan struct{}
}

type serviceOptions struct {
	// AttemptTimeout and MaxAttempts of the Amazon Pay client.
	AttemptTimeout time.Duration
	MaxAttempts    int
	// Reconciler and tracker pacing.
	ReconcileFirstDelay time.Duration
	TrackerFirstPoll    time.Duration
	// DatabaseURL overrides the store, a new SQLite file by default (to
	// share one across restarts, or to use PostgreSQL).
	DatabaseURL string
	// InflightLease is the completion's in-flight lease; default 30s.
	InflightLease time.Duration
	// MaxInFlight, AmazonMaxCalls and AmazonMaxQueued are the service's
	// limits (defaults: the server's, 10000, 512 and 10000).
	MaxInFlight, AmazonMaxCalls, AmazonMaxQueued int
	// AmazonRates are the rate limits of Amazon Pay calls; nil: none (the
	// simulator does not throttle unless told to, and load tests need the
	// room).
	AmazonRates *amazongate.Rates
	// IPN, when set, serves the notification receiver on a port of its
	// own (plain HTTP on loopback).
	IPN *ipn.Config
	// Operations tunes captures, refunds and what follows a completion
	// (the merchant reference, automatic capture; both off by default).
	Operations chargeops.Config
	// WatchRecheck is how often a watch re-reads without a notification;
	// default 500ms.
	WatchRecheck time.Duration
	// ObserveStore, when set, wraps the service's store (to see what the
	// workers do).
	ObserveStore func(store.Store) store.Store
	// Tracer, when set, traces the calls (continuing the caller's W3C
	// trace context) and the background work; Logger replaces the
	// discarded log.
	Tracer trace.TracerProvider
	Logger *slog.Logger
}

// eachDatabase runs test in parallel on SQLite (the default store) and on a
// PostgreSQL schema of its own.
func eachDatabase(t *testing.T, test func(t *testing.T, opts serviceOptions)) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			opts := serviceOptions{}
			if db == "postgres" {
				opts.DatabaseURL = pgtest.URL(t)
			}
			test(t, opts)
		})
	}
}

// operationsAt opens the store at databaseURL beside the service, as an
// operator would, and returns its operations; it is closed when t ends.
func operationsAt(t testing.TB, databaseURL string) store.Operations {
	t.Helper()
	st, err := storeopen.Open(t.Context(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ops, ok := st.(store.Operations)
	if !ok {
		t.Fatalf("%T keeps no operations", st)
	}
	return ops
}

func startService(t testing.TB, a *amazonSim, o serviceOptions) *service {
	t.Helper()
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = 2 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	if o.ReconcileFirstDelay == 0 {
		o.ReconcileFirstDelay = 200 * time.Millisecond
	}
	if o.TrackerFirstPoll == 0 {
		o.TrackerFirstPoll = 200 * time.Millisecond
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = "sqlite:" + filepath.Join(t.TempDir(), "payments.db")
	}
	if o.InflightLease == 0 {
		o.InflightLease = 30 * time.Second
	}
	if o.WatchRecheck == 0 {
		o.WatchRecheck = 500 * time.Millisecond
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 10000
	}
	if o.AmazonMaxCalls == 0 {
		o.AmazonMaxCalls = 512
	}
	if o.AmazonMaxQueued == 0 {
		o.AmazonMaxQueued = 10000
	}
	rates := amazongate.Rates{Off: true}
	if o.AmazonRates != nil {
		rates = *o.AmazonRates
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if o.Logger != nil {
		logger = o.Logger
	}

	az := a.newClient(t, amazonpay.RetryPolicy{
		MaxAttempts: o.MaxAttempts, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxElapsed: 10 * time.Second,
	}, o.AttemptTimeout)
	// The production wiring, tuned for tests.
	built, err := wire.Build(ctx, wire.Config{
		DatabaseURL: o.DatabaseURL,
		AmazonPay:   func(context.Context) (*amazonpay.Client, error) { return az, nil },
		Completion: completion.Config{
			Owner:                "e2e",
			InflightLease:        o.InflightLease,
			UpstreamTimeout:      20 * time.Second,
			ReconcileFirstDelay:  o.ReconcileFirstDelay,
			ReconcileMaxInterval: time.Second,
			ReconcileIdle:        50 * time.Millisecond,
			PendingFirstPoll:     o.TrackerFirstPoll,
			WatchRecheck:         o.WatchRecheck,
		},
		Operations:             o.Operations,
		Tracker:                tracker.Config{Owner: "e2e", FirstPoll: o.TrackerFirstPoll, MaxInterval: time.Second, Rate: 50, Idle: 50 * time.Millisecond},
		MaxCompletionsInFlight: o.MaxInFlight,
		AmazonPayMaxCalls:      o.AmazonMaxCalls,
		AmazonPayMaxQueued:     o.AmazonMaxQueued,
		AmazonPayRates:         rates,
		Logger:                 logger,
		IPN:                    o.IPN,
		ObserveStore:           o.ObserveStore,
		TracerProvider:         o.Tracer,
	})
	if err != nil {
		t.Fatal(err)
	}
	api, st := built.API, built.Store
	gs, err := grpcserver.New(api, grpcserver.Options{Logger: logger, ShutdownGrace: 2 * time.Second, TracerProvider: o.Tracer})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs.SetServing(true)

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = gs.Serve(ctx, lis) })
	for _, w := range built.Workers {
		wg.Go(func() { _ = w(ctx) })
	}
	var ipnURL string
	if built.IPN != nil {
		ilis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ipnURL = "http://" + ilis.Addr().String() + ipn.Path
		wg.Go(func() { _ = ipn.Serve(ctx, ilis, built.IPN, "", "") })
	}
	go func() { wg.Wait(); _ = built.Close(); close(done) }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	s := &service{Client: pb.NewPaymentCompletionServiceClient(conn), Store: st, Addr: lis.Addr().String(), IPNURL: ipnURL, cancel: cancel, done: done}
	t.Cleanup(func() { _ = conn.Close(); s.stop() })
	return s
}

func (s *service) stop() {
	s.cancel()
	<-s.done
}

func usd(amount string) *pb.Money { return &pb.Money{Amount: amount, CurrencyCode: "USD"} }

// waitFinal follows a payment with WatchPayment until its outcome is final.
func waitFinal(t testing.TB, c pb.PaymentCompletionServiceClient, sessionID string, within time.Duration) []*pb.Payment {
	t.Helper()
	return startWatch(t, c, sessionID, within)()
}

// startWatch opens a WatchPayment stream now, so that its first update is
// the payment as stored at this moment, and returns a function that
// receives the updates until the stream ends (call it from the test's
// goroutine).
func startWatch(t testing.TB, c pb.PaymentCompletionServiceClient, sessionID string, within time.Duration) func() []*pb.Payment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	stream, err := c.WatchPayment(ctx, &pb.WatchPaymentRequest{CheckoutSessionId: sessionID})
	if err != nil {
		cancel()
		t.Fatalf("watch: %v", err)
	}
	// The first update is read here: the stream is open on the server once
	// it arrived.
	first, err := stream.Recv()
	if err != nil {
		cancel()
		t.Fatalf("watch %s: %v", sessionID, err)
	}
	return func() []*pb.Payment {
		t.Helper()
		defer cancel()
		seen := []*pb.Payment{first.GetPayment()}
		for {
			m, err := stream.Recv()
			if err == io.EOF {
				return seen
			}
			if err != nil {
				t.Fatalf("watch %s after %d updates: %v", sessionID, len(seen), err)
			}
			seen = append(seen, m.GetPayment())
		}
	}
}

func describe(p *pb.Payment) string {
	return fmt.Sprintf("%s reason=%q charge=%q state=%s", p.GetOutcome(), p.GetReasonCode(), p.GetChargeId(), p.GetChargeState())
}
