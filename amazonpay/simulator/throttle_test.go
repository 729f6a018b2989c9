package simulator_test

import (
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

func TestThrottleAtSandboxQuotas(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{Throttle: simulator.ThrottleSandbox})
	id := h.newSession("Authorize", false)
	get := func(s *signer) response { return h.call(s, "GET", "/sandbox/v2/checkoutSessions/"+id, nil, nil) }

	// Get Checkout Session: burst 10, then 429 until the bucket refills.
	for range 10 {
		mustStatus(t, get(nil), 200)
	}
	r := get(nil)
	if r.status != 429 || r.reason() != "TooManyRequests" || r.str("message") == "" {
		t.Fatalf("11th get: %d %s", r.status, r.raw)
	}
	if v := r.header.Get("Retry-After"); v != "" {
		t.Errorf("Retry-After %q: Amazon sends none", v)
	}
	if r.header.Get("x-amz-pay-request-id") == "" {
		t.Error("429 without request id")
	}
	if c := h.calls(id); c[simulator.OpGetCheckoutSession] != 10 {
		t.Errorf("throttled calls counted: %v", c)
	}

	// Other operations and other merchants have their own buckets.
	mustStatus(t, h.call(nil, "PATCH", "/sandbox/v2/checkoutSessions/"+id,
		map[string]any{"merchantMetadata": map[string]any{"noteToBuyer": "Thanks"}}, nil), 200)
	other := &signer{key: testKey(t, 1), keyID: "SIMTHROTTLEOTHER", algorithm: "AMZN-PAY-RSASSA-PSS"}
	mustStatus(t, h.control("POST", "publicKeys", map[string]string{
		"publicKeyId": other.keyID, "publicKeyPem": pemOf(t, &other.key.PublicKey), "merchantId": "A2THROTTLED",
	}), 201)
	if r := get(other); r.status != 404 {
		t.Errorf("other merchant throttled by this one's calls: %d %s", r.status, r.raw)
	}

	// Restore rate 1/s on the simulator's clock.
	h.clock.Advance(time.Second)
	mustStatus(t, get(nil), 200)
	mustStatus(t, get(nil), 429)
	h.clock.Advance(time.Hour) // refills to the burst, not beyond
	for range 10 {
		mustStatus(t, get(nil), 200)
	}
	mustStatus(t, get(nil), 429)

	// Complete Checkout Session: burst 2.
	for i := range 3 {
		sid := h.newSession("Authorize", false)
		mustStatus(t, h.buyer(sid, "Authorized"), 200)
		want := 200
		if i == 2 {
			want = 429
		}
		mustStatus(t, h.complete(sid, "14.00", "USD", nil), want)
	}
}

func TestThrottleLiveQuotasAndNone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		setting string
		allowed int // Get Checkout Session calls at once
	}{
		{simulator.ThrottleLive, 40},
		{simulator.ThrottleNone, 200},
		{"", 200},
	} {
		t.Run("setting="+tc.setting, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, simulator.Options{Throttle: tc.setting})
			id := h.newSession("Authorize", false)
			for range tc.allowed {
				mustStatus(t, h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil), 200)
			}
			want := 200
			if tc.setting == simulator.ThrottleLive {
				want = 429
			}
			mustStatus(t, h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil), want)
		})
	}
	if _, err := simulator.New(simulator.Options{Throttle: "fast"}); err == nil {
		t.Error("unknown throttle setting accepted")
	}
}
