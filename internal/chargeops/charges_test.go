package chargeops_test

import (
	"context"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// simulated sends Create Charge with a sandbox simulation code, as a
// storefront's sandbox tests do, to make the simulator decline.
type simulated struct {
	*amazonpay.Client
	code string
}

func (c simulated) CreateCharge(ctx context.Context, req amazonpay.CreateChargeRequest, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	return c.Client.CreateCharge(ctx, req, append(opts, amazonpay.WithHeader("x-amz-pay-simulation-code", c.code))...)
}

func TestCreateCharge(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()

		// Confirm: no charge at checkout; split shipments of 10 + 20.
		done := f.completed(t, "30.00", "Confirm")
		if done.ChargeID != "" {
			t.Fatalf("Confirm checkout has charge %q", done.ChargeID)
		}
		cp := done.ChargePermissionID
		first := chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("10.00"), IdempotencyKey: "shipment-1"}
		res, err := f.svc.CreateCharge(ctx, first)
		if err != nil || res.Outcome != payment.Completed || res.Charge.StatusDetails.State != "Authorized" || res.Charge.ChargeID == "" {
			t.Fatalf("CreateCharge = %+v, %v; want Authorized", res, err)
		}
		if again, err := f.svc.CreateCharge(ctx, first); err != nil || again.Charge.ChargeID != res.Charge.ChargeID || f.calls(t, done.CheckoutSessionID, "CreateCharge") != 1 {
			t.Errorf("repeat = %+v, %v; want the same charge and 1 call", again, err)
		}
		other := first
		other.Amount = usd("11.00")
		if _, err := f.svc.CreateCharge(ctx, other); reason(err) != chargeops.ReasonIdempotencyKeyReused {
			t.Errorf("same key, other amount: %v", err)
		}
		// More than the permission has left (20.00): refused before
		// sending.
		if _, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("20.01"), IdempotencyKey: "too-much"}); reason(err) != chargeops.ReasonChargeAmountExceeded {
			t.Errorf("charge beyond the balance: %v; want %s", err, chargeops.ReasonChargeAmountExceeded)
		}
		second, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("20.00"), CaptureNow: true, IdempotencyKey: "shipment-2"})
		if err != nil || second.Outcome != payment.Completed || second.Charge.StatusDetails.State != "Captured" {
			t.Fatalf("second CreateCharge = %+v, %v; want Captured", second, err)
		}
		// The whole amount is charged: Amazon closed the permission, and
		// a further charge is refused before sending.
		if _, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("0.01"), IdempotencyKey: "shipment-3"}); reason(err) != chargeops.ReasonChargePermissionNotChargeable {
			t.Errorf("charge on a used-up permission: %v; want %s", err, chargeops.ReasonChargePermissionNotChargeable)
		}
		if n := f.calls(t, done.CheckoutSessionID, "CreateCharge"); n != 2 {
			t.Errorf("%d CreateCharge calls, want 2", n)
		}
		// The first charge is captured later.
		if res, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: res.Charge.ChargeID, Amount: usd("10.00"), IdempotencyKey: "ship-1"}); err != nil || res.Outcome != payment.Completed {
			t.Errorf("capture of the created charge = %+v, %v", res, err)
		}
		v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: cp, ChargeAmount: usd("30.00")})
		if err != nil || len(v.Charges) != 2 || v.Captured == nil || v.Captured.Amount != "30.00" || v.Outstanding != nil {
			t.Errorf("view = %+v, %v; want two charges, 30.00 captured, nothing outstanding", v, err)
		}

		// Declines: soft and hard, answered as results.
		for _, code := range []string{"SoftDeclined", "HardDeclined"} {
			d := f.completed(t, "10.00", "Confirm")
			svc := chargeops.New(f.st, simulated{f.client, code}, chargeops.Config{Now: f.clock.Now, Logger: quiet})
			res, err := svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: d.ChargePermissionID, Amount: usd("10.00"), IdempotencyKey: "k"})
			if err != nil || res.Outcome != payment.Declined || res.Charge.StatusDetails.ReasonCode != code {
				t.Errorf("%s: %+v, %v; want declined with %s", code, res, err, code)
			}
		}
	})
}
