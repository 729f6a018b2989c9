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

// Create Charge names its charge permission in the body: it counts for the
// permission's session, also when a fault stops it before it is applied.
// Update and Close Charge Permission count there too.
func TestCallsCountCreateChargeAndPermissionUpdates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Confirm", false)
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	done := h.complete(id, "14.00", "USD", nil)
	mustStatus(t, done, 200)
	cp := done.str("chargePermissionId")

	key := map[string]string{"x-amz-pay-idempotency-key": "calls-charge-1"}
	mustStatus(t, h.control("POST", "faults", map[string]any{"operation": "CreateCharge", "kind": "http500"}), 201)
	mustStatus(t, h.createCharge(cp, "10.00", "USD", true, false, key), 500)
	created := h.createCharge(cp, "10.00", "USD", true, false, key)
	if created.status/100 != 2 {
		t.Fatalf("create charge: %d %s", created.status, created.raw)
	}
	mustStatus(t, h.call(nil, "PATCH", "/v2/chargePermissions/"+cp, map[string]any{"merchantMetadata": map[string]any{"merchantReferenceId": "order-7"}}, nil), 200)
	mustStatus(t, h.call(nil, "DELETE", "/v2/chargePermissions/"+cp+"/close", map[string]any{"closureReason": "done"}, nil), 200)

	got := h.calls(id)
	for op, n := range map[string]int{
		simulator.OpCreateCharge:           2,
		simulator.OpUpdateChargePermission: 1,
		simulator.OpCloseChargePermission:  1,
	} {
		if got[op] != n {
			t.Errorf("%s: %d calls, want %d (all: %v)", op, got[op], n, got)
		}
	}
}
