package e2e_test

import (
	"fmt"
	"testing"
	"time"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// BenchmarkOperations measures one CaptureCharge and one RefundCharge
// through the whole service (gRPC, the real store and client, the
// simulator over loopback) next to one CompleteCheckout, sequentially, so
// that each figure is the latency of one call. The sessions and charges
// each call needs are prepared before the timer starts. Figures in
// docs/benchmarks/operations.md.
func BenchmarkOperations(b *testing.B) {
	a := newAmazonSim(b, time.Second)
	svc := startService(b, a, serviceOptions{})
	ctx := b.Context()
	complete := func(b *testing.B, order, intent string) *pb.Payment {
		id := a.newSession(b, ctx, sessionSpec{Amount: "10.00", Intent: intent, Scenario: "Authorized"})
		resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: order, ChargeAmount: usd("10.00")})
		if err != nil {
			b.Fatal(err)
		}
		return resp.GetPayment()
	}
	b.Run("complete", func(b *testing.B) {
		ids := make([]string, b.N)
		for i := range ids {
			ids[i] = a.newSession(b, ctx, sessionSpec{Amount: "10.00", Scenario: "Authorized"})
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: ids[i], OrderId: fmt.Sprintf("bench-complete-%d", i), ChargeAmount: usd("10.00")}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("capture", func(b *testing.B) {
		charges := make([]string, b.N)
		for i := range charges {
			charges[i] = complete(b, fmt.Sprintf("bench-capture-%d-%d", b.N, i), "Authorize").GetChargeId()
		}
		b.ResetTimer()
		for i := range b.N {
			resp, err := svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: charges[i], CaptureAmount: usd("10.00"), IdempotencyKey: "ship"})
			if err != nil || resp.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
				b.Fatal(resp, err)
			}
		}
	})
	b.Run("refund", func(b *testing.B) {
		charges := make([]string, b.N)
		for i := range charges {
			charges[i] = complete(b, fmt.Sprintf("bench-refund-%d-%d", b.N, i), "AuthorizeWithCapture").GetChargeId()
		}
		b.ResetTimer()
		for i := range b.N {
			resp, err := svc.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: charges[i], RefundAmount: usd("4.00"), IdempotencyKey: "cm"})
			if err != nil || resp.GetOutcome() != pb.Outcome_OUTCOME_PENDING {
				b.Fatal(resp, err)
			}
		}
	})
}
