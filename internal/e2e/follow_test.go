package e2e_test

import (
	"path/filepath"
	"testing"
	"time"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// TestAfterCompletion: with MERCHANT_REFERENCE and AUTO_CAPTURE on, the
// order ID becomes the charge permission's merchantReferenceId and the
// charge is captured in full, in the background, also when the charge was
// authorized asynchronously (settled by the tracker); with both off
// (the harness's default) nothing follows a completion.
func TestAfterCompletion(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	onURL := "sqlite:" + filepath.Join(t.TempDir(), "on.db")
	offURL := "sqlite:" + filepath.Join(t.TempDir(), "off.db")
	on := startService(t, a, serviceOptions{DatabaseURL: onURL, Operations: chargeops.Config{SetMerchantReference: true, AutoCapture: true}})
	off := startService(t, a, serviceOptions{DatabaseURL: offURL})
	ctx := t.Context()
	// recorded counts the captures and merchant-reference updates a
	// service's database holds for a charge permission: what follows a
	// completion is recorded with it.
	recorded := func(t *testing.T, databaseURL, chargePermissionID string) int {
		t.Helper()
		list, err := operationsAt(t, databaseURL).ListOperations(ctx, chargePermissionID)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, op := range list {
			if op.Kind == payment.OpCapture || op.Kind == payment.OpReference {
				n++
			}
		}
		return n
	}

	follows := func(t *testing.T, svc *service, order string, spec sessionSpec) {
		t.Helper()
		id := a.newSession(t, ctx, spec)
		resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: order, ChargeAmount: usd(spec.Amount)})
		if err != nil {
			t.Fatal(err)
		}
		cpid := resp.GetPayment().GetChargePermissionId()
		if svc == on && resp.GetPayment().GetOutcome() == pb.Outcome_OUTCOME_COMPLETED && recorded(t, onURL, cpid) == 0 {
			t.Error("nothing recorded to follow the completion")
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: order}})
			if err != nil {
				t.Fatal(err)
			}
			cp, err := svc.Client.GetChargePermission(ctx, &pb.GetChargePermissionRequest{ChargePermissionId: cpid})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetPayment().GetCapturedAmount().GetAmount() == spec.Amount && cp.GetChargePermission().GetMerchantReferenceId() == order {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 20s: captured %v, merchant reference %q; want %s and %q", got.GetPayment().GetCapturedAmount(),
					cp.GetChargePermission().GetMerchantReferenceId(), spec.Amount, order)
			}
			time.Sleep(100 * time.Millisecond)
		}
		calls := a.calls(t, id)
		if calls["CaptureCharge"] != 1 || calls["UpdateChargePermission"] != 1 {
			t.Errorf("calls %v, want one capture and one update", calls)
		}
	}
	t.Run("authorized", func(t *testing.T) {
		t.Parallel()
		follows(t, on, "order-auto-1", sessionSpec{Amount: "14.00", Scenario: "Authorized"})
	})
	t.Run("pending_then_authorized", func(t *testing.T) {
		t.Parallel()
		follows(t, on, "order-auto-2", sessionSpec{Amount: "14.00", CanHandlePending: true, Scenario: "PendingThenAuthorized"})
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", Scenario: "Authorized"})
		resp, err := off.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "order-manual", ChargeAmount: usd("14.00")})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing recorded to follow the completion: nothing will be
		// called for it.
		if n := recorded(t, offURL, resp.GetPayment().GetChargePermissionId()); n != 0 {
			t.Errorf("%d captures or updates recorded after a completion with follow-ups off, want none", n)
		}
		cp, err := off.Client.GetChargePermission(ctx, &pb.GetChargePermissionRequest{ChargePermissionId: resp.GetPayment().GetChargePermissionId()})
		if err != nil || cp.GetChargePermission().GetMerchantReferenceId() != "order-e2e" {
			t.Errorf("merchant reference %q, %v; want the session's own (order-e2e)", cp.GetChargePermission().GetMerchantReferenceId(), err)
		}
		if calls := a.calls(t, id); calls["CaptureCharge"] != 0 || calls["UpdateChargePermission"] != 0 {
			t.Errorf("calls %v, want no capture or update", calls)
		}
	})
}
