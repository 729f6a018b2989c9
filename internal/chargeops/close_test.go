package chargeops_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

func TestClose(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
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

func closeReq(reason string) amazonpay.CloseChargePermissionRequest {
	return amazonpay.CloseChargePermissionRequest{ClosureReason: reason}
}

// TestCloseOfPermissionAmazonClosed: the check reads the permission
// Chargeable, then Amazon closes it by itself (the order total captured)
// before the closure arrives, which Amazon refuses. The permission read
// back is Closed, but not by this closure: the answer is
// CHARGE_PERMISSION_CLOSED, not a closure the service did not make.
func TestCloseOfPermissionAmazonClosed(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		done := f.completed(t, "10.00", "Authorize")
		// The check's read is applied at once, its answer held.
		f.control(t, "/simulator/faults", map[string]any{"operation": "GetChargePermission", "kind": "slowResponse", "latency": "300ms", "count": 1})
		type answer struct {
			res chargeops.Result
			err error
		}
		answers := make(chan answer, 1)
		go func() {
			res, err := f.svc.Close(ctx, chargeops.CloseRequest{ChargePermissionID: done.ChargePermissionID, Reason: "order canceled"})
			answers <- answer{res, err}
		}()
		for f.calls(t, done.CheckoutSessionID, "GetChargePermission") == 0 {
			runtime.Gosched()
		}
		if _, _, err := f.client.CaptureCharge(ctx, done.ChargeID, amazonpay.CaptureChargeRequest{CaptureAmount: amazonpay.Price{Amount: "10.00", CurrencyCode: "USD"}}); err != nil {
			t.Fatal(err)
		}
		a := <-answers
		if reason(a.err) != chargeops.ReasonChargePermissionClosed {
			t.Fatalf("Close of a permission Amazon closed meanwhile = %+v, %v; want %s", a.res, a.err, chargeops.ReasonChargePermissionClosed)
		}
		if _, err := f.st.GetOperation(ctx, chargeops.OperationID(payment.OpClose, done.ChargePermissionID, "")); err == nil {
			t.Error("the refused closure stays recorded")
		}
	})
}
