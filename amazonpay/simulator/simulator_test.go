package simulator_test

import (
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

func TestHappyPathSmoke(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	r := h.complete(id, "14.00", "USD", nil)
	mustStatus(t, r, 200)
	if got := r.str("statusDetails", "state"); got != "Completed" {
		t.Fatalf("state = %q", got)
	}
	ch := h.call(nil, "GET", h.prefix+"/charges/"+r.str("chargeId"), nil, nil)
	mustStatus(t, ch, 200)
	if got := ch.str("statusDetails", "state"); got != "Authorized" {
		t.Fatalf("charge state = %q", got)
	}
	t.Logf("%s", ch.raw)
}
