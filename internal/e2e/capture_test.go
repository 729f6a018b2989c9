package e2e_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// completeOrder completes a checkout through the service and returns the
// payment.
func completeOrder(t *testing.T, a *amazonSim, svc *service, order string, spec sessionSpec) *pb.Payment {
	t.Helper()
	id := a.newSession(t, t.Context(), spec)
	req := &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: order, ChargeAmount: usd(spec.Amount)}
	if spec.Total != nil {
		req.TotalOrderAmount = &pb.Money{Amount: spec.Total.Amount, CurrencyCode: spec.Total.CurrencyCode}
	}
	resp, err := svc.Client.CompleteCheckout(t.Context(), req)
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("complete %s: %v, %v", order, resp, err)
	}
	return resp.GetPayment()
}

func TestCaptureAndCancelEndToEnd(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := t.Context()

	t.Run("authorize_then_partial_capture", func(t *testing.T) {
		t.Parallel()
		p := completeOrder(t, a, svc, "order-capture", sessionSpec{Amount: "20.00", Scenario: "Authorized"})
		if got := p.GetOutstandingAmount(); got.GetAmount() != "20.00" {
			t.Errorf("outstanding after completion = %v, want 20.00", got)
		}
		req := &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("15.00"), IdempotencyKey: "shipment-1"}
		resp, err := svc.Client.CaptureCharge(ctx, req)
		if err != nil || resp.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED || resp.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_CAPTURED ||
			resp.GetCharge().GetCaptureAmount().GetAmount() != "15.00" {
			t.Fatalf("CaptureCharge = %v, %v", resp, err)
		}
		got, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "order-capture"}})
		if err != nil {
			t.Fatal(err)
		}
		gp := got.GetPayment()
		if gp.GetCapturedAmount().GetAmount() != "15.00" || gp.GetOutstandingAmount() != nil || len(gp.GetCharges()) != 1 ||
			gp.GetCharges()[0].GetState() != pb.ChargeState_CHARGE_STATE_CAPTURED {
			t.Errorf("payment after capture: captured %v outstanding %v charges %v; want 15.00, none, one Captured", gp.GetCapturedAmount(), gp.GetOutstandingAmount(), gp.GetCharges())
		}
		// The repeat answers from the store; the same key with another
		// amount is refused.
		if again, err := svc.Client.CaptureCharge(ctx, req); err != nil || again.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
			t.Errorf("repeat = %v, %v", again, err)
		}
		_, err = svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("14.00"), IdempotencyKey: "shipment-1"})
		if code, reason, _, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "IDEMPOTENCY_KEY_REUSED" {
			t.Errorf("same key, other amount: %v %s", code, reason)
		}
		if n := a.calls(t, p.GetCheckoutSessionId())["CaptureCharge"]; n != 1 {
			t.Errorf("%d captures reached Amazon, want 1", n)
		}
	})

	t.Run("authorize_with_capture_shows_captured", func(t *testing.T) {
		t.Parallel()
		p := completeOrder(t, a, svc, "order-awc", sessionSpec{Amount: "14.00", Intent: "AuthorizeWithCapture", Scenario: "Authorized"})
		if p.GetCapturedAmount().GetAmount() != "14.00" || p.GetOutstandingAmount() != nil {
			t.Errorf("captured %v outstanding %v, want 14.00 and none", p.GetCapturedAmount(), p.GetOutstandingAmount())
		}
		_, err := svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("1.00"), IdempotencyKey: "k"})
		if code, reason, md, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "CHARGE_NOT_CAPTURABLE" || md["charge_state"] != "Captured" {
			t.Errorf("capture of a captured charge: %v %s %v", code, reason, md)
		}
	})

	t.Run("rules_refused_before_sending", func(t *testing.T) {
		t.Parallel()
		p := completeOrder(t, a, svc, "order-rules", sessionSpec{Amount: "10.00", Scenario: "Authorized"})
		for _, tc := range []struct {
			req    *pb.CaptureChargeRequest
			code   codes.Code
			reason string
		}{
			{&pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("10.01"), IdempotencyKey: "a"}, codes.FailedPrecondition, "CAPTURE_AMOUNT_EXCEEDED"},
			{&pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: &pb.Money{Amount: "10.00", CurrencyCode: "EUR"}, IdempotencyKey: "b"}, codes.FailedPrecondition, "CURRENCY_MISMATCH"},
			{&pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("1.00")}, codes.InvalidArgument, "INVALID_REQUEST"},
			{&pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("1.00"), IdempotencyKey: "has space"}, codes.InvalidArgument, "INVALID_REQUEST"},
		} {
			_, err := svc.Client.CaptureCharge(ctx, tc.req)
			if code, reason, _, _ := errorInfo(t, err); code != tc.code || reason != tc.reason {
				t.Errorf("CaptureCharge(%v) = %v %s, want %v %s", tc.req, code, reason, tc.code, tc.reason)
			}
		}
		if n := a.calls(t, p.GetCheckoutSessionId())["CaptureCharge"]; n != 0 {
			t.Errorf("%d captures reached Amazon for refused requests, want 0", n)
		}
		// Cancel, its repeat, and a capture of the canceled charge.
		resp, err := svc.Client.CancelCharge(ctx, &pb.CancelChargeRequest{ChargeId: p.GetChargeId(), CancellationReason: "out of stock"})
		if err != nil || resp.GetOutcome() != pb.Outcome_OUTCOME_CANCELED || resp.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_CANCELED {
			t.Fatalf("CancelCharge = %v, %v", resp, err)
		}
		if again, err := svc.Client.CancelCharge(ctx, &pb.CancelChargeRequest{ChargeId: p.GetChargeId()}); err != nil || again.GetOutcome() != pb.Outcome_OUTCOME_CANCELED {
			t.Errorf("repeated cancel = %v, %v", again, err)
		}
		_, err = svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("1.00"), IdempotencyKey: "late"})
		if code, reason, md, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "CHARGE_NOT_CAPTURABLE" || md["charge_state"] != "Canceled" {
			t.Errorf("capture of a canceled charge: %v %s %v", code, reason, md)
		}
		calls := a.calls(t, p.GetCheckoutSessionId())
		if calls["CancelCharge"] != 1 || calls["CaptureCharge"] != 0 {
			t.Errorf("calls %v, want one CancelCharge and no CaptureCharge", calls)
		}
		got, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "order-rules"}})
		if err != nil || got.GetPayment().GetOutstandingAmount() != nil || got.GetPayment().GetCharges()[0].GetState() != pb.ChargeState_CHARGE_STATE_CANCELED {
			t.Errorf("payment after cancel = %v, %v; want nothing outstanding, the charge Canceled", got, err)
		}
	})

	t.Run("concurrent_duplicates_capture_once", func(t *testing.T) {
		t.Parallel()
		p := completeOrder(t, a, svc, "order-dups", sessionSpec{Amount: "30.00", Scenario: "Authorized"})
		a.fault(t, "CaptureCharge", "latency", 1, 300*time.Millisecond)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				resp, err := svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("30.00"), IdempotencyKey: "ship-all"})
				if err != nil || resp.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
					t.Errorf("duplicate: %v, %v", resp, err)
				}
			})
		}
		wg.Wait()
		if n := a.calls(t, p.GetCheckoutSessionId())["CaptureCharge"]; n != 1 {
			t.Errorf("20 concurrent duplicates made %d captures at Amazon, want 1", n)
		}
	})
}
