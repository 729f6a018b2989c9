package e2e_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// defaultSetupRetry is the storefront's retry policy of newAmazonSim.
var defaultSetupRetry = amazonpay.RetryPolicy{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxElapsed: 5 * time.Second}

// completeOn completes a checkout through a server process and returns
// the payment.
func completeOn(t *testing.T, a *amazonSim, srv *proc, order string, spec sessionSpec) *pb.Payment {
	t.Helper()
	id := a.newSession(t, t.Context(), spec)
	resp, err := srv.Client.CompleteCheckout(t.Context(), &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: order, ChargeAmount: usd(spec.Amount)})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("complete %s: %v, %v", order, resp, err)
	}
	return resp.GetPayment()
}

// waitPayment polls GetPayment of an order until ok holds.
func waitPayment(t *testing.T, c pb.PaymentCompletionServiceClient, order string, within time.Duration, ok func(*pb.Payment) bool) *pb.Payment {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := c.GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: order}})
		if err == nil && ok(got.GetPayment()) {
			return got.GetPayment()
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s not as expected after %v: %v, %v", order, within, got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func chargeCaptured(amount string) func(*pb.Payment) bool {
	return func(p *pb.Payment) bool {
		return p.GetCapturedAmount().GetAmount() == amount && len(p.GetCharges()) == 1 &&
			p.GetCharges()[0].GetState() == pb.ChargeState_CHARGE_STATE_CAPTURED
	}
}

func refunded(amount string, n int) func(*pb.Payment) bool {
	return func(p *pb.Payment) bool {
		if p.GetRefundedAmount().GetAmount() != amount || len(p.GetRefunds()) != n {
			return false
		}
		for _, r := range p.GetRefunds() {
			if r.GetState() != pb.RefundState_REFUND_STATE_REFUNDED && r.GetState() != pb.RefundState_REFUND_STATE_DECLINED {
				return false
			}
		}
		return true
	}
}

// TestCrashBetweenCaptureOrRefundAndWrite kills the server (SIGKILL) after
// Amazon Pay applied a capture and a refund but before the service heard
// back, then starts it again: both operations, recorded before the calls,
// are taken over when their leases expire and settled from Amazon, which
// holds one capture and one refund.
func TestCrashBetweenCaptureOrRefundAndWrite(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	env := a.serverEnv(t, sqliteURL(t))
	srv := startProc(t, env)
	ctx := t.Context()
	auth := completeOn(t, a, srv, "o-crash-capture", sessionSpec{Amount: "25.00", Scenario: "Authorized"})
	awc := completeOn(t, a, srv, "o-crash-refund", sessionSpec{Amount: "18.00", Intent: "AuthorizeWithCapture", Scenario: "Authorized"})
	a.fault(t, "CaptureCharge", "slowResponse", 1, 30*time.Second)
	a.fault(t, "CreateRefund", "slowResponse", 1, 30*time.Second)

	errc := make(chan error, 2)
	go func() {
		_, err := srv.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: auth.GetChargeId(), CaptureAmount: usd("25.00"), IdempotencyKey: "ship-1"})
		errc <- err
	}()
	go func() {
		_, err := srv.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: awc.GetChargeId(), RefundAmount: usd("7.50"), IdempotencyKey: "cm-1"})
		errc <- err
	}()
	a.waitCalls(t, auth.GetCheckoutSessionId(), "CaptureCharge", 1, 20*time.Second)
	a.waitCalls(t, awc.GetCheckoutSessionId(), "CreateRefund", 1, 20*time.Second)
	srv.kill()
	for range 2 {
		if err := <-errc; err == nil {
			t.Fatal("a call succeeded although the server was killed")
		}
	}
	a.clearFaults(t)

	srv2 := startProc(t, env)
	waitPayment(t, srv2.Client, "o-crash-capture", 30*time.Second, chargeCaptured("25.00"))
	gp := waitPayment(t, srv2.Client, "o-crash-refund", 30*time.Second, refunded("7.50", 1))
	if r := gp.GetRefunds()[0]; r.GetState() != pb.RefundState_REFUND_STATE_REFUNDED || r.GetRefundAmount().GetAmount() != "7.50" {
		t.Errorf("refund after the crash: %v", r)
	}
	// The charge read back Captured does not say whose capture it took
	// (one per charge): the worker asks again with the capture's own key,
	// which Amazon answers with its saved answer. Amazon holds one capture.
	if n := a.calls(t, auth.GetCheckoutSessionId())["CaptureCharge"]; n != 2 {
		t.Errorf("CaptureCharge reached Amazon %d times, want the applied call and one replay of its key", n)
	}
	if ch, _, err := a.client.GetCharge(ctx, auth.GetChargeId()); err != nil || ch.CaptureAmount == nil || ch.CaptureAmount.Amount != "25.00" {
		t.Errorf("Amazon's charge after the crash: %+v, %v; want 25.00 captured", ch, err)
	}
	// A refund has nothing to read back before Amazon names it: the worker
	// sends the same request with the same idempotency key, which Amazon
	// answers with the refund it created. Amazon holds one refund.
	if n := a.calls(t, awc.GetCheckoutSessionId())["CreateRefund"]; n < 1 || n > 2 {
		t.Errorf("CreateRefund reached Amazon %d times, want the applied call and at most one replay of its key", n)
	}
	ch, _, err := a.client.GetCharge(ctx, awc.GetChargeId())
	if err != nil || ch.RefundedAmount == nil || ch.RefundedAmount.Amount != "7.50" {
		t.Errorf("Amazon's charge after the crash: %+v, %v; want 7.50 refunded once", ch, err)
	}
	// Storefront retries now get the stored answers, without calling Amazon.
	before := a.calls(t, awc.GetCheckoutSessionId())["CreateRefund"]
	if resp, err := srv2.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: auth.GetChargeId(), CaptureAmount: usd("25.00"), IdempotencyKey: "ship-1"}); err != nil ||
		resp.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Errorf("capture retry after recovery: %v, %v", resp, err)
	}
	if resp, err := srv2.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: awc.GetChargeId(), RefundAmount: usd("7.50"), IdempotencyKey: "cm-1"}); err != nil ||
		resp.GetRefund().GetRefundId() != gp.GetRefunds()[0].GetRefundId() {
		t.Errorf("refund retry after recovery: %v, %v; want refund %s", resp, err, gp.GetRefunds()[0].GetRefundId())
	}
	if n := a.calls(t, auth.GetCheckoutSessionId())["CaptureCharge"]; n != 2 {
		t.Errorf("after the retry: %d capture calls at Amazon, want 2", n)
	}
	if n := a.calls(t, awc.GetCheckoutSessionId())["CreateRefund"]; n != before {
		t.Errorf("after the retry: %d refund calls at Amazon, want %d", n, before)
	}
	srv2.stop(t, 10*time.Second)
}

