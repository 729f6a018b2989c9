package chargeops_test

import (
	"context"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// sameAsAmazon fails unless every charge of the view is in the state the
// simulator has for it.
func (f *fixture) sameAsAmazon(t *testing.T, v chargeops.View) {
	t.Helper()
	for _, ch := range v.Charges {
		live, _, err := f.client.GetCharge(t.Context(), ch.ChargeID)
		if err != nil {
			t.Fatal(err)
		}
		if ch.StatusDetails.State != live.StatusDetails.State || ch.StatusDetails.ReasonCode != live.StatusDetails.ReasonCode {
			t.Errorf("charge %s stored %s/%s, Amazon has %s/%s", ch.ChargeID, ch.StatusDetails.State, ch.StatusDetails.ReasonCode,
				live.StatusDetails.State, live.StatusDetails.ReasonCode)
		}
	}
}

// TestAmazonSideEffectsFollowed: what Amazon changes by itself reaches the
// stored payment: the charges a closure cancels (polled after the
// service's own closure, nudged by the CHARGE notification after one made
// elsewhere), and a charge captured through the service is not read again
// at its authorization's expiry.
func TestAmazonSideEffectsFollowed(t *testing.T) {
	t.Parallel()
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()

			t.Run("close cancels pending charges", func(t *testing.T) {
				f := newFixture(t, open)
				done := f.completed(t, "30.00", "Confirm")
				cp := done.ChargePermissionID
				for i, amount := range []string{"10.00", "20.00"} {
					if res, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd(amount),
						IdempotencyKey: "shipment-" + string(rune('1'+i))}); err != nil || res.Outcome != payment.Completed {
						t.Fatalf("CreateCharge = %+v, %v", res, err)
					}
				}
				if _, err := f.svc.Close(ctx, chargeops.CloseRequest{ChargePermissionID: cp, Reason: "order canceled", CancelPendingCharges: true}); err != nil {
					t.Fatal(err)
				}
				if _, err := f.svc.CheckOnce(ctx); err != nil {
					t.Fatal(err)
				}
				v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: cp, ChargeAmount: usd("30.00")})
				if err != nil || len(v.Charges) != 2 || v.Outstanding != nil {
					t.Fatalf("view = %+v, %v; want 2 charges, nothing outstanding", v, err)
				}
				for _, ch := range v.Charges {
					if ch.StatusDetails.State != payment.ChargeCanceled || ch.StatusDetails.ReasonCode != "ChargePermissionCanceled" {
						t.Errorf("charge %s stored %s/%s; want Canceled/ChargePermissionCanceled", ch.ChargeID, ch.StatusDetails.State, ch.StatusDetails.ReasonCode)
					}
				}
				f.sameAsAmazon(t, v)
			})

			t.Run("notification of a charge canceled elsewhere", func(t *testing.T) {
				f := newFixture(t, open)
				nudger := f.st.(interface {
					Nudge(ctx context.Context, ref store.ObjectRef, now time.Time) (int, error)
				})
				done := f.completed(t, "30.00", "Confirm")
				cp := done.ChargePermissionID
				res, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("30.00"), IdempotencyKey: "all"})
				if err != nil || res.Outcome != payment.Completed {
					t.Fatalf("CreateCharge = %+v, %v", res, err)
				}
				// Closed in Seller Central, say: only Amazon's CHARGE
				// notification tells the service.
				if _, _, err := f.client.CloseChargePermission(ctx, cp, amazonpay.CloseChargePermissionRequest{
					ClosureReason: "elsewhere", CancelPendingCharges: true}); err != nil {
					t.Fatal(err)
				}
				if n, err := nudger.Nudge(ctx, store.ObjectRef{Type: store.ObjectCharge, ID: res.Charge.ChargeID, ChargePermissionID: cp}, f.clock.Now()); err != nil || n != 1 {
					t.Fatalf("Nudge = %d, %v; want the charge's watch", n, err)
				}
				if _, err := f.svc.CheckOnce(ctx); err != nil {
					t.Fatal(err)
				}
				v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: cp, ChargeAmount: usd("30.00")})
				if err != nil || len(v.Charges) != 1 || v.Charges[0].StatusDetails.State != payment.ChargeCanceled || v.Outstanding != nil {
					t.Fatalf("view = %+v, %v; want the charge canceled, nothing outstanding", v, err)
				}
				f.sameAsAmazon(t, v)
			})

			t.Run("no read at the expiry of a charge captured", func(t *testing.T) {
				f := newFixture(t, open)
				done := f.completed(t, "30.00", "Confirm")
				res, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: done.ChargePermissionID, Amount: usd("30.00"), IdempotencyKey: "all"})
				if err != nil || res.Outcome != payment.Completed {
					t.Fatalf("CreateCharge = %+v, %v", res, err)
				}
				if _, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: res.Charge.ChargeID, Amount: usd("30.00"), IdempotencyKey: "ship"}); err != nil {
					t.Fatal(err)
				}
				before := f.calls(t, done.CheckoutSessionID, "GetCharge")
				f.settle(t, 31*24*time.Hour, 2)
				if n := f.calls(t, done.CheckoutSessionID, "GetCharge"); n != before {
					t.Errorf("%d Get Charge calls after the capture, want none", n-before)
				}
			})
		})
	}
}
