package chargeops_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// TestConcurrentDuplicatesReachAmazonOnce sends 20 concurrent duplicates of
// each operation other than capture and refund (tested with their own
// rules) while Amazon is slow, and counts the calls the simulator received.
func TestConcurrentDuplicatesReachAmazonOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		amazon string // the simulator's operation name
		intent string
		call   func(ctx context.Context, svc *chargeops.Service, chargePermissionID, chargeID string) (payment.Outcome, error)
		want   payment.Outcome
	}{
		{
			name: "create_charge", amazon: "CreateCharge", intent: "Confirm", want: payment.Completed,
			call: func(ctx context.Context, svc *chargeops.Service, cp, _ string) (payment.Outcome, error) {
				res, err := svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("25.00"), IdempotencyKey: "shipment-1"})
				return res.Outcome, err
			},
		},
		{
			name: "cancel_charge", amazon: "CancelCharge", intent: "Authorize", want: payment.Canceled,
			call: func(ctx context.Context, svc *chargeops.Service, _, charge string) (payment.Outcome, error) {
				res, err := svc.Cancel(ctx, chargeops.CancelRequest{ChargeID: charge, Reason: "out of stock"})
				return res.Outcome, err
			},
		},
		{
			name: "close_charge_permission", amazon: "CloseChargePermission", intent: "Authorize", want: payment.Completed,
			call: func(ctx context.Context, svc *chargeops.Service, cp, _ string) (payment.Outcome, error) {
				res, err := svc.Close(ctx, chargeops.CloseRequest{ChargePermissionID: cp, Reason: "order canceled", CancelPendingCharges: true})
				return res.Outcome, err
			},
		},
	} {
		for name, open := range stores() {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, open)
				done := f.completed(t, "25.00", tc.intent)
				// Slow the operation so that every duplicate arrives while
				// it is in flight.
				f.control(t, "/simulator/faults", map[string]any{"operation": tc.amazon, "kind": "latency", "latency": "300ms"})
				var wg sync.WaitGroup
				errs := make(chan error, 20)
				for range 20 {
					wg.Go(func() {
						out, err := tc.call(t.Context(), f.svc, done.ChargePermissionID, done.ChargeID)
						if err == nil && out != tc.want {
							err = errors.New("outcome " + string(out))
						}
						errs <- err
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Errorf("duplicate: %v", err)
					}
				}
				if n := f.calls(t, done.CheckoutSessionID, tc.amazon); n != 1 {
					t.Errorf("20 concurrent duplicates made %d %s calls at Amazon, want 1", n, tc.amazon)
				}
			})
		}
	}
}
