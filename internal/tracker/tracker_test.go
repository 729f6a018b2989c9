package tracker_test

import (
	"bytes"
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

func newFixture(t *testing.T, opts simulator.Options) *fixture {
	t.Helper()
	gets := &atomic.Int64{}
	sim := simtest.Start(t, simtest.Options{
		Simulator: opts,
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
// middle. One fake clock drives the simulator's settlements, the
// completion's schedule and the trackers, so nothing waits on real time.
func TestPendingPaymentsSettle(t *testing.T) {
	t.Parallel()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock := simulator.NewFakeClock(time.Now())
			const firstPoll, settle = 30 * time.Second, time.Minute
			f := newFixture(t, simulator.Options{Clock: clock, PendingDelay: settle})
			hub := watch.NewHub()
			st := hub.Wrap(open(t))
			svc := completion.New(st, completion.AmazonPay(f.client), hub, completion.Config{PendingFirstPoll: firstPoll, Now: clock.Now, Logger: quiet})

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

			cfg := tracker.Config{Owner: "t", FirstPoll: firstPoll, MaxInterval: 5 * time.Minute, Rate: 100, Lease: 5 * time.Minute, Now: clock.Now, Logger: quiet}
			first := tracker.New(st, f.client, cfg)
			if n, err := first.PollOnce(t.Context()); err != nil || n != 0 {
				t.Fatalf("pass before the first poll is due: %d %v", n, err)
			}
			// The first tracker polls once (nothing has settled yet): every
			// payment is rescheduled, with the poll counted, and released.
			clock.Advance(firstPoll)
			if n, err := first.PollOnce(t.Context()); err != nil || n != len(want) {
				t.Fatalf("first pass: %d %v, want %d", n, err, len(want))
			}
			if got := f.gets.Load(); got != int64(len(want)) {
				t.Fatalf("%d Get Charge requests reached Amazon Pay, want %d", got, len(want))
			}
			for id := range want {
				p, err := st.Get(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if p.Outcome != payment.Pending || p.CheckAttempts != 1 || !p.NextCheckTime.After(clock.Now()) || p.LeaseOwner != "" {
					t.Fatalf("%s after the first pass: %+v, want pending, 1 check, rescheduled, released", id, p)
				}
			}

			// Every authorization settles; a new tracker (a restarted
			// process) finds the work in the store once it is due again
			// (1m after the first poll, with at most 10% jitter).
			clock.Advance(2 * settle)
			if n, err := tracker.New(st, f.client, cfg).PollOnce(t.Context()); err != nil || n != len(want) {
				t.Fatalf("pass after the restart: %d %v, want %d", n, err, len(want))
			}
			for id, w := range want {
				p, err := st.Get(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if p.Outcome != w.outcome || p.ReasonCode != w.reason || p.ChargeState != w.state || !p.NextCheckTime.IsZero() || p.LeaseOwner != "" || p.CheckAttempts != 2 {
					t.Fatalf("%s settled as %+v, want %v after 2 checks", id, p, w)
				}
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
