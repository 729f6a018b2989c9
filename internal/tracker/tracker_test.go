package tracker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlite"
	"github.com/paymentcompletion/paymentcompletion/internal/tracker"
	"github.com/paymentcompletion/paymentcompletion/internal/watch"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

type fixture struct {
	sim    *simulator.Simulator
	url    string
	client *amazonpay.Client
	gets   *atomic.Int64 // Get Charge requests that reached the simulator
}

func newFixture(t *testing.T, pendingDelay time.Duration) *fixture {
	t.Helper()
	gets := &atomic.Int64{}
	sim := simtest.Start(t, simtest.Options{
		Simulator: simulator.Options{PendingDelay: pendingDelay},
		Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/charges/") {
					gets.Add(1)
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	c := sim.Client(t, amazonpay.RetryPolicy{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond}, 0)
	return &fixture{sim: sim.Simulator, url: sim.URL, client: c, gets: gets}
}

// pendingSession prepares a session whose authorization will be pending.
func (f *fixture) pendingSession(t *testing.T, scenario string) string {
	t.Helper()
	ctx := t.Context()
	s, _, err := f.client.CreateCheckoutSession(ctx, amazonpay.CreateCheckoutSessionRequest{
		WebCheckoutDetails: amazonpay.WebCheckoutDetails{CheckoutReviewReturnURL: "https://shop.example/review"}, StoreID: "store"})
	if err != nil {
		t.Fatal(err)
	}
	price := amazonpay.Price{Amount: "10.00", CurrencyCode: "USD"}
	if _, _, err := f.client.UpdateCheckoutSession(ctx, s.CheckoutSessionID, amazonpay.UpdateCheckoutSessionRequest{
		WebCheckoutDetails: &amazonpay.WebCheckoutDetails{CheckoutResultReturnURL: "https://shop.example/result"},
		PaymentDetails:     &amazonpay.PaymentDetails{PaymentIntent: "Authorize", CanHandlePendingAuthorization: true, ChargeAmount: &price},
	}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"scenario": scenario})
	resp, err := http.Post(f.url+"/simulator/checkoutSessions/"+s.CheckoutSessionID+"/buyer", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("buyer: %v %v", err, resp)
	}
	resp.Body.Close()
	return s.CheckoutSessionID
}

func stores(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"postgres": func(t *testing.T) store.Store {
			s, err := postgres.Open(t.Context(), pgtest.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

// TestPendingPaymentsSettle completes pending checkouts and lets the
// tracker settle them, on each store, with a restart of the tracker in the
// middle.
func TestPendingPaymentsSettle(t *testing.T) {
	t.Parallel()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Authorizations settle 2s after each Complete: long enough
			// that even on a busy machine none has settled by the first
			// tracker's pass, so every payment is rescheduled (a counted
			// poll) at least once.
			f := newFixture(t, 2*time.Second)
			hub := watch.NewHub()
			st := hub.Wrap(open(t))
			svc := completion.New(st, completion.AmazonPay(f.client), hub, completion.Config{PendingFirstPoll: 100 * time.Millisecond, Logger: quiet})

			want := map[string]struct {
				outcome payment.Outcome
				reason  string
				state   string
			}{}
			for i := range 10 {
				scenario, o, reason, state := "PendingThenAuthorized", payment.Completed, "", payment.ChargeAuthorized
				if i%2 == 1 {
					scenario, o, reason, state = "PendingThenDeclined", payment.Declined, "HardDeclined", payment.ChargeDeclined
				}
				id := f.pendingSession(t, scenario)
				p, err := svc.Complete(t.Context(), completion.Request{CheckoutSessionID: id, OrderID: "order", ChargeAmount: payment.Money{Amount: "10.00", CurrencyCode: "USD"}})
				if err != nil || p.Outcome != payment.Pending || p.ChargeState != payment.ChargeAuthorizationInitiated {
					t.Fatalf("complete: %v %+v", err, p)
				}
				want[id] = struct {
					outcome payment.Outcome
					reason  string
					state   string
				}{o, reason, state}
			}

			cfg := tracker.Config{Owner: "t", FirstPoll: 100 * time.Millisecond, MaxInterval: 300 * time.Millisecond, Rate: 100, Idle: 20 * time.Millisecond, Lease: 5 * time.Second, Logger: quiet}
			// The first tracker polls once (nothing has settled yet) and stops.
			first := tracker.New(st, f.client, cfg)
			time.Sleep(150 * time.Millisecond)
			if n, err := first.PollOnce(t.Context()); err != nil || n == 0 {
				t.Fatalf("first pass: %d %v", n, err)
			}
			// A new tracker (a restarted process) finds the work in the store.
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- tracker.New(st, f.client, cfg).Run(ctx) }()
			deadline := time.Now().Add(20 * time.Second)
			for id, w := range want {
				for {
					p, err := st.Get(t.Context(), id)
					if err != nil {
						t.Fatal(err)
					}
					if p.Outcome.Final() {
						if p.Outcome != w.outcome || p.ReasonCode != w.reason || p.ChargeState != w.state || !p.NextCheckTime.IsZero() || p.LeaseOwner != "" {
							t.Fatalf("%s settled as %+v, want %v", id, p, w)
						}
						if p.CheckAttempts < 1 {
							t.Errorf("%s settled without a counted poll", id)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s not settled: %+v", id, p)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

func TestNextDelayGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	tr := tracker.New(nil, nil, tracker.Config{FirstPoll: 30 * time.Second, MaxInterval: 30 * time.Minute})
	prev := time.Duration(0)
	for polls := range 20 {
		d := tr.NextDelay(polls)
		if d > 33*time.Minute {
			t.Fatalf("poll %d: delay %v above the cap (with jitter)", polls, d)
		}
		if polls < 5 && d < prev {
			t.Fatalf("poll %d: delay %v shrank from %v", polls, d, prev)
		}
		if polls == 0 && (d < 54*time.Second || d > 66*time.Second) {
			t.Fatalf("first retry delay %v, want about 1m", d)
		}
		prev = d
	}
	if d := tr.NextDelay(1000); d < 27*time.Minute {
		t.Fatalf("late delay %v, want the 30m cap", d)
	}
}

// TestGetChargeRateIsLimited checks that a pass never sends Get Charge
// faster than the configured rate (plus its burst).
func TestGetChargeRateIsLimited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, time.Hour) // stays pending throughout
	hub := watch.NewHub()
	st := hub.Wrap(stores(t)["sqlite"](t))
	svc := completion.New(st, completion.AmazonPay(f.client), hub, completion.Config{PendingFirstPoll: time.Millisecond, Logger: quiet})
	const n = 12
	for range n {
		id := f.pendingSession(t, "PendingThenAuthorized")
		if _, err := svc.Complete(t.Context(), completion.Request{CheckoutSessionID: id, OrderID: "o", ChargeAmount: payment.Money{Amount: "10.00", CurrencyCode: "USD"}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	const rate, burst = 10.0, 2
	tr := tracker.New(st, f.client, tracker.Config{Rate: rate, Burst: burst, FirstPoll: time.Hour, Lease: time.Minute, Logger: quiet})
	before := f.gets.Load()
	start := time.Now()
	got, err := tr.PollOnce(t.Context())
	elapsed := time.Since(start)
	if err != nil || got != n {
		t.Fatalf("PollOnce = %d, %v; want %d", got, err, n)
	}
	sent := f.gets.Load() - before
	if sent != n {
		t.Fatalf("%d Get Charge requests, want %d", sent, n)
	}
	if allowed := burst + int64(rate*elapsed.Seconds()) + 1; sent > allowed {
		t.Fatalf("%d requests in %v exceed rate %v/s with burst %d", sent, elapsed, rate, burst)
	}
	// Nothing settled: every payment is rescheduled, not guessed.
	due, err := st.ClaimDue(t.Context(), []payment.Outcome{payment.Pending}, time.Now().Add(2*time.Hour), 100, time.Minute, "probe")
	if err != nil || len(due) != n {
		t.Fatalf("pending payments after the pass: %d %v", len(due), err)
	}
	for _, p := range due {
		if p.CheckAttempts != 1 {
			t.Errorf("%s: %d attempts, want 1", p.CheckoutSessionID, p.CheckAttempts)
		}
	}
}
