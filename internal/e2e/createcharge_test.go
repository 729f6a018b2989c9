package e2e_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

func TestCreateChargeEndToEnd(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := t.Context()

	t.Run("confirm_then_charge_and_capture", func(t *testing.T) {
		t.Parallel()
		p := completeOrder(t, a, svc, "order-confirm", sessionSpec{Amount: "25.00", Intent: "Confirm", Scenario: "Authorized"})
		if p.GetChargeId() != "" || p.GetCharges() != nil {
			t.Fatalf("Confirm payment has charges: %v", p)
		}
		req := &pb.CreateChargeRequest{ChargePermissionId: p.GetChargePermissionId(), ChargeAmount: usd("25.00"), IdempotencyKey: "ship-all"}
		resp, err := svc.Client.CreateCharge(ctx, req)
		if err != nil || resp.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED || resp.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_AUTHORIZED {
			t.Fatalf("CreateCharge = %v, %v", resp, err)
		}
		if again, err := svc.Client.CreateCharge(ctx, req); err != nil || again.GetCharge().GetChargeId() != resp.GetCharge().GetChargeId() {
			t.Errorf("repeat = %v, %v", again, err)
		}
		if _, err := svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: resp.GetCharge().GetChargeId(), CaptureAmount: usd("25.00"), IdempotencyKey: "ship-all"}); err != nil {
			t.Fatal(err)
		}
		got, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "order-confirm"}})
		if err != nil || got.GetPayment().GetCapturedAmount().GetAmount() != "25.00" || len(got.GetPayment().GetCharges()) != 1 {
			t.Errorf("payment = %v, %v; want 25.00 captured on one charge", got, err)
		}
		if n := a.calls(t, p.GetCheckoutSessionId())["CreateCharge"]; n != 1 {
			t.Errorf("%d CreateCharge calls, want 1", n)
		}
		_, err = svc.Client.CreateCharge(ctx, &pb.CreateChargeRequest{ChargePermissionId: p.GetChargePermissionId(), ChargeAmount: usd("1.00"), IdempotencyKey: "more"})
		if code, reason, _, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "CHARGE_PERMISSION_NOT_CHARGEABLE" {
			t.Errorf("a charge on a used-up permission: %v %s", code, reason)
		}
	})

	t.Run("split_shipments", func(t *testing.T) {
		t.Parallel()
		// The order total is 30.00; the checkout authorizes the first
		// shipment's 10.00, the second gets a charge of its own.
		p := completeOrder(t, a, svc, "order-split", sessionSpec{Amount: "10.00", Total: &amazonpay.Price{Amount: "30.00", CurrencyCode: "USD"}, Scenario: "Authorized"})
		if _, err := svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("10.00"), IdempotencyKey: "ship-1"}); err != nil {
			t.Fatal(err)
		}
		second, err := svc.Client.CreateCharge(ctx, &pb.CreateChargeRequest{ChargePermissionId: p.GetChargePermissionId(), ChargeAmount: usd("20.00"), CaptureNow: true, IdempotencyKey: "ship-2"})
		if err != nil || second.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_CAPTURED {
			t.Fatalf("second shipment = %v, %v", second, err)
		}
		got, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "order-split"}})
		if err != nil || got.GetPayment().GetCapturedAmount().GetAmount() != "30.00" || len(got.GetPayment().GetCharges()) != 2 {
			t.Errorf("payment = %v, %v; want 30.00 captured on two charges", got, err)
		}
		_, err = svc.Client.CreateCharge(ctx, &pb.CreateChargeRequest{ChargePermissionId: p.GetChargePermissionId(), ChargeAmount: &pb.Money{Amount: "1.00", CurrencyCode: "EUR"}, IdempotencyKey: "eur"})
		if code, _, _, _ := errorInfo(t, err); code != codes.FailedPrecondition {
			t.Errorf("a charge in another currency: %v", code)
		}
	})

	t.Run("cancel_and_close", func(t *testing.T) {
		t.Parallel()
		p := completeOrder(t, a, svc, "order-close", sessionSpec{Amount: "12.00", Scenario: "Authorized"})
		req := &pb.CloseChargePermissionRequest{ChargePermissionId: p.GetChargePermissionId(), ClosureReason: "order canceled", CancelPendingCharges: true}
		resp, err := svc.Client.CloseChargePermission(ctx, req)
		if err != nil || resp.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED ||
			resp.GetChargePermission().GetState() != pb.ChargePermissionState_CHARGE_PERMISSION_STATE_CLOSED || resp.GetChargePermission().GetBuyer() != nil {
			t.Fatalf("CloseChargePermission = %v, %v; want Closed without buyer details", resp, err)
		}
		if again, err := svc.Client.CloseChargePermission(ctx, req); err != nil || again.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
			t.Errorf("repeat = %v, %v", again, err)
		}
		if n := a.calls(t, p.GetCheckoutSessionId())["CloseChargePermission"]; n != 1 {
			t.Errorf("%d closures at Amazon, want 1", n)
		}
		_, err = svc.Client.CreateCharge(ctx, &pb.CreateChargeRequest{ChargePermissionId: p.GetChargePermissionId(), ChargeAmount: usd("1.00"), IdempotencyKey: "after-close"})
		if code, reason, md, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "CHARGE_PERMISSION_NOT_CHARGEABLE" || md["charge_permission_state"] != "Closed" {
			t.Errorf("a charge on a closed permission: %v %s %v", code, reason, md)
		}
		_, err = svc.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("12.00"), IdempotencyKey: "late"})
		if code, reason, md, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "CHARGE_NOT_CAPTURABLE" || md["charge_state"] != "Canceled" {
			t.Errorf("capture after closing with cancel_pending_charges: %v %s %v", code, reason, md)
		}
	})
}
