package e2e_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// TestCompetingCapturesEndToEnd is the storefront with two shipment
// workers: two CaptureCharge calls on one 100.00 charge at once, with
// different keys and amounts (70.00 and 30.00), both checks slowed so that
// both captures reach Amazon, round after round, on SQLite and
// PostgreSQL. Amazon takes one capture per charge: exactly one call
// answers COMPLETED (with the amount Amazon captured), the other
// FAILED_PRECONDITION CHARGE_NOT_CAPTURABLE, and the payment's captured
// amount equals Amazon's.
func TestCompetingCapturesEndToEnd(t *testing.T) {
	eachDatabase(t, func(t *testing.T, opts serviceOptions) {
		a := newAmazonSim(t, time.Second)
		svc := startService(t, a, opts)
		ctx := t.Context()
		amounts := []string{"70.00", "30.00"}
		for round := range 8 {
			order := fmt.Sprintf("order-compete-%d", round)
			p := completeOrder(t, a, svc, order, sessionSpec{Amount: "100.00", Intent: "Authorize", Scenario: "Authorized"})
			a.fault(t, "GetCharge", "latency", 2, 150*time.Millisecond)
			resps := make([]*pb.CaptureChargeResponse, len(amounts))
			errs := make([]error, len(amounts))
			var wg sync.WaitGroup
			for i, amount := range amounts {
				wg.Go(func() {
					resps[i], errs[i] = svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(),
						CaptureAmount: usd(amount), IdempotencyKey: fmt.Sprintf("ship-%c", 'A'+i)})
				})
			}
			wg.Wait()
			a.clearFaults(t)
			ch, _, err := a.client.GetCharge(ctx, p.GetChargeId())
			if err != nil || ch.CaptureAmount == nil {
				t.Fatalf("round %d: Amazon's charge %+v, %v; want captured", round, ch, err)
			}
			completed := 0
			for i := range amounts {
				switch {
				case errs[i] == nil && resps[i].GetOutcome() == pb.Outcome_OUTCOME_COMPLETED:
					completed++
					if amounts[i] != ch.CaptureAmount.Amount || resps[i].GetCharge().GetCaptureAmount().GetAmount() != amounts[i] {
						t.Errorf("round %d: capture of %s answered COMPLETED (%v); Amazon captured %s", round, amounts[i], resps[i].GetCharge().GetCaptureAmount(), ch.CaptureAmount.Amount)
					}
				case errs[i] != nil:
					if code, reason, _, _ := errorInfo(t, errs[i]); code != codes.FailedPrecondition || reason != "CHARGE_NOT_CAPTURABLE" {
						t.Errorf("round %d: capture of %s: %v; want FAILED_PRECONDITION CHARGE_NOT_CAPTURABLE", round, amounts[i], errs[i])
					}
				default:
					t.Errorf("round %d: capture of %s answered %v", round, amounts[i], resps[i].GetOutcome())
				}
			}
			if completed != 1 {
				t.Errorf("round %d: %d captures answered COMPLETED, want exactly 1", round, completed)
			}
			got, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: order}})
			if err != nil {
				t.Fatal(err)
			}
			if c := got.GetPayment().GetCapturedAmount().GetAmount(); c != ch.CaptureAmount.Amount {
				t.Errorf("round %d: the payment shows %q captured, Amazon captured %s", round, c, ch.CaptureAmount.Amount)
			}
		}
	})
}
