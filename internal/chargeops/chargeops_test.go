package chargeops_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlite"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	sim    *simtest.Simulator
	clock  *simulator.FakeClock
	client *amazonpay.Client
	st     store.Operations
	svc    *chargeops.Service
}

type opStore interface {
	store.Operations
	Close() error
}

func stores() map[string]func(t *testing.T) opStore {
	return map[string]func(t *testing.T) opStore{
		"sqlite": func(t *testing.T) opStore {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) opStore {
			s, err := postgres.Open(t.Context(), pgtest.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// atOnce makes call n times concurrently and returns every call's error.
func atOnce(n int, call func() error) []error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- call() })
	}
	wg.Wait()
	close(errs)
	out := make([]error, 0, n)
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// eachStore runs test in parallel against a fresh fixture on each store.
func eachStore(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Parallel()
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newFixture(t, open))
		})
	}
}

func newFixture(t *testing.T, open func(t *testing.T) opStore) *fixture {
	t.Helper()
	clock := simulator.NewFakeClock(time.Now())
	sim := simtest.Start(t, simtest.Options{Simulator: simulator.Options{Clock: clock, PendingDelay: time.Minute}})
	c, err := amazonpay.New(amazonpay.Config{
		PublicKeyID: simtest.KeyID, PrivateKey: simtest.Key(), Region: "na", Endpoint: sim.URL, Now: clock.Now,
		Retry: amazonpay.RetryPolicy{MaxAttempts: 2, InitialBackoff: 5 * time.Millisecond}, AttemptTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	st := open(t)
	t.Cleanup(func() { _ = st.Close() })
	svc := chargeops.New(st, c, chargeops.Config{Now: clock.Now, Logger: quiet, UpstreamTimeout: 10 * time.Second, WaitRecheck: 10 * time.Millisecond})
	return &fixture{sim: sim, clock: clock, client: c, st: st, svc: svc}
}

// authorized completes a checkout of amount USD with paymentIntent
// Authorize and returns its session and charge IDs.
func (f *fixture) authorized(t *testing.T, amount string) (sessionID, chargeID string) {
	t.Helper()
	done := f.completed(t, amount, "Authorize")
	return done.CheckoutSessionID, done.ChargeID
}

// completed completes a checkout of amount USD with the payment intent.
func (f *fixture) completed(t *testing.T, amount, intent string) *amazonpay.CheckoutSession {
	t.Helper()
	ctx := t.Context()
	s, _, err := f.client.CreateCheckoutSession(ctx, amazonpay.CreateCheckoutSessionRequest{
		WebCheckoutDetails: amazonpay.WebCheckoutDetails{CheckoutReviewReturnURL: "https://shop.example/review"}, StoreID: "store"})
	if err != nil {
		t.Fatal(err)
	}
	price := amazonpay.Price{Amount: amount, CurrencyCode: "USD"}
	if _, _, err := f.client.UpdateCheckoutSession(ctx, s.CheckoutSessionID, amazonpay.UpdateCheckoutSessionRequest{
		WebCheckoutDetails: &amazonpay.WebCheckoutDetails{CheckoutResultReturnURL: "https://shop.example/result"},
		PaymentDetails:     &amazonpay.PaymentDetails{PaymentIntent: intent, ChargeAmount: &price},
	}); err != nil {
		t.Fatal(err)
	}
	f.control(t, "/simulator/checkoutSessions/"+s.CheckoutSessionID+"/buyer", map[string]string{"scenario": "Authorized"})
	done, _, err := f.client.CompleteCheckoutSession(ctx, s.CheckoutSessionID, amazonpay.CompleteCheckoutSessionRequest{ChargeAmount: price})
	if err != nil {
		t.Fatal(err)
	}
	done.CheckoutSessionID = s.CheckoutSessionID
	return done
}

func (f *fixture) control(t *testing.T, path string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(f.sim.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %d %s", path, resp.StatusCode, msg)
	}
}

func (f *fixture) fault(t *testing.T, op, kind string, count int) {
	t.Helper()
	f.control(t, "/simulator/faults", map[string]any{"operation": op, "kind": kind, "count": count})
}

// calls returns the simulator's count of op for the session.
func (f *fixture) calls(t *testing.T, sessionID, op string) int {
	t.Helper()
	resp, err := http.Get(f.sim.URL + "/simulator/checkoutSessions/" + sessionID + "/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m[op]
}

func usd(a string) payment.Money { return payment.Money{Amount: a, CurrencyCode: "USD"} }

func reason(err error) string {
	if e, ok := completion.AsError(err); ok {
		return e.Reason
	}
	return ""
}

func TestCaptureAndCancel(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()

		// A partial capture, then its repeat from the store.
		sess, charge := f.authorized(t, "20.00")
		req := chargeops.CaptureRequest{ChargeID: charge, Amount: usd("15.00"), IdempotencyKey: "shipment-1"}
		res, err := f.svc.Capture(ctx, req)
		if err != nil || res.Outcome != payment.Completed || res.Charge.StatusDetails.State != "Captured" || res.Charge.CaptureAmount.Amount != "15.00" {
			t.Fatalf("Capture = %+v, %v; want Captured 15.00", res, err)
		}
		again, err := f.svc.Capture(ctx, req)
		if err != nil || again.Outcome != payment.Completed || f.calls(t, sess, "CaptureCharge") != 1 {
			t.Errorf("repeat = %+v, %v, %d captures at Amazon; want the stored result and 1 capture", again, err, f.calls(t, sess, "CaptureCharge"))
		}
		other := req
		other.Amount = usd("16.00")
		if _, err := f.svc.Capture(ctx, other); reason(err) != chargeops.ReasonIdempotencyKeyReused {
			t.Errorf("same key, other amount: %v; want %s", err, chargeops.ReasonIdempotencyKeyReused)
		}
		// A second capture of the same charge, with a new key: refused
		// before anything is sent.
		if _, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge, Amount: usd("5.00"), IdempotencyKey: "shipment-2"}); reason(err) != chargeops.ReasonChargeNotCapturable {
			t.Errorf("capture of a captured charge: %v; want %s", err, chargeops.ReasonChargeNotCapturable)
		}
		if n := f.calls(t, sess, "CaptureCharge"); n != 1 {
			t.Errorf("%d captures at Amazon, want 1", n)
		}

		// Rules checked before sending.
		sess2, charge2 := f.authorized(t, "10.00")
		for _, tc := range []struct {
			amount payment.Money
			want   string
		}{
			{usd("10.01"), chargeops.ReasonCaptureAmountExceeded},
			{payment.Money{Amount: "10.00", CurrencyCode: "EUR"}, completion.ReasonCurrencyMismatch},
			{payment.Money{Amount: "10", CurrencyCode: "USD"}, completion.ReasonInvalidRequest},
		} {
			if _, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge2, Amount: tc.amount, IdempotencyKey: "k"}); reason(err) != tc.want {
				t.Errorf("capture of %v: %v; want %s", tc.amount, err, tc.want)
			}
		}
		if n := f.calls(t, sess2, "CaptureCharge"); n != 0 {
			t.Errorf("%d captures sent for refused requests, want 0", n)
		}
		if _, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: "S01-0000000-0000000-C000000", Amount: usd("1.00"), IdempotencyKey: "k"}); reason(err) != completion.ReasonChargeNotFound {
			t.Errorf("unknown charge: %v; want %s", err, completion.ReasonChargeNotFound)
		}

		// Cancel, its repeat, and a capture of the canceled charge.
		res, err = f.svc.Cancel(ctx, chargeops.CancelRequest{ChargeID: charge2, Reason: "out of stock"})
		if err != nil || res.Outcome != payment.Canceled || res.Charge.StatusDetails.State != "Canceled" {
			t.Fatalf("Cancel = %+v, %v", res, err)
		}
		if res, err := f.svc.Cancel(ctx, chargeops.CancelRequest{ChargeID: charge2}); err != nil || res.Outcome != payment.Canceled || f.calls(t, sess2, "CancelCharge") != 1 {
			t.Errorf("repeated Cancel = %+v, %v, %d cancels; want the stored result, 1 cancel", res, err, f.calls(t, sess2, "CancelCharge"))
		}
		if _, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge2, Amount: usd("1.00"), IdempotencyKey: "late"}); reason(err) != chargeops.ReasonChargeNotCapturable {
			t.Errorf("capture of a canceled charge: %v; want %s", err, chargeops.ReasonChargeNotCapturable)
		}
		if _, err := f.svc.Cancel(ctx, chargeops.CancelRequest{ChargeID: charge}); reason(err) != chargeops.ReasonChargeNotCancelable {
			t.Errorf("cancel of a captured charge: %v; want %s", err, chargeops.ReasonChargeNotCancelable)
		}
	})
}

func TestConcurrentDuplicatesCaptureOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		sess, charge := f.authorized(t, "30.00")
		// Slow the capture so that every duplicate arrives while it is
		// in flight.
		f.control(t, "/simulator/faults", map[string]any{"operation": "CaptureCharge", "kind": "latency", "latency": "300ms"})
		for _, err := range atOnce(20, func() error {
			res, err := f.svc.Capture(t.Context(), chargeops.CaptureRequest{ChargeID: charge, Amount: usd("30.00"), IdempotencyKey: "ship"})
			if err == nil && res.Outcome != payment.Completed {
				err = errors.New("outcome " + string(res.Outcome))
			}
			return err
		}) {
			if err != nil {
				t.Errorf("duplicate: %v", err)
			}
		}
		if n := f.calls(t, sess, "CaptureCharge"); n != 1 {
			t.Errorf("20 concurrent duplicates made %d captures at Amazon, want 1", n)
		}
	})
}

func TestLostAnswers(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()

		// The capture is applied, its answer lost: read back.
		sess, charge := f.authorized(t, "12.00")
		f.fault(t, "CaptureCharge", simulator.FaultLostResponse, 2)
		res, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge, Amount: usd("12.00"), IdempotencyKey: "k1"})
		if err != nil || res.Outcome != payment.Completed {
			t.Fatalf("capture with lost answers = %+v, %v; want captured (read back)", res, err)
		}

		// Throttled without being applied: nothing recorded, retry.
		sess2, charge2 := f.authorized(t, "12.00")
		f.fault(t, "CaptureCharge", simulator.FaultHTTP429, 2)
		if _, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge2, Amount: usd("12.00"), IdempotencyKey: "k2"}); reason(err) != completion.ReasonAmazonPayUnavailable {
			t.Fatalf("throttled capture: %v; want %s", err, completion.ReasonAmazonPayUnavailable)
		}
		if _, err := f.st.GetOperation(ctx, chargeops.OperationID(payment.OpCapture, charge2, "k2")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("throttled capture left a record: %v", err)
		}
		if res, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge2, Amount: usd("12.00"), IdempotencyKey: "k2"}); err != nil || res.Outcome != payment.Completed {
			t.Errorf("retry after throttling = %+v, %v", res, err)
		}

		// Lost, and the charge unreadable: unknown, then the worker
		// settles it without a second capture.
		sess3, charge3 := f.authorized(t, "12.00")
		// The check before sending passes (a short latency takes the
		// first GetCharge), the read-back fails.
		f.control(t, "/simulator/faults", map[string]any{"operation": "GetCharge", "kind": "latency", "latency": "1ms"})
		f.fault(t, "CaptureCharge", simulator.FaultLostResponse, 2)
		f.fault(t, "GetCharge", simulator.FaultHTTP500, 2)
		res, err = f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge3, Amount: usd("12.00"), IdempotencyKey: "k3"})
		if err != nil || res.Outcome != payment.Unknown {
			t.Fatalf("capture lost and unreadable = %+v, %v; want unknown", res, err)
		}
		f.clock.Advance(time.Hour)
		if n, err := f.svc.CheckOnce(ctx); err != nil || n != 1 {
			t.Fatalf("CheckOnce = %d, %v; want 1", n, err)
		}
		res, err = f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge3, Amount: usd("12.00"), IdempotencyKey: "k3"})
		if err != nil || res.Outcome != payment.Completed {
			t.Errorf("after the check = %+v, %v; want captured", res, err)
		}
		// The client's two attempts of one call each (the refused
		// throttled ones and the retry for the second); for the lost
		// ones, the charge read back Captured with the same amount does
		// not say whose capture it is, so the capture is asked once more
		// with its own key, which Amazon answers with its saved answer
		// (a charge takes one capture: nothing is captured twice).
		for s, want := range map[string]int{sess: 3, sess2: 3, sess3: 3} {
			if n := f.calls(t, s, "CaptureCharge"); n != want {
				t.Errorf("session %s: %d captures at Amazon, want %d", s, n, want)
			}
		}
	})
}

func TestAsynchronousCaptureIsTracked(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		_, charge := f.authorized(t, "40.00")
		// Captures more than 7 days after the authorization are
		// asynchronous.
		f.clock.Advance(8 * 24 * time.Hour)
		req := chargeops.CaptureRequest{ChargeID: charge, Amount: usd("40.00"), IdempotencyKey: "late"}
		res, err := f.svc.Capture(ctx, req)
		if err != nil || res.Outcome != payment.Pending || res.Charge.StatusDetails.State != "CaptureInitiated" {
			t.Fatalf("late capture = %+v, %v; want pending CaptureInitiated", res, err)
		}
		f.clock.Advance(2 * time.Minute) // the simulator settles; the first poll is due
		if n, err := f.svc.CheckOnce(ctx); err != nil || n != 1 {
			t.Fatalf("CheckOnce = %d, %v", n, err)
		}
		res, err = f.svc.Capture(ctx, req)
		if err != nil || res.Outcome != payment.Completed || res.Charge.StatusDetails.State != "Captured" {
			t.Errorf("after the poll = %+v, %v; want Captured", res, err)
		}
	})
}
