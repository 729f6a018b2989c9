package chargeops

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// TestViewChargeRefundedAmount: a charge's refunded amount in the view is
// what its refunds returned to the buyer, as Amazon's charge says, though
// the charge was recorded before them (found by the money chaos test: the
// charge showed nothing refunded, Amazon's 80.00). Refunds still in flight
// or declined do not count, as at Amazon.
func TestViewChargeRefundedAmount(t *testing.T) {
	t.Parallel()
	const charge, other = "S01-0000000-0000000-C000001", "S01-0000000-0000000-C000002"
	p := payment.Payment{ChargeID: charge, ChargePermissionID: "S01-0000000-0000000",
		ChargeAmount: payment.Money{Amount: "100.00", CurrencyCode: "USD"}, ChargeState: payment.ChargeCaptured}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	refund := func(i int, chargeID, amount, state string) payment.Operation {
		rf := amazonpay.Refund{RefundID: "S01-0000000-0000000-R00000" + string(rune('0'+i)), ChargeID: chargeID,
			RefundAmount: &amazonpay.Price{Amount: amount, CurrencyCode: "USD"}}
		rf.StatusDetails.State = state
		res, _ := json.Marshal(rf)
		opState := payment.OpDone
		if state == amazonpay.RefundStateInitiated {
			opState = payment.OpPending
		}
		return payment.Operation{Kind: payment.OpRefund, ObjectID: chargeID, State: opState, Result: res, UpdateTime: t0.Add(time.Duration(i) * time.Second)}
	}
	for _, tc := range []struct {
		name string
		ops  []payment.Operation
		want string // the charge's refunded amount; "" for none
	}{
		{"none", nil, ""},
		{"in parts", []payment.Operation{refund(1, charge, "30.00", amazonpay.RefundStateRefunded), refund(2, charge, "50.00", amazonpay.RefundStateRefunded)}, "80.00"},
		{"in flight and declined do not count", []payment.Operation{refund(1, charge, "30.00", amazonpay.RefundStateRefunded),
			refund(2, charge, "10.00", amazonpay.RefundStateInitiated), refund(3, charge, "20.00", amazonpay.RefundStateDeclined)}, "30.00"},
		{"another charge's refund", []payment.Operation{refund(1, other, "30.00", amazonpay.RefundStateRefunded)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := buildView(p, tc.ops)
			if len(v.Charges) != 1 {
				t.Fatalf("view charges = %+v; want the one", v.Charges)
			}
			got := ""
			if r := v.Charges[0].RefundedAmount; r != nil {
				got = r.Amount
			}
			if got != tc.want {
				t.Errorf("charge refunded amount = %q, want %q", got, tc.want)
			}
		})
	}
}
