package chargeops

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// TestOutcomeForEachRPCAndAmazonState: what each operation answers for a
// recorded charge (or refund) in each of Amazon's states, and that no
// answer is outside the outcomes its RPC documents (Outcomes): a
// cancellation never answers COMPLETED, a capture never CANCELED.
func TestOutcomeForEachRPCAndAmazonState(t *testing.T) {
	t.Parallel()
	states := []string{payment.ChargeAuthorizationInitiated, payment.ChargeAuthorized, payment.ChargeCaptureInitiated,
		payment.ChargeCaptured, payment.ChargeCanceled, payment.ChargeDeclined, "SomethingNew"}
	want := map[payment.OpKind]map[string]payment.Outcome{
		payment.OpCapture: {payment.ChargeCaptured: payment.Completed, payment.ChargeCaptureInitiated: payment.Pending, payment.ChargeDeclined: payment.Declined},
		payment.OpCancel:  {payment.ChargeCanceled: payment.Canceled},
		payment.OpCharge: {payment.ChargeAuthorized: payment.Completed, payment.ChargeCaptured: payment.Completed,
			payment.ChargeAuthorizationInitiated: payment.Pending, payment.ChargeCaptureInitiated: payment.Pending,
			payment.ChargeDeclined: payment.Declined, payment.ChargeCanceled: payment.Canceled},
	}
	for kind, byState := range want {
		for _, st := range states {
			ch := amazonpay.Charge{ChargeID: "S01-0000000-0000000-C000001"}
			ch.StatusDetails.State = st
			body, _ := json.Marshal(ch)
			got := resultOf(payment.Operation{Kind: kind, State: payment.OpDone, Result: body}).Outcome
			w, ok := byState[st]
			if !ok {
				w = payment.Unknown // not this operation's answer
			}
			if got != w {
				t.Errorf("%s recorded with a %s charge answers %s, want %s", kind, st, got, w)
			}
			if !slices.Contains(Outcomes[kind], got) {
				t.Errorf("%s answers %s, which its RPC does not document", kind, got)
			}
		}
	}
	for st, w := range map[string]payment.Outcome{amazonpay.RefundStateInitiated: payment.Pending, amazonpay.RefundStateRefunded: payment.Completed,
		amazonpay.RefundStateDeclined: payment.Declined, "SomethingNew": payment.Unknown} {
		rf := amazonpay.Refund{RefundID: "S01-0000000-0000000-R000001"}
		rf.StatusDetails.State = st
		body, _ := json.Marshal(rf)
		if got := resultOf(payment.Operation{Kind: payment.OpRefund, State: payment.OpDone, Result: body}).Outcome; got != w || !slices.Contains(Outcomes[payment.OpRefund], got) {
			t.Errorf("refund recorded %s answers %s, want %s", st, got, w)
		}
	}
	cp, _ := json.Marshal(amazonpay.ChargePermission{ChargePermissionID: "S01-0000000-0000000"})
	if got := resultOf(payment.Operation{Kind: payment.OpClose, State: payment.OpDone, Result: cp}).Outcome; !slices.Contains(Outcomes[payment.OpClose], got) {
		t.Errorf("closure answers %s", got)
	}
	for kind := range Outcomes {
		for _, st := range []payment.OpState{payment.OpSending, payment.OpUnknown} {
			if got := resultOf(payment.Operation{Kind: kind, State: st}).Outcome; got != payment.Unknown {
				t.Errorf("%s %s answers %s, want unknown", kind, st, got)
			}
		}
	}
}
