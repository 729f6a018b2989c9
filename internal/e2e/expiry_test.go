package e2e_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
)

// TestExpiredAuthorizationEndToEnd: an Authorize checkout whose charge is
// never captured shows Canceled with ExpiredUnused in GetPayment once the
// authorization's 30 days have passed (the simulator's manual clock, and
// the service's worker clock moved with it), read from Amazon with one Get
// Charge.
func TestExpiredAuthorizationEndToEnd(t *testing.T) {
	t.Parallel()
	a, svc, pastExpiry := startExpiryService(t)

	p := completeOrder(t, a, svc, "order-expires", sessionSpec{Amount: "18.00", Scenario: "Authorized"})
	if p.GetChargeState() != pb.ChargeState_CHARGE_STATE_AUTHORIZED {
		t.Fatalf("after completion: charge %v, want AUTHORIZED", p.GetChargeState())
	}
	reads := a.calls(t, p.GetCheckoutSessionId())["GetCharge"]
	pastExpiry()

	got := waitPayment(t, svc.Client, "order-expires", 20*time.Second, func(p *pb.Payment) bool {
		return p.GetChargeState() == pb.ChargeState_CHARGE_STATE_CANCELED
	})
	if len(got.GetCharges()) != 1 || got.GetCharges()[0].GetReasonCode() != "ExpiredUnused" || got.GetOutstandingAmount() != nil {
		t.Errorf("payment after the expiry = %v; want one charge Canceled with ExpiredUnused, nothing outstanding", got)
	}
	if n := a.calls(t, p.GetCheckoutSessionId())["GetCharge"] - reads; n != 1 {
		t.Errorf("%d Get Charge calls after the expiry, want 1", n)
	}
}

// TestCapturedChargeNotReadAtExpiryEndToEnd: a charge captured through the
// service is not read again once its authorization's 30 days have passed
// (its capture recorded it Captured), and the payment still matches
// Amazon.
func TestCapturedChargeNotReadAtExpiryEndToEnd(t *testing.T) {
	t.Parallel()
	a, svc, pastExpiry := startExpiryService(t)

	p := completeOrder(t, a, svc, "order-captured", sessionSpec{Amount: "18.00", Scenario: "Authorized"})
	if _, err := svc.Client.CaptureCharge(t.Context(), &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("18.00"), IdempotencyKey: "ship"}); err != nil {
		t.Fatal(err)
	}
	reads := a.calls(t, p.GetCheckoutSessionId())["GetCharge"]
	pastExpiry()
	// The worker looks every 50ms: ten looks to make a read it should not.
	time.Sleep(500 * time.Millisecond)
	if n := a.calls(t, p.GetCheckoutSessionId())["GetCharge"] - reads; n != 0 {
		t.Errorf("%d Get Charge calls after the expiry of a captured charge, want none", n)
	}
	sameCharges(t, a, svc.Client, p.GetCheckoutSessionId())
}

// startExpiryService starts the simulator on its manual clock and the
// service with a fast worker on a clock of its own; pastExpiry moves both
// past an authorization's 30 days.
func startExpiryService(t *testing.T) (a *amazonSim, svc *service, pastExpiry func()) {
	t.Helper()
	s := simtest.Start(t, simtest.Options{Simulator: simulator.Options{PendingDelay: time.Minute, ManualClock: true}})
	a = &amazonSim{t: t, sim: s.Simulator, URL: s.URL, KeyID: simtest.KeyID, Key: simtest.Key()}
	a.client = a.newClient(t, defaultSetupRetry, 5*time.Second)
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	svc = startService(t, a, serviceOptions{Operations: chargeops.Config{Now: now, Idle: 50 * time.Millisecond}})
	pastExpiry = func() {
		d := 30*24*time.Hour + 10*time.Minute
		a.control(t, http.MethodPost, "/simulator/clock", map[string]any{"advance": d.String()}, nil)
		offset.Add(int64(d))
	}
	return a, svc, pastExpiry
}
