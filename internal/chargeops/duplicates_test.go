package chargeops_test

import (
	"context"
	"errors"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// TestConcurrentDuplicatesReachAmazonOnce sends 20 concurrent duplicates of
// each operation while Amazon is slow to answer both the check before the
// operation (the read of its charge or charge permission) and the
// operation, and counts the calls the simulator received: the database
// decides between the duplicates before anything is read, so every
// duplicate gets the first one's answer (none sees its twin's effect in
// the check and answers that the charge cannot take it), and Amazon gets
// one read and one change.
func TestConcurrentDuplicatesReachAmazonOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		amazon string // the simulator's operation name
		read   string // the simulator's name of the check's read
		intent string
		call   func(ctx context.Context, svc *chargeops.Service, chargePermissionID, chargeID string) (payment.Outcome, error)
		want   payment.Outcome
	}{
		{
			name: "capture_charge", amazon: "CaptureCharge", read: "GetCharge", intent: "Authorize", want: payment.Completed,
			call: func(ctx context.Context, svc *chargeops.Service, _, charge string) (payment.Outcome, error) {
				res, err := svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge, Amount: usd("25.00"), IdempotencyKey: "shipment-1"})
				return res.Outcome, err
			},
		},
		{
			name: "refund_charge", amazon: "CreateRefund", read: "GetCharge", intent: "AuthorizeWithCapture", want: payment.Pending,
			call: func(ctx context.Context, svc *chargeops.Service, _, charge string) (payment.Outcome, error) {
				res, err := svc.Refund(ctx, chargeops.RefundRequest{ChargeID: charge, Amount: usd("25.00"), IdempotencyKey: "credit-memo-1"})
				return res.Outcome, err
			},
		},
		{
			name: "create_charge", amazon: "CreateCharge", read: "GetChargePermission", intent: "Confirm", want: payment.Completed,
			call: func(ctx context.Context, svc *chargeops.Service, cp, _ string) (payment.Outcome, error) {
				res, err := svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("25.00"), IdempotencyKey: "shipment-1"})
				return res.Outcome, err
			},
		},
		{
			name: "cancel_charge", amazon: "CancelCharge", read: "GetCharge", intent: "Authorize", want: payment.Canceled,
			call: func(ctx context.Context, svc *chargeops.Service, _, charge string) (payment.Outcome, error) {
				res, err := svc.Cancel(ctx, chargeops.CancelRequest{ChargeID: charge, Reason: "out of stock"})
				return res.Outcome, err
			},
		},
		{
			name: "close_charge_permission", amazon: "CloseChargePermission", read: "GetChargePermission", intent: "Authorize", want: payment.Completed,
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
				// Slow the first check more than the operation, so that
				// every duplicate arrives while the first is checking or in
				// flight, and a check made before the database decided
				// would see the effect of a twin.
				f.control(t, "/simulator/faults", map[string]any{"operation": tc.read, "kind": "latency", "latency": "700ms", "count": 1})
				f.control(t, "/simulator/faults", map[string]any{"operation": tc.amazon, "kind": "latency", "latency": "300ms"})
				for _, err := range atOnce(20, func() error {
					out, err := tc.call(t.Context(), f.svc, done.ChargePermissionID, done.ChargeID)
					if err == nil && out != tc.want {
						err = errors.New("outcome " + string(out))
					}
					return err
				}) {
					if err != nil {
						t.Errorf("duplicate: %v", err)
					}
				}
				for _, op := range []string{tc.read, tc.amazon} {
					if n := f.calls(t, done.CheckoutSessionID, op); n != 1 {
						t.Errorf("20 concurrent duplicates made %d %s calls at Amazon, want 1", n, op)
					}
				}
			})
		}
	}
}

// TestConcurrentDuplicatesOfARefusal sends 20 concurrent duplicates of a
// capture of a canceled charge: the first one's check refuses it and
// withdraws its record, each waiting duplicate then checks in turn, and
// all get the same refusal; nothing reaches Amazon's capture.
func TestConcurrentDuplicatesOfARefusal(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		done := f.completed(t, "25.00", "Authorize")
		if _, _, err := f.client.CancelCharge(t.Context(), done.ChargeID, amazonpay.CancelChargeRequest{CancellationReason: "x"}); err != nil {
			t.Fatal(err)
		}
		f.control(t, "/simulator/faults", map[string]any{"operation": "GetCharge", "kind": "latency", "latency": "200ms", "count": 1})
		for _, err := range atOnce(20, func() error {
			_, err := f.svc.Capture(t.Context(), chargeops.CaptureRequest{ChargeID: done.ChargeID, Amount: usd("25.00"), IdempotencyKey: "shipment-1"})
			return err
		}) {
			if reason(err) != chargeops.ReasonChargeNotCapturable {
				t.Errorf("duplicate: %v; want %s", err, chargeops.ReasonChargeNotCapturable)
			}
		}
		if n := f.calls(t, done.CheckoutSessionID, "CaptureCharge"); n != 0 {
			t.Errorf("%d captures at Amazon, want 0", n)
		}
	})
}
