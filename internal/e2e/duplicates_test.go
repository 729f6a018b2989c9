package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// TestConcurrentDuplicatesEndToEnd sends 20 concurrent duplicates of Create
// Charge, Cancel Charge and Close Charge Permission through the server and
// the client library while Amazon is slow to answer the first, and counts
// the calls the simulator received. Capture and refund have theirs in their
// own tests.
func TestConcurrentDuplicatesEndToEnd(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	for _, tc := range []struct {
		name   string
		amazon string // the simulator's operation name
		intent string
		call   func(ctx context.Context, p *pb.Payment) (pb.Outcome, error)
		want   pb.Outcome
	}{
		{
			name: "create_charge", amazon: "CreateCharge", intent: "Confirm", want: pb.Outcome_OUTCOME_COMPLETED,
			call: func(ctx context.Context, p *pb.Payment) (pb.Outcome, error) {
				resp, err := svc.Client.CreateCharge(ctx, &pb.CreateChargeRequest{ChargePermissionId: p.GetChargePermissionId(), ChargeAmount: usd("15.00"), IdempotencyKey: "ship-all"})
				return resp.GetOutcome(), err
			},
		},
		{
			name: "cancel_charge", amazon: "CancelCharge", intent: "Authorize", want: pb.Outcome_OUTCOME_CANCELED,
			call: func(ctx context.Context, p *pb.Payment) (pb.Outcome, error) {
				resp, err := svc.Client.CancelCharge(ctx, &pb.CancelChargeRequest{ChargeId: p.GetChargeId(), CancellationReason: "out of stock"})
				return resp.GetOutcome(), err
			},
		},
		{
			name: "close_charge_permission", amazon: "CloseChargePermission", intent: "Authorize", want: pb.Outcome_OUTCOME_COMPLETED,
			call: func(ctx context.Context, p *pb.Payment) (pb.Outcome, error) {
				resp, err := svc.Client.CloseChargePermission(ctx, &pb.CloseChargePermissionRequest{ChargePermissionId: p.GetChargePermissionId(), ClosureReason: "order canceled", CancelPendingCharges: true})
				return resp.GetOutcome(), err
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := completeOrder(t, a, svc, "order-dups-"+tc.name, sessionSpec{Amount: "15.00", Intent: tc.intent, Scenario: "Authorized"})
			// Each subtest slows its own operation only.
			a.fault(t, tc.amazon, "latency", 1, 300*time.Millisecond)
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					out, err := tc.call(t.Context(), p)
					if err != nil || out != tc.want {
						t.Errorf("duplicate: %v, %v; want %v", out, err, tc.want)
					}
				})
			}
			wg.Wait()
			if n := a.calls(t, p.GetCheckoutSessionId())[tc.amazon]; n != 1 {
				t.Errorf("20 concurrent duplicates made %d %s calls at Amazon, want 1", n, tc.amazon)
			}
		})
	}
}
