package chargeops_test

import (
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

func TestClose(t *testing.T) {
	t.Parallel()
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			ctx := t.Context()
			done := f.completed(t, "10.00", "Authorize")
			req := chargeops.CloseRequest{ChargePermissionID: done.ChargePermissionID, Reason: "order canceled", CancelPendingCharges: true}
			// The answer is lost: read back.
			f.fault(t, "CloseChargePermission", simulator.FaultLostResponse, 2)
			res, err := f.svc.Close(ctx, req)
			if err != nil || res.Outcome != payment.Completed || res.ChargePermission.StatusDetails.State != "Closed" {
				t.Fatalf("Close = %+v, %v; want Closed", res, err)
			}
			if res.ChargePermission.Buyer != nil || res.ChargePermission.ShippingAddress != nil {
				t.Error("the recorded permission keeps buyer details")
			}
			op, err := f.st.GetOperation(ctx, chargeops.OperationID(payment.OpClose, done.ChargePermissionID, ""))
			if err != nil || strings.Contains(string(op.Result), "buyer") || strings.Contains(string(op.Result), "Address") {
				t.Errorf("stored result %s, %v; want no buyer details", op.Result, err)
			}
			if again, err := f.svc.Close(ctx, chargeops.CloseRequest{ChargePermissionID: done.ChargePermissionID, Reason: "again"}); err != nil || again.Outcome != payment.Completed {
				t.Errorf("repeat = %+v, %v", again, err)
			}
			if n := f.calls(t, done.CheckoutSessionID, "CloseChargePermission"); n != 2 {
				t.Errorf("%d closures at Amazon, want the client's 2 attempts of one call", n)
			}
			// The pending charge was canceled with it.
			ch, _, err := f.client.GetCharge(ctx, done.ChargeID)
			if err != nil || ch.StatusDetails.State != "Canceled" {
				t.Errorf("charge after closing with cancelPendingCharges: %v, %v", ch, err)
			}
			// A closed permission: refused before sending, from another
			// service (no record of its own).
			other := chargeops.New(f.st, f.client, chargeops.Config{Now: f.clock.Now, Logger: quiet})
			d2 := f.completed(t, "10.00", "Authorize")
			if _, _, err := f.client.CloseChargePermission(ctx, d2.ChargePermissionID, closeReq("by hand")); err != nil {
				t.Fatal(err)
			}
			if _, err := other.Close(ctx, chargeops.CloseRequest{ChargePermissionID: d2.ChargePermissionID, Reason: "x"}); reason(err) != chargeops.ReasonChargePermissionClosed {
				t.Errorf("close of a closed permission: %v", err)
			}
		})
	}
}

func closeReq(reason string) amazonpay.CloseChargePermissionRequest {
	return amazonpay.CloseChargePermissionRequest{ClosureReason: reason}
}
