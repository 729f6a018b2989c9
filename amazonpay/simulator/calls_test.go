package simulator_test

import (
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// Calls on a session's charges and charge permission are counted for the
// session; another merchant's calls on them are not.
func TestCallsCountOperationsOnChargesAndPermission(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	done := h.complete(id, "14.00", "USD", nil)
	mustStatus(t, done, 200)
	charge, perm := done.str("chargeId"), done.str("chargePermissionId")

	mustStatus(t, h.call(nil, "GET", "/sandbox/v2/charges/"+charge, nil, nil), 200)
	mustStatus(t, h.call(nil, "GET", "/sandbox/v2/charges/"+charge, nil, nil), 200)
	mustStatus(t, h.call(nil, "GET", "/sandbox/v2/chargePermissions/"+perm, nil, nil), 200)
	capture := map[string]any{"captureAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}}
	mustStatus(t, h.call(nil, "POST", "/sandbox/v2/charges/"+charge+"/capture", capture, nil), 200)
	// A refused call that reached the operation counts too.
	mustStatus(t, h.call(nil, "DELETE", "/sandbox/v2/charges/"+charge+"/cancel", map[string]any{}, nil), 422)

	other := &signer{key: testKey(t, 1), keyID: "SIMCALLSOTHER", algorithm: "AMZN-PAY-RSASSA-PSS"}
	mustStatus(t, h.control("POST", "publicKeys", map[string]string{
		"publicKeyId": other.keyID, "publicKeyPem": pemOf(t, &other.key.PublicKey), "merchantId": "A2CALLS",
	}), 201)
	mustStatus(t, h.call(other, "GET", "/sandbox/v2/charges/"+charge, nil, nil), 404)

	want := map[string]int{
		simulator.OpCreateCheckoutSession:   1,
		simulator.OpCompleteCheckoutSession: 1,
		simulator.OpGetCharge:               2,
		simulator.OpGetChargePermission:     1,
		simulator.OpCaptureCharge:           1,
		simulator.OpCancelCharge:            1,
	}
	got := h.calls(id)
	for op, n := range want {
		if got[op] != n {
			t.Errorf("%s: %d calls, want %d (all: %v)", op, got[op], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}
