package e2e_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// TestSessionIDSpellings completes one checkout session under its upper- and
// lower-case spellings at once: both name one payment, stored and sent to
// Amazon Pay in lower case, with one upstream Complete.
func TestSessionIDSpellings(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", Scenario: "Authorized"})
	spellings := []string{strings.ToUpper(id), id, strings.ToUpper(id[:8]) + id[8:]}

	var wg sync.WaitGroup
	got := make([]*pb.Payment, len(spellings))
	errs := make([]error, len(spellings))
	for i, sid := range spellings {
		wg.Go(func() {
			resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: sid, OrderId: "o-case", ChargeAmount: usd("14.00")})
			got[i], errs[i] = resp.GetPayment(), err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("CompleteCheckout(%s): %v", spellings[i], err)
		}
		if p := got[i]; p.GetCheckoutSessionId() != id || p.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED || p.GetChargeId() != got[0].GetChargeId() {
			t.Errorf("CompleteCheckout(%s) = %s, want the one completed payment of %s", spellings[i], describe(p), id)
		}
	}
	if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 1 {
		t.Errorf("Complete reached Amazon %d times, want 1", n)
	}
	// Reads accept either spelling too.
	resp, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: strings.ToUpper(id)}})
	if err != nil || resp.GetPayment().GetCheckoutSessionId() != id {
		t.Errorf("GetPayment(upper case) = %v, %v", resp, err)
	}
	seen := waitFinal(t, svc.Client, strings.ToUpper(id), 10*time.Second)
	if last := seen[len(seen)-1]; last.GetCheckoutSessionId() != id || last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Errorf("WatchPayment(upper case) ended with %s", describe(last))
	}
}