// TestRestartWithCaptureAndRefundTracking stops the server while a capture
// (CaptureInitiated: more than 7 days after the authorization) and a refund
// (RefundInitiated) are still being decided by Amazon; both settle at
// Amazon while no server runs (the simulator's manual clock) and the next
// process reads the final states.
func TestRestartWithCaptureAndRefundTracking(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t, simtest.Options{Simulator: simulator.Options{PendingDelay: time.Minute, ManualClock: true}})
	a := &amazonSim{t: t, sim: s.Simulator, URL: s.URL, KeyID: simtest.KeyID, Key: simtest.Key()}
	a.client = a.newClient(t, defaultSetupRetry, 5*time.Second)
	env := a.serverEnv(t, sqliteURL(t))
	srv := startProc(t, env)
	ctx := t.Context()
	auth := completeOn(t, a, srv, "o-track-capture", sessionSpec{Amount: "30.00", Scenario: "Authorized"})
	awc := completeOn(t, a, srv, "o-track-refund", sessionSpec{Amount: "20.00", Intent: "AuthorizeWithCapture", Scenario: "Authorized"})
	a.control(t, http.MethodPost, "/simulator/clock", map[string]any{"advance": "192h"}, nil)

	capt, err := srv.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: auth.GetChargeId(), CaptureAmount: usd("30.00"), IdempotencyKey: "late-ship"})
	if err != nil || capt.GetOutcome() != pb.Outcome_OUTCOME_PENDING || capt.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_CAPTURE_INITIATED {
		t.Fatalf("late capture = %v, %v; want PENDING CaptureInitiated", capt, err)
	}
	ref, err := srv.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: awc.GetChargeId(), RefundAmount: usd("5.00"), IdempotencyKey: "cm-late"})
	if err != nil || ref.GetOutcome() != pb.Outcome_OUTCOME_PENDING || ref.GetRefund().GetState() != pb.RefundState_REFUND_STATE_REFUND_INITIATED {
		t.Fatalf("refund = %v, %v; want PENDING RefundInitiated", ref, err)
	}
	// Let the worker poll both once (Amazon still deciding), then stop.
	a.waitCalls(t, auth.GetCheckoutSessionId(), "GetCharge", a.calls(t, auth.GetCheckoutSessionId())["GetCharge"]+1, 20*time.Second)
	a.waitCalls(t, awc.GetCheckoutSessionId(), "GetRefund", 1, 20*time.Second)
	srv.stop(t, 10*time.Second)
	a.control(t, http.MethodPost, "/simulator/clock", map[string]any{"advance": "2m"}, nil)

	srv2 := startProc(t, env)
	waitPayment(t, srv2.Client, "o-track-capture", 30*time.Second, chargeCaptured("30.00"))
	waitPayment(t, srv2.Client, "o-track-refund", 30*time.Second, refunded("5.00", 1))
	if n := a.calls(t, auth.GetCheckoutSessionId())["CaptureCharge"]; n != 1 {
		t.Errorf("CaptureCharge reached Amazon %d times, want 1", n)
	}
	if n := a.calls(t, awc.GetCheckoutSessionId())["CreateRefund"]; n != 1 {
		t.Errorf("CreateRefund reached Amazon %d times, want 1", n)
	}
	srv2.stop(t, 10*time.Second)
}
