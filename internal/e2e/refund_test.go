package e2e_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// waitRefund polls GetPayment until the payment's refund has the state.
func waitRefund(t *testing.T, svc *service, order, refundID string, want pb.RefundState) *pb.Payment {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := svc.Client.GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: order}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got.GetPayment().GetRefunds() {
			if r.GetRefundId() == refundID && r.GetState() == want {
				return got.GetPayment()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund %s never reached %v: %v", refundID, want, got.GetPayment().GetRefunds())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRefundsEndToEnd(t *testing.T) {
	t.Parallel()
	// Refunds settle 1s after they are created; the service polls them
	// from 200ms on.
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := t.Context()

	t.Run("full_and_partial_and_declined", func(t *testing.T) {
		t.Parallel()
		p := completeOrder(t, a, svc, "order-refund", sessionSpec{Amount: "40.00", Intent: "AuthorizeWithCapture", Scenario: "Authorized"})
		first, err := svc.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("10.00"), IdempotencyKey: "cm-1"})
		if err != nil || first.GetOutcome() != pb.Outcome_OUTCOME_PENDING || first.GetRefund().GetState() != pb.RefundState_REFUND_STATE_REFUND_INITIATED {
			t.Fatalf("RefundCharge = %v, %v", first, err)
		}
		gp := waitRefund(t, svc, "order-refund", first.GetRefund().GetRefundId(), pb.RefundState_REFUND_STATE_REFUNDED)
		if gp.GetRefundedAmount().GetAmount() != "10.00" {
			t.Errorf("refunded %v, want 10.00", gp.GetRefundedAmount())
		}
		got, err := svc.Client.GetRefund(ctx, &pb.GetRefundRequest{RefundId: first.GetRefund().GetRefundId()})
		if err != nil || got.GetRefund().GetState() != pb.RefundState_REFUND_STATE_REFUNDED {
			t.Errorf("GetRefund = %v, %v", got, err)
		}
		// A second refund, declined by Amazon Pay.
		second, err := svc.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("5.00"), IdempotencyKey: "cm-2"})
		if err != nil {
			t.Fatal(err)
		}
		a.control(t, http.MethodPost, "/simulator/refunds/"+second.GetRefund().GetRefundId()+"/outcome", map[string]any{"state": "Declined", "reasonCode": "ProcessingFailure"}, nil)
		gp = waitRefund(t, svc, "order-refund", second.GetRefund().GetRefundId(), pb.RefundState_REFUND_STATE_DECLINED)
		if gp.GetRefundedAmount().GetAmount() != "10.00" || len(gp.GetRefunds()) != 2 {
			t.Errorf("after the decline: refunded %v, refunds %v; want 10.00 and two", gp.GetRefundedAmount(), gp.GetRefunds())
		}
		// The rest in full: 30.00.
		rest, err := svc.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("30.00"), IdempotencyKey: "cm-3"})
		if err != nil {
			t.Fatal(err)
		}
		gp = waitRefund(t, svc, "order-refund", rest.GetRefund().GetRefundId(), pb.RefundState_REFUND_STATE_REFUNDED)
		if gp.GetRefundedAmount().GetAmount() != "40.00" {
			t.Errorf("refunded %v, want 40.00", gp.GetRefundedAmount())
		}
		// Beyond the allowance (40.00 + 15% = 46.00 in all): refused, nothing sent.
		before := a.calls(t, p.GetCheckoutSessionId())["CreateRefund"]
		_, err = svc.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("6.01"), IdempotencyKey: "cm-4"})
		if code, reason, md, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "REFUND_AMOUNT_EXCEEDED" || md["refundable_amount"] != "46.00" {
			t.Errorf("refund beyond the allowance: %v %s %v", code, reason, md)
		}
		if after := a.calls(t, p.GetCheckoutSessionId())["CreateRefund"]; after != before || before != 3 {
			t.Errorf("CreateRefund calls %d then %d, want 3 and no more", before, after)
		}
	})

	t.Run("refused_and_duplicates", func(t *testing.T) {
		t.Parallel()
		p := completeOrder(t, a, svc, "order-refund-rules", sessionSpec{Amount: "10.00", Scenario: "Authorized"})
		_, err := svc.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("1.00"), IdempotencyKey: "x"})
		if code, reason, _, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "CHARGE_NOT_REFUNDABLE" {
			t.Errorf("refund of an authorized charge: %v %s", code, reason)
		}
		if _, err := svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("10.00"), IdempotencyKey: "ship"}); err != nil {
			t.Fatal(err)
		}
		a.fault(t, "CreateRefund", "latency", 1, 300*time.Millisecond)
		var wg sync.WaitGroup
		ids := make(chan string, 20)
		for range 20 {
			wg.Go(func() {
				resp, err := svc.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("4.00"), IdempotencyKey: "cm-dup"})
				if err != nil {
					t.Errorf("duplicate: %v", err)
					return
				}
				ids <- resp.GetRefund().GetRefundId()
			})
		}
		wg.Wait()
		close(ids)
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		if n := a.calls(t, p.GetCheckoutSessionId())["CreateRefund"]; n != 1 || len(seen) != 1 {
			t.Errorf("20 concurrent duplicates: %d refunds at Amazon, %d refund IDs; want 1 and 1", n, len(seen))
		}
		_, err = svc.Client.GetRefund(ctx, &pb.GetRefundRequest{RefundId: "S01-0000000-0000000-R000000"})
		if code, reason, _, _ := errorInfo(t, err); code != codes.NotFound || reason != "REFUND_NOT_FOUND" {
			t.Errorf("GetRefund(unknown): %v %s", code, reason)
		}
	})
}
