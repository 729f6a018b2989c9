package chargeops_test

import (
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

func TestRefunds(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		sess, charge := f.authorized(t, "20.00")
		if _, err := f.svc.Refund(ctx, chargeops.RefundRequest{ChargeID: charge, Amount: usd("1.00"), IdempotencyKey: "early"}); reason(err) != chargeops.ReasonChargeNotRefundable {
			t.Errorf("refund of an authorized charge: %v; want %s", err, chargeops.ReasonChargeNotRefundable)
		}
		if _, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge, Amount: usd("20.00"), IdempotencyKey: "ship"}); err != nil {
			t.Fatal(err)
		}

		// A partial refund: initiated, repeated from the store, tracked
		// to Refunded.
		req := chargeops.RefundRequest{ChargeID: charge, Amount: usd("5.00"), IdempotencyKey: "credit-memo-1"}
		res, err := f.svc.Refund(ctx, req)
		if err != nil || res.Outcome != payment.Pending || res.Refund.StatusDetails.State != "RefundInitiated" || res.Refund.RefundID == "" {
			t.Fatalf("Refund = %+v, %v; want RefundInitiated", res, err)
		}
		if again, err := f.svc.Refund(ctx, req); err != nil || again.Refund.RefundID != res.Refund.RefundID || f.calls(t, sess, "CreateRefund") != 1 {
			t.Errorf("repeat = %+v, %v, %d refunds at Amazon; want the same refund, 1 call", again, err, f.calls(t, sess, "CreateRefund"))
		}
		other := req
		other.Amount = usd("6.00")
		if _, err := f.svc.Refund(ctx, other); reason(err) != chargeops.ReasonIdempotencyKeyReused {
			t.Errorf("same key, other amount: %v", err)
		}
		// The refund in flight is unsettled: a watch of the payment
		// goes on.
		cpid := res.Refund.ChargeID[:19]
		if v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: cpid, ChargeAmount: usd("20.00")}); err != nil || v.Unsettled != 1 {
			t.Errorf("view with the refund initiated: %d unsettled, %v; want 1", v.Unsettled, err)
		}
		f.clock.Advance(2 * time.Minute) // the simulator settles; the first poll is due
		if n, err := f.svc.CheckOnce(ctx); err != nil || n != 1 {
			t.Fatalf("CheckOnce = %d, %v", n, err)
		}
		res, err = f.svc.Refund(ctx, req)
		if err != nil || res.Outcome != payment.Completed || res.Refund.StatusDetails.State != "Refunded" {
			t.Fatalf("after the poll = %+v, %v; want Refunded", res, err)
		}
		live, err := f.svc.GetRefund(ctx, res.Refund.RefundID)
		if err != nil || live.StatusDetails.State != "Refunded" {
			t.Errorf("GetRefund = %+v, %v", live, err)
		}
		if _, err := f.svc.GetRefund(ctx, "S01-0000000-0000000-R000000"); reason(err) != chargeops.ReasonRefundNotFound {
			t.Errorf("GetRefund(unknown): %v", err)
		}

		// Beyond the captured amount plus 15% (23.00 in all): refused
		// before sending.
		if _, err := f.svc.Refund(ctx, chargeops.RefundRequest{ChargeID: charge, Amount: usd("18.01"), IdempotencyKey: "too-much"}); reason(err) != chargeops.ReasonRefundAmountExceeded {
			t.Errorf("refund beyond the allowance: %v; want %s", err, chargeops.ReasonRefundAmountExceeded)
		}
		if _, err := f.svc.Refund(ctx, chargeops.RefundRequest{ChargeID: charge, Amount: payment.Money{Amount: "1.00", CurrencyCode: "EUR"}, IdempotencyKey: "eur"}); reason(err) != completion.ReasonCurrencyMismatch {
			t.Errorf("refund in another currency: %v", err)
		}
		if n := f.calls(t, sess, "CreateRefund"); n != 1 {
			t.Errorf("%d refunds reached Amazon, want 1", n)
		}

		// A declined refund, its answer lost once (read back by
		// sending again with the same key).
		f.fault(t, "CreateRefund", simulator.FaultLostResponse, 2)
		res, err = f.svc.Refund(ctx, chargeops.RefundRequest{ChargeID: charge, Amount: usd("3.00"), IdempotencyKey: "credit-memo-2"})
		if err != nil || res.Outcome != payment.Pending {
			t.Fatalf("refund with lost answers = %+v, %v; want pending", res, err)
		}
		f.control(t, "/simulator/refunds/"+res.Refund.RefundID+"/outcome", map[string]string{"state": "Declined", "reasonCode": "AmazonRejected"})
		f.clock.Advance(time.Hour)
		if _, err := f.svc.CheckOnce(ctx); err != nil {
			t.Fatal(err)
		}
		res, err = f.svc.Refund(ctx, chargeops.RefundRequest{ChargeID: charge, Amount: usd("3.00"), IdempotencyKey: "credit-memo-2"})
		if err != nil || res.Outcome != payment.Declined || res.Refund.StatusDetails.ReasonCode != "AmazonRejected" {
			t.Errorf("declined refund = %+v, %v", res, err)
		}

		// The payment's view: one charge captured 20.00, two refunds,
		// 5.00 refunded.
		v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: res.Refund.ChargeID[:19], ChargeAmount: usd("20.00")})
		if err != nil || len(v.Refunds) != 2 || v.Refunded == nil || v.Refunded.Amount != "5.00" || v.Captured == nil || v.Captured.Amount != "20.00" || v.Unsettled != 0 {
			t.Errorf("view = %+v, %v; want 2 refunds, 5.00 refunded, 20.00 captured, nothing unsettled", v, err)
		}
	})
}
