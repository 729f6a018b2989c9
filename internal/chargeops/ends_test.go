package chargeops_test

import (
	"context"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// settle runs the worker until nothing is due, the clock moved on by step
// before each pass, at most n passes.
func (f *fixture) settle(t *testing.T, step time.Duration, n int) {
	t.Helper()
	for range n {
		f.clock.Advance(step)
		if _, err := f.svc.CheckOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRefusedResendEndsFailed: an operation left unknown whose resend
// Amazon refuses ends failed with Amazon's reason (a repeat answers the
// refusal), is no longer unsettled, and notifications replayed about it
// resend nothing.
func TestRefusedResendEndsFailed(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		nudger, ok := f.st.(interface {
			Nudge(ctx context.Context, ref store.ObjectRef, now time.Time) (int, error)
		})
		if !ok {
			t.Fatal("store cannot be nudged")
		}

		// A refund whose every attempt is reset: unknown.
		sess, charge := f.authorized(t, "20.00")
		if _, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge, Amount: usd("20.00"), IdempotencyKey: "ship"}); err != nil {
			t.Fatal(err)
		}
		f.fault(t, "CreateRefund", simulator.FaultReset, 20)
		lost := chargeops.RefundRequest{ChargeID: charge, Amount: usd("20.00"), IdempotencyKey: "memo-lost"}
		res, err := f.svc.Refund(ctx, lost)
		if err != nil || res.Outcome != payment.Unknown {
			t.Fatalf("refund with reset answers = %+v, %v; want unknown", res, err)
		}
		f.clearFaults(t)
		// Meanwhile another refund takes what can be refunded.
		if res, err := f.svc.Refund(ctx, chargeops.RefundRequest{ChargeID: charge, Amount: usd("23.00"), IdempotencyKey: "memo-all"}); err != nil || res.Outcome != payment.Pending {
			t.Fatalf("second refund = %+v, %v", res, err)
		}
		sent := f.calls(t, sess, "CreateRefund")

		// The worker resends the unknown refund; Amazon refuses it:
		// failed, with Amazon's reason, once.
		f.settle(t, time.Minute, 3)
		if n := f.calls(t, sess, "CreateRefund"); n != sent+1 {
			t.Errorf("%d CreateRefund calls after settling, want %d (one resend)", n, sent+1)
		}
		_, err = f.svc.Refund(ctx, lost)
		e, ok := completion.AsError(err)
		if !ok || e.Reason != chargeops.ReasonRefundAmountExceeded || e.Kind != completion.KindFailedPrecondition ||
			e.Metadata["amazon_reason_code"] != "TransactionAmountExceeded" {
			t.Fatalf("repeat of the refused refund: %v; want FAILED_PRECONDITION %s with amazon_reason_code TransactionAmountExceeded",
				err, chargeops.ReasonRefundAmountExceeded)
		}
		op, err := f.st.GetOperation(ctx, chargeops.OperationID(payment.OpRefund, charge, "memo-lost"))
		if err != nil || op.State != payment.OpDone || op.ReasonCode != "TransactionAmountExceeded" {
			t.Errorf("stored refund = %+v, %v; want done with TransactionAmountExceeded", op, err)
		}
		v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: charge[:19], ChargeAmount: usd("20.00")})
		if err != nil || v.Unsettled != 0 || len(v.Refunds) != 1 {
			t.Errorf("view = %+v, %v; want nothing unsettled and the one refund applied", v, err)
		}

		// One REFUND notification replayed 100 times: nothing resent.
		for range 100 {
			if _, err := nudger.Nudge(ctx, store.ObjectRef{Type: store.ObjectRefund, ID: charge[:19] + "-R000001", ChargePermissionID: charge[:19]}, f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.CheckOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.calls(t, sess, "CreateRefund"); n != sent+1 {
			t.Errorf("%d CreateRefund calls after 100 notifications, want %d", n, sent+1)
		}
	})
}

// TestRefusedChargeResendEndsFailed: a CreateCharge left unknown whose
// resend Amazon refuses (the permission was closed meanwhile) ends failed.
func TestRefusedChargeResendEndsFailed(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		done := f.completed(t, "30.00", "Confirm")
		cp := done.ChargePermissionID
		f.fault(t, "CreateCharge", simulator.FaultReset, 20)
		req := chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("10.00"), IdempotencyKey: "shipment-1"}
		res, err := f.svc.CreateCharge(ctx, req)
		if err != nil || res.Outcome != payment.Unknown {
			t.Fatalf("charge with reset answers = %+v, %v; want unknown", res, err)
		}
		f.clearFaults(t)
		if _, err := f.svc.Close(ctx, chargeops.CloseRequest{ChargePermissionID: cp, Reason: "order canceled"}); err != nil {
			t.Fatal(err)
		}
		f.settle(t, time.Minute, 3)
		_, err = f.svc.CreateCharge(ctx, req)
		if reason(err) != chargeops.ReasonChargePermissionNotChargeable {
			t.Fatalf("repeat of the refused charge: %v; want %s", err, chargeops.ReasonChargePermissionNotChargeable)
		}
		if n := f.calls(t, done.CheckoutSessionID, "CreateCharge"); n == 0 {
			t.Error("no CreateCharge reached Amazon")
		}
		before := f.calls(t, done.CheckoutSessionID, "CreateCharge")
		f.settle(t, time.Hour, 3)
		if n := f.calls(t, done.CheckoutSessionID, "CreateCharge"); n != before {
			t.Errorf("%d CreateCharge calls after it failed, want %d", n, before)
		}
	})
}

// TestNoResendPastKeyLifetime: a refund still unknown after Amazon's
// idempotency keys expire (UnknownBudget) is not sent again, since a
// resend could refund twice; it stays unknown for an operator.
func TestNoResendPastKeyLifetime(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		sess, charge := f.authorized(t, "20.00")
		if _, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge, Amount: usd("20.00"), IdempotencyKey: "ship"}); err != nil {
			t.Fatal(err)
		}
		// Amazon unreachable for longer than the budget.
		f.fault(t, "CreateRefund", simulator.FaultReset, 1000)
		if res, err := f.svc.Refund(ctx, chargeops.RefundRequest{ChargeID: charge, Amount: usd("5.00"), IdempotencyKey: "memo"}); err != nil || res.Outcome != payment.Unknown {
			t.Fatalf("refund = %+v, %v; want unknown", res, err)
		}
		f.clock.Advance(chargeops.UnknownBudget + time.Minute)
		f.clearFaults(t)
		sent := f.calls(t, sess, "CreateRefund")
		f.settle(t, time.Hour, 3)
		if n := f.calls(t, sess, "CreateRefund"); n != sent {
			t.Errorf("%d CreateRefund calls past the budget, want none", n-sent)
		}
		op, err := f.st.GetOperation(ctx, chargeops.OperationID(payment.OpRefund, charge, "memo"))
		if err != nil || op.State != payment.OpUnknown {
			t.Errorf("refund past the budget = %+v, %v; want unknown", op, err)
		}
	})
}
