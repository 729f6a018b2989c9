package amazongate

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
)

// TestGatePacesEveryCall: over real sockets, Complete Checkout Session
// (signed ahead, or signed when sent because every signing place was
// taken) and the reads go through their operation's limit: a throttled
// answer comes back as a *ThrottledError with the pause it started, and the
// next call is held back unsent (a *RateError) while the pause lasts longer
// than MaxWait.
func TestGatePacesEveryCall(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	srv := simtest.Start(t, simtest.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			// Amazon throttles everything.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"reasonCode":"TooManyRequests","message":"slow down"}`))
		})
	}})
	c := srv.Client(t, amazonpay.RetryPolicy{MaxAttempts: 1}, 0)
	const session = "6f1c2b0e-8a4d-4f3e-9b2a-1c5d7e9f0a2b"
	req := amazonpay.CompleteCheckoutSessionRequest{ChargeAmount: amazonpay.Price{Amount: "1.00", CurrencyCode: "USD"}}
	ctx := context.Background()

	calls := []struct {
		name string
		op   string
		call func(g *Gate) error
	}{
		{"complete signed ahead", "CompleteCheckoutSession", func(g *Gate) error {
			call, err := g.PrepareComplete(session, req)
			if err != nil {
				return err
			}
			_, _, err = call.Send(ctx)
			return err
		}},
		{"complete signed when sent", "CompleteCheckoutSession", func(g *Gate) error {
			for range cap(g.signing) {
				g.signing <- struct{}{}
			}
			call, err := g.PrepareComplete(session, req)
			for range cap(g.signing) {
				<-g.signing
			}
			if err != nil {
				return err
			}
			if call.(*gatedComplete).call != nil {
				t.Fatal("signed ahead without a signing place")
			}
			_, _, err = call.Send(ctx)
			return err
		}},
		{"get checkout session", "GetCheckoutSession", func(g *Gate) error {
			_, _, err := g.GetCheckoutSession(ctx, session)
			return err
		}},
		{"get charge", "GetCharge", func(g *Gate) error {
			_, _, err := g.GetCharge(ctx, "S01-1234567-1234567-C123456")
			return err
		}},
		{"get charge permission", "GetChargePermission", func(g *Gate) error {
			_, _, err := g.GetChargePermission(ctx, "S01-1234567-1234567")
			return err
		}},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(c, 8, 8, WithRates(Rates{MaxWait: 100 * time.Millisecond}))
			if err != nil {
				t.Fatal(err)
			}
			before := reached.Load()
			err = tt.call(g)
			var te *ThrottledError
			if !errors.As(err, &te) || amazonpay.Classify(err).Class != amazonpay.ClassThrottled || te.RetryDelay() < 400*time.Millisecond || te.RetryDelay() > time.Second {
				t.Fatalf("first call: %v, want a throttled answer with a pause of 0.5-1s", err)
			}
			err = tt.call(g)
			var re *RateError
			if !errors.As(err, &re) || re.Operation != tt.op || amazonpay.Classify(err).Class != amazonpay.ClassNotSent {
				t.Fatalf("second call: %v, want it held back unsent by the %s limit", err, tt.op)
			}
			if n := reached.Load() - before; n != 1 {
				t.Errorf("%d requests reached Amazon, want 1", n)
			}
		})
	}
}
