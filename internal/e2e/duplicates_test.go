package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// TestConcurrentDuplicatesEndToEnd sends 20 concurrent duplicates of every
// money operation through the server and the client library while Amazon
// is slow to answer the first check's read (longer than the operation) and
// the operation, and counts the calls the simulator received: every
// duplicate gets the first one's answer (the database decides before the
// check, so none sees its twin's effect) and Amazon gets one change.
func TestConcurrentDuplicatesEndToEnd(t *testing.T) {
	eachDatabase(t, concurrentDuplicates)
}

func concurrentDuplicates(t *testing.T, opts serviceOptions) {
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, opts)
	for _, tc := range []struct {
		name   string
		amazon string // the simulator's operation name
		read   string // the simulator's name of the check's read
		intent string
		call   func(ctx context.Context, p *pb.Payment) (pb.Outcome, error)
		want   pb.Outcome
	}{
		{
			name: "capture_charge", amazon: "CaptureCharge", read: "GetCharge", intent: "Authorize", want: pb.Outcome_OUTCOME_COMPLETED,
			call: func(ctx context.Context, p *pb.Payment) (pb.Outcome, error) {
				resp, err := svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("15.00"), IdempotencyKey: "ship-all"})
				return resp.GetOutcome(), err
			},
		},
		{
			name: "refund_charge", amazon: "CreateRefund", read: "GetCharge", intent: "AuthorizeWithCapture", want: pb.Outcome_OUTCOME_PENDING,
			call: func(ctx context.Context, p *pb.Payment) (pb.Outcome, error) {
				resp, err := svc.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("15.00"), IdempotencyKey: "credit-memo-1"})
				return resp.GetOutcome(), err
			},
		},
		{
			name: "create_charge", amazon: "CreateCharge", read: "GetChargePermission", intent: "Confirm", want: pb.Outcome_OUTCOME_COMPLETED,
			call: func(ctx context.Context, p *pb.Payment) (pb.Outcome, error) {
				resp, err := svc.Client.CreateCharge(ctx, &pb.CreateChargeRequest{ChargePermissionId: p.GetChargePermissionId(), ChargeAmount: usd("15.00"), IdempotencyKey: "ship-all"})
				return resp.GetOutcome(), err
			},
		},
		{
			name: "cancel_charge", amazon: "CancelCharge", read: "GetCharge", intent: "Authorize", want: pb.Outcome_OUTCOME_CANCELED,
			call: func(ctx context.Context, p *pb.Payment) (pb.Outcome, error) {
				resp, err := svc.Client.CancelCharge(ctx, &pb.CancelChargeRequest{ChargeId: p.GetChargeId(), CancellationReason: "out of stock"})
				return resp.GetOutcome(), err
			},
		},
		{
			name: "close_charge_permission", amazon: "CloseChargePermission", read: "GetChargePermission", intent: "Authorize", want: pb.Outcome_OUTCOME_COMPLETED,
			call: func(ctx context.Context, p *pb.Payment) (pb.Outcome, error) {
				resp, err := svc.Client.CloseChargePermission(ctx, &pb.CloseChargePermissionRequest{ChargePermissionId: p.GetChargePermissionId(), ClosureReason: "order canceled", CancelPendingCharges: true})
				return resp.GetOutcome(), err
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := completeOrder(t, a, svc, "order-dups-"+tc.name, sessionSpec{Amount: "15.00", Intent: tc.intent, Scenario: "Authorized"})
			// Each subtest slows its own operation only, and the check's
			// read more: a check made before the database decided would
			// see a twin's effect.
			a.fault(t, tc.read, "latency", 1, 700*time.Millisecond)
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
