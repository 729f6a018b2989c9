package simulator_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

var idemSeq atomic.Int64

// ledgerSigner signs as a merchant of the region whose ledger currency is
// currency (EUR and GBP: eu, JPY: jp, else na).
func (h *harness) ledgerSigner(currency string) *signer {
	s := *h.signer
	switch currency {
	case "EUR", "GBP":
		s.region = "eu"
	case "JPY":
		s.region = "jp"
	}
	return &s
}

// key returns a fresh idempotency key header.
func key() map[string]string {
	return map[string]string{"x-amz-pay-idempotency-key": fmt.Sprintf("k%d", idemSeq.Add(1))}
}

func withCode(h map[string]string, code string) map[string]string {
	h["x-amz-pay-simulation-code"] = code
	return h
}

func money(amount, currency string) map[string]any {
	return map[string]any{"amount": amount, "currencyCode": currency}
}

// confirmed completes a Confirm session of amount (and total, if not "")
// with the buyer's scenario and returns the charge permission id. extra
// paymentDetails are merged into the session's.
func (h *harness) confirmed(t *testing.T, amount, total, currency, scenario string, extra map[string]any) string {
	t.Helper()
	body := sessionBody("Confirm", false, amount, currency)
	pd := body["paymentDetails"].(map[string]any)
	if total != "" {
		pd["totalOrderAmount"] = money(total, currency)
	}
	for k, v := range extra {
		pd[k] = v
	}
	r := h.call(h.ledgerSigner(currency), "POST", "/v2/checkoutSessions", body, nil)
	mustStatus(t, r, 201)
	id := r.str("checkoutSessionId")
	mustStatus(t, h.buyer(id, scenario), 200)
	complete := map[string]any{"chargeAmount": money(amount, currency)}
	if total != "" {
		complete["totalOrderAmount"] = money(total, currency)
	}
	c := h.call(nil, "POST", "/v2/checkoutSessions/"+id+"/complete", complete, nil)
	mustStatus(t, c, 200)
	return c.str("chargePermissionId")
}

func (h *harness) createCharge(cp, amount, currency string, captureNow, pending bool, headers map[string]string) response {
	h.t.Helper()
	return h.call(nil, "POST", "/v2/charges", map[string]any{
		"chargePermissionId":            cp,
		"chargeAmount":                  money(amount, currency),
		"captureNow":                    captureNow,
		"canHandlePendingAuthorization": pending,
	}, headers)
}

func (h *harness) permission(id string) response {
	h.t.Helper()
	return h.call(nil, "GET", "/v2/chargePermissions/"+id, nil, nil)
}

func stateOf(r response) string {
	s := r.str("statusDetails", "state")
	if rc := r.str("statusDetails", "reasonCode"); rc != "" {
		return s + "/" + rc
	}
	if rs, ok := r.body["statusDetails"].(map[string]any)["reasons"].([]any); ok && len(rs) > 0 {
		return s + "/" + rs[0].(map[string]any)["reasonCode"].(string)
	}
	return s
}

func TestCreateChargeSplitShipments(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	cp := h.confirmed(t, "10.00", "30.00", "USD", "Authorized", nil)
	p := h.permission(cp)
	if stateOf(p) != "Chargeable" || p.str("limits", "amountLimit", "amount") != "30.00" || p.str("limits", "amountBalance", "amount") != "30.00" {
		t.Fatalf("permission after Confirm: %s", p.raw)
	}
	// Amazon requires the idempotency key on Create Charge.
	r := h.createCharge(cp, "10.00", "USD", false, false, nil)
	mustStatus(t, r, 400)
	if r.reason() != "MissingHeader" {
		t.Errorf("%s", r.raw)
	}

	hdr := key()
	first := h.createCharge(cp, "10.00", "USD", false, false, hdr)
	mustStatus(t, first, 201)
	if stateOf(first) != "Authorized" || first.str("chargePermissionId") != cp || !strings.HasPrefix(first.str("chargeId"), cp+"-C") {
		t.Fatalf("%s", first.raw)
	}
	// A retry with the same key replays the charge instead of making another.
	replay := h.createCharge(cp, "10.00", "USD", false, false, hdr)
	mustStatus(t, replay, 201)
	if replay.str("chargeId") != first.str("chargeId") {
		t.Errorf("replay made another charge: %s", replay.raw)
	}
	if p := h.permission(cp); stateOf(p) != "Chargeable" || p.str("limits", "amountBalance", "amount") != "20.00" {
		t.Errorf("after the first shipment's authorization: %s", p.raw)
	}
	mustStatus(t, h.call(nil, "POST", "/v2/charges/"+first.str("chargeId")+"/capture",
		map[string]any{"captureAmount": money("10.00", "USD")}, key()), 200)
	if p := h.permission(cp); stateOf(p) != "Chargeable" {
		t.Errorf("a partial shipment closed the permission: %s", p.raw)
	}
	second := h.createCharge(cp, "20.01", "USD", true, false, key())
	mustStatus(t, second, 400)
	if second.reason() != "TransactionAmountExceeded" {
		t.Errorf("%s", second.raw)
	}
	second = h.createCharge(cp, "20.00", "USD", true, false, key())
	mustStatus(t, second, 201)
	if stateOf(second) != "Captured" || second.str("captureAmount", "amount") != "20.00" {
		t.Errorf("%s", second.raw)
	}
	if p := h.permission(cp); stateOf(p) != "Closed/AmazonClosed" || p.str("limits", "amountBalance", "amount") != "0.00" {
		t.Errorf("whole order charged: %s", p.raw)
	}
	r = h.createCharge(cp, "1.00", "USD", false, false, key())
	mustStatus(t, r, 422)
	if r.reason() != "InvalidChargePermissionStatus" {
		t.Errorf("%s", r.raw)
	}
}

func TestCreateChargeValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	cp := h.confirmed(t, "14.00", "", "USD", "Authorized", nil)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		reason string
	}{
		{"unknown_permission", map[string]any{"chargePermissionId": "S01-0000000-0000000", "chargeAmount": money("1.00", "USD")}, 404, "ResourceNotFound"},
		{"no_permission", map[string]any{"chargeAmount": money("1.00", "USD")}, 400, "MissingParameterValue"},
		{"no_amount", map[string]any{"chargePermissionId": cp}, 400, "MissingParameterValue"},
		{"currency", map[string]any{"chargePermissionId": cp, "chargeAmount": money("1.00", "EUR")}, 400, "CurrencyMismatch"},
		{"over_limit", map[string]any{"chargePermissionId": cp, "chargeAmount": money("14.01", "USD")}, 400, "TransactionAmountExceeded"},
		{"bad_amount", map[string]any{"chargePermissionId": cp, "chargeAmount": money("1.001", "USD")}, 400, "InvalidParameterValue"},
		{"soft_descriptor", map[string]any{"chargePermissionId": cp, "chargeAmount": money("1.00", "USD"), "captureNow": true, "softDescriptor": strings.Repeat("x", 17)}, 400, "InvalidParameterValue"},
		{"unknown_field", map[string]any{"chargePermissionId": cp, "chargeAmount": money("1.00", "USD"), "foo": 1}, 400, "UnrecognizedField"},
		{"undocumented_code", map[string]any{"chargePermissionId": cp, "chargeAmount": money("1.00", "USD")}, 400, "InvalidSandboxSimulationSpecified"},
		{"capture_initiated_needs_capture_now", map[string]any{"chargePermissionId": cp, "chargeAmount": money("1.00", "USD")}, 400, "InvalidSandboxSimulationSpecified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := key()
			switch tc.name {
			case "undocumented_code":
				withCode(hdr, "ProcessingFailure")
			case "capture_initiated_needs_capture_now":
				withCode(hdr, "CaptureInitiated")
			}
			r := h.call(nil, "POST", "/v2/charges", tc.body, hdr)
			mustStatus(t, r, tc.status)
			if r.reason() != tc.reason {
				t.Errorf("%s", r.raw)
			}
		})
	}
	if p := h.permission(cp); p.str("limits", "amountBalance", "amount") != "14.00" {
		t.Errorf("refused charges used the balance: %s", p.raw)
	}
	// Another merchant's permission is unknown.
	other := &signer{key: testKey(t, 1), keyID: "OTHERMERCHANTKEY", algorithm: "AMZN-PAY-RSASSA-PSS"}
	if err := h.sim.RegisterPublicKey(other.keyID, &other.key.PublicKey, "merchant-2"); err != nil {
		t.Fatal(err)
	}
	r := h.call(other, "POST", "/v2/charges", map[string]any{"chargePermissionId": cp, "chargeAmount": money("1.00", "USD")}, key())
	mustStatus(t, r, 404)
}

func TestCreateChargeCountLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	cp := h.confirmed(t, "1.00", "", "USD", "Authorized", nil)
	for i := range 25 {
		r := h.createCharge(cp, "0.01", "USD", false, false, key())
		if r.status != 201 {
			t.Fatalf("charge %d: %s", i+1, r.raw)
		}
	}
	r := h.createCharge(cp, "0.01", "USD", false, false, key())
	mustStatus(t, r, 422)
	if r.reason() != "TransactionCountExceeded" {
		t.Errorf("%s", r.raw)
	}
}

func TestCreateChargeOutcomes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	tests := []struct {
		name       string
		scenario   string
		code       string
		captureNow bool
		pending    bool
		status     int
		reason     string
		charge     string // state right after the call ("" when refused)
		permission string
		settled    string // charge state after the pending delay
		settledCP  string
	}{
		{"authorized", "Authorized", "", false, false, 201, "", "Authorized", "Chargeable", "Authorized", "Chargeable"},
		{"capture_now", "Authorized", "", true, false, 201, "", "Captured", "Closed/AmazonClosed", "Captured", "Closed/AmazonClosed"},
		{"hard_declined", "Authorized", "HardDeclined", false, false, 422, "HardDeclined", "", "NonChargeable/PaymentMethodInvalid", "", ""},
		{"soft_declined_retry_possible", "Authorized", "SoftDeclined", false, false, 422, "SoftDeclined", "", "Chargeable", "", ""},
		{"amazon_rejected", "Authorized", "AmazonRejected", false, false, 422, "AmazonRejected", "", "Closed/AmazonCanceled", "", ""},
		{"timed_out", "Authorized", "TransactionTimedOut", false, false, 422, "TransactionTimedOut", "", "Chargeable", "", ""},
		{"capture_initiated", "Authorized", "CaptureInitiated", true, false, 201, "", "CaptureInitiated", "Chargeable", "Captured", "Closed/AmazonClosed"},
		{"authorization_initiated", "Authorized", "AuthorizationInitiated", false, true, 201, "", "AuthorizationInitiated", "NonChargeable/ChargeInProgress", "Authorized", "Chargeable"},
		{"authorization_initiated_needs_flag", "Authorized", "AuthorizationInitiated", false, false, 400, "InvalidSandboxSimulationSpecified", "", "Chargeable", "", ""},
		{"pending_instrument", "PendingThenAuthorized", "", true, true, 201, "", "AuthorizationInitiated", "NonChargeable/ChargeInProgress", "Captured", "Closed/AmazonClosed"},
		{"pending_instrument_declines", "PendingThenDeclined", "", false, true, 201, "", "AuthorizationInitiated", "NonChargeable/ChargeInProgress", "Declined/HardDeclined", "NonChargeable/PaymentMethodInvalid"},
		{"pending_instrument_without_flag", "PendingThenAuthorized", "", false, false, 422, "TransactionTimedOut", "", "Chargeable", "", ""},
		{"pending_with_decline_code", "PendingThenAuthorized", "SoftDeclined", false, true, 201, "", "AuthorizationInitiated", "NonChargeable/ChargeInProgress", "Declined/SoftDeclined", "Chargeable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp := h.confirmed(t, "14.00", "", "USD", tc.scenario, nil)
			hdr := key()
			if tc.code != "" {
				withCode(hdr, tc.code)
			}
			r := h.createCharge(cp, "14.00", "USD", tc.captureNow, tc.pending, hdr)
			mustStatus(t, r, tc.status)
			if r.reason() != tc.reason {
				t.Errorf("reason %q, want %q: %s", r.reason(), tc.reason, r.raw)
			}
			if tc.charge != "" && stateOf(r) != tc.charge {
				t.Errorf("charge %s, want %s", stateOf(r), tc.charge)
			}
			if got := stateOf(h.permission(cp)); got != tc.permission {
				t.Errorf("permission %s, want %s", got, tc.permission)
			}
			if tc.settled == "" {
				return
			}
			h.clock.Advance(simulator.DefaultPendingDelay)
			if got := stateOf(h.call(nil, "GET", "/v2/charges/"+r.str("chargeId"), nil, nil)); got != tc.settled {
				t.Errorf("settled charge %s, want %s", got, tc.settled)
			}
			if got := stateOf(h.permission(cp)); got != tc.settledCP {
				t.Errorf("settled permission %s, want %s", got, tc.settledCP)
			}
		})
	}
	t.Run("retry_after_soft_decline", func(t *testing.T) {
		cp := h.confirmed(t, "14.00", "", "USD", "Authorized", nil)
		mustStatus(t, h.createCharge(cp, "14.00", "USD", false, false, withCode(key(), "SoftDeclined")), 422)
		mustStatus(t, h.createCharge(cp, "14.00", "USD", false, false, key()), 201)
	})
}

func TestOverchargeAndCreationOnlyOptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	for _, tc := range []struct{ amount, currency, limit string }{
		{"10.00", "USD", "500.00"},  // the 500 floor is more than 900%
		{"100.00", "EUR", "900.00"}, // 900% is more than the floor
		{"1000", "JPY", "70000"},
	} {
		cp := h.confirmed(t, tc.amount, "", tc.currency, "Authorized", map[string]any{"allowOvercharge": true, "extendExpiration": true})
		p := h.permission(cp)
		if p.str("limits", "amountLimit", "amount") != tc.limit {
			t.Errorf("%s %s: limit %s, want %s", tc.amount, tc.currency, p.str("limits", "amountLimit", "amount"), tc.limit)
		}
		created, _ := time.Parse("20060102T150405Z", p.str("creationTimestamp"))
		expires, _ := time.Parse("20060102T150405Z", p.str("expirationTimestamp"))
		if want := created.AddDate(0, 13, 0); !expires.Equal(want) {
			t.Errorf("extendExpiration: expires %s, want %s", expires, want)
		}
		over := h.createCharge(cp, tc.limit, tc.currency, true, false, key())
		mustStatus(t, over, 201)
	}
	// Both options are accepted only at creation.
	id := h.newSession("Authorize", false)
	for _, field := range []string{"allowOvercharge", "extendExpiration"} {
		r := h.call(nil, "PATCH", "/v2/checkoutSessions/"+id, map[string]any{"paymentDetails": map[string]any{field: true}}, nil)
		mustStatus(t, r, 400)
		if r.reason() != "UnrecognizedField" || !strings.Contains(r.str("message"), field) {
			t.Errorf("%s: %s", field, r.raw)
		}
	}
}

func TestAsynchronousCapture(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	authorized := func(t *testing.T) (string, string) {
		id := h.newSession("Authorize", false)
		mustStatus(t, h.buyer(id, "Authorized"), 200)
		c := h.complete(id, "14.00", "USD", nil)
		mustStatus(t, c, 200)
		return c.str("chargeId"), c.str("chargePermissionId")
	}
	capture := func(ch string, headers map[string]string) response {
		return h.call(nil, "POST", "/v2/charges/"+ch+"/capture", map[string]any{"captureAmount": money("14.00", "USD")}, headers)
	}
	for _, tc := range []struct {
		name    string
		after   time.Duration
		code    string
		now     string
		settled string
		cp      string
	}{
		{"within_seven_days", 7 * 24 * time.Hour, "", "Captured", "Captured", "Closed/AmazonClosed"},
		{"after_seven_days", 7*24*time.Hour + time.Second, "", "CaptureInitiated", "Captured", "Closed/AmazonClosed"},
		{"capture_initiated_code", 0, "CaptureInitiated", "CaptureInitiated", "Captured", "Closed/AmazonClosed"},
		{"amazon_rejected_code", 0, "AmazonRejected", "CaptureInitiated", "Declined/AmazonRejected", "Closed/AmazonCanceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, cp := authorized(t)
			h.clock.Advance(tc.after)
			hdr := key()
			if tc.code != "" {
				withCode(hdr, tc.code)
			}
			r := capture(ch, hdr)
			mustStatus(t, r, 200)
			if stateOf(r) != tc.now {
				t.Errorf("capture answered %s, want %s", stateOf(r), tc.now)
			}
			if tc.now == "CaptureInitiated" {
				if again := capture(ch, key()); again.status != 422 || again.reason() != "InvalidChargeStatus" {
					t.Errorf("capture during CaptureInitiated: %s", again.raw)
				}
				h.clock.Advance(simulator.DefaultPendingDelay - time.Second)
				if got := stateOf(h.call(nil, "GET", "/v2/charges/"+ch, nil, nil)); got != "CaptureInitiated" {
					t.Errorf("settled early: %s", got)
				}
				h.clock.Advance(time.Second)
			}
			g := h.call(nil, "GET", "/v2/charges/"+ch, nil, nil)
			if stateOf(g) != tc.settled {
				t.Errorf("charge %s, want %s", stateOf(g), tc.settled)
			}
			if got := stateOf(h.permission(cp)); got != tc.cp {
				t.Errorf("permission %s, want %s", got, tc.cp)
			}
		})
	}
}

func (h *harness) captured(t *testing.T, amount, currency string) (sessionID, chargeID, cpID string) {
	t.Helper()
	r := h.call(h.ledgerSigner(currency), "POST", "/v2/checkoutSessions", sessionBody("AuthorizeWithCapture", false, amount, currency), nil)
	mustStatus(t, r, 201)
	id := r.str("checkoutSessionId")
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	c := h.complete(id, amount, currency, nil)
	mustStatus(t, c, 200)
	return id, c.str("chargeId"), c.str("chargePermissionId")
}

func (h *harness) refund(chargeID, amount, currency string, headers map[string]string) response {
	h.t.Helper()
	return h.call(nil, "POST", "/v2/refunds", map[string]any{
		"chargeId": chargeID, "refundAmount": money(amount, currency), "softDescriptor": "SHOP REFUND",
	}, headers)
}

func TestRefunds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	t.Run("lifecycle", func(t *testing.T) {
		sid, ch, cp := h.captured(t, "100.00", "USD")
		r := h.refund(ch, "40.00", "USD", nil)
		mustStatus(t, r, 400)
		if r.reason() != "MissingHeader" {
			t.Errorf("%s", r.raw)
		}
		hdr := key()
		r = h.refund(ch, "40.00", "USD", hdr)
		mustStatus(t, r, 201)
		// Exactly the keys Amazon's refunds carry, in the Node SDK test's order.
		var keys []string
		dec := json.NewDecoder(strings.NewReader(string(r.raw)))
		_, _ = dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var skip json.RawMessage
			_ = dec.Decode(&skip)
		}
		if got := strings.Join(keys, ","); got != "refundId,chargeId,creationTimestamp,refundAmount,statusDetails,softDescriptor,releaseEnvironment" {
			t.Errorf("refund keys %s", got)
		}
		refundID := r.str("refundId")
		if !strings.HasPrefix(refundID, cp+"-R") || stateOf(r) != "RefundInitiated" || r.str("refundAmount", "amount") != "40.00" ||
			r.str("softDescriptor") != "SHOP REFUND" || r.str("releaseEnvironment") != "Sandbox" {
			t.Errorf("%s", r.raw)
		}
		if replay := h.refund(ch, "40.00", "USD", hdr); replay.status != 201 || replay.str("refundId") != refundID {
			t.Errorf("replay: %s", replay.raw)
		}
		// The Java SDK asks with a trailing slash.
		g := h.call(nil, "GET", "/v2/refunds/"+refundID+"/", nil, nil)
		mustStatus(t, g, 200)
		if stateOf(g) != "RefundInitiated" {
			t.Errorf("%s", g.raw)
		}
		h.clock.Advance(simulator.DefaultPendingDelay - time.Second)
		if stateOf(h.call(nil, "GET", "/v2/refunds/"+refundID, nil, nil)) != "RefundInitiated" {
			t.Errorf("settled early")
		}
		h.clock.Advance(time.Second)
		g = h.call(nil, "GET", "/v2/refunds/"+refundID, nil, nil)
		if stateOf(g) != "Refunded" {
			t.Errorf("%s", g.raw)
		}
		c := h.call(nil, "GET", "/v2/charges/"+ch, nil, nil)
		if c.str("refundedAmount", "amount") != "40.00" || stateOf(c) != "Captured" {
			t.Errorf("charge after refund: %s", c.raw)
		}
		calls := h.calls(sid)
		if calls["CreateRefund"] != 3 || calls["GetRefund"] != 3 {
			t.Errorf("calls %v", calls)
		}
	})
	t.Run("overcompensation_limits", func(t *testing.T) {
		for _, tc := range []struct{ captured, currency, first, over, exact string }{
			{"100.00", "USD", "40.00", "75.01", "75.00"},    // 15% (15.00) is less than 75
			{"1000.00", "EUR", "1000.00", "75.01", "75.00"}, // 75 is less than 15% (150.00)
			{"100000", "JPY", "100000", "8401", "8400"},     // 8,400 JPY is less than 15%
			{"10.00", "GBP", "10.00", "1.51", "1.50"},       // 15% of 10.00
		} {
			_, ch, _ := h.captured(t, tc.captured, tc.currency)
			mustStatus(t, h.refund(ch, tc.first, tc.currency, key()), 201)
			r := h.refund(ch, tc.over, tc.currency, key())
			mustStatus(t, r, 400)
			if r.reason() != "TransactionAmountExceeded" {
				t.Errorf("%s", r.raw)
			}
			mustStatus(t, h.refund(ch, tc.exact, tc.currency, key()), 201)
		}
	})
	t.Run("declined_by_control_api", func(t *testing.T) {
		_, ch, _ := h.captured(t, "20.00", "USD")
		r := h.refund(ch, "20.00", "USD", key())
		mustStatus(t, r, 201)
		id := r.str("refundId")
		for _, bad := range []map[string]string{{"state": "Declined"}, {"state": "Declined", "reasonCode": "SoftDeclined"}, {"state": "Canceled"}} {
			mustStatus(t, h.control("POST", "refunds/"+id+"/outcome", bad), 400)
		}
		mustStatus(t, h.control("POST", "refunds/nope/outcome", map[string]string{"state": "Refunded"}), 404)
		o := h.control("POST", "refunds/"+id+"/outcome", map[string]string{"state": "Declined", "reasonCode": "AmazonRejected"})
		mustStatus(t, o, 200)
		if stateOf(o) != "RefundInitiated" {
			t.Errorf("outcome settled at once: %s", o.raw)
		}
		h.clock.Advance(simulator.DefaultPendingDelay)
		g := h.call(nil, "GET", "/v2/refunds/"+id, nil, nil)
		if stateOf(g) != "Declined/AmazonRejected" || g.str("statusDetails", "reasonDescription") == "" {
			t.Errorf("%s", g.raw)
		}
		if c := h.call(nil, "GET", "/v2/charges/"+ch, nil, nil); c.str("refundedAmount", "amount") != "0.00" {
			t.Errorf("a declined refund counted: %s", c.raw)
		}
		mustStatus(t, h.control("POST", "refunds/"+id+"/outcome", map[string]string{"state": "Refunded"}), 422)
		// The declined refund no longer uses the allowance.
		mustStatus(t, h.refund(ch, "23.00", "USD", key()), 201)
	})
	t.Run("refusals", func(t *testing.T) {
		id := h.newSession("Authorize", false)
		mustStatus(t, h.buyer(id, "Authorized"), 200)
		authorized := h.complete(id, "14.00", "USD", nil).str("chargeId")
		_, ch, _ := h.captured(t, "14.00", "USD")
		for _, tc := range []struct {
			name   string
			body   any
			code   string
			status int
			reason string
		}{
			{"not_captured", map[string]any{"chargeId": authorized, "refundAmount": money("1.00", "USD")}, "", 422, "InvalidChargeStatus"},
			{"unknown_charge", map[string]any{"chargeId": "S01-0000000-0000000-C000000", "refundAmount": money("1.00", "USD")}, "", 404, "ResourceNotFound"},
			{"currency", map[string]any{"chargeId": ch, "refundAmount": money("1.00", "EUR")}, "", 400, "CurrencyMismatch"},
			{"no_charge", map[string]any{"refundAmount": money("1.00", "USD")}, "", 400, "MissingParameterValue"},
			{"no_amount", map[string]any{"chargeId": ch}, "", 400, "MissingParameterValue"},
			{"soft_descriptor", map[string]any{"chargeId": ch, "refundAmount": money("1.00", "USD"), "softDescriptor": strings.Repeat("x", 17)}, "", 400, "InvalidParameterValue"},
			// Amazon documents no simulation code for refunds.
			{"simulation_code", map[string]any{"chargeId": ch, "refundAmount": money("1.00", "USD")}, "RefundDeclined", 400, "InvalidSandboxSimulationSpecified"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hdr := key()
				if tc.code != "" {
					withCode(hdr, tc.code)
				}
				r := h.call(nil, "POST", "/v2/refunds", tc.body, hdr)
				mustStatus(t, r, tc.status)
				if r.reason() != tc.reason {
					t.Errorf("%s", r.raw)
				}
			})
		}
		mustStatus(t, h.call(nil, "GET", "/v2/refunds/S01-0000000-0000000-R000000", nil, nil), 404)
		mustStatus(t, h.call(nil, "DELETE", "/v2/refunds/x", nil, nil), 405)
	})
}

func TestUpdateAndCloseChargePermission(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	t.Run("update_merchant_metadata", func(t *testing.T) {
		_, _, cp := h.captured(t, "14.00", "USD")
		r := h.call(nil, "PATCH", "/v2/chargePermissions/"+cp, map[string]any{
			"merchantMetadata": map[string]any{"merchantReferenceId": "order-4711", "customInformation": "shipped"},
		}, nil)
		mustStatus(t, r, 200)
		if r.str("merchantMetadata", "merchantReferenceId") != "order-4711" || r.str("chargePermissionId") != cp {
			t.Errorf("%s", r.raw)
		}
		// The session's other metadata is kept.
		if g := h.permission(cp); g.str("merchantMetadata", "merchantReferenceId") != "order-4711" || g.str("merchantMetadata", "customInformation") != "shipped" {
			t.Errorf("%s", g.raw)
		}
		for _, body := range []any{
			map[string]any{"merchantMetadata": map[string]any{"merchantReferenceId": strings.Repeat("x", 257)}},
			map[string]any{"chargeAmount": money("1.00", "USD")},
			map[string]any{"recurringMetadata": map[string]any{"frequency": map[string]any{"unit": "Month", "value": "1"}}},
		} {
			mustStatus(t, h.call(nil, "PATCH", "/v2/chargePermissions/"+cp, body, nil), 400)
		}
		mustStatus(t, h.call(nil, "PATCH", "/v2/chargePermissions/S01-0000000-0000000", map[string]any{}, nil), 404)
	})
	t.Run("close_cancels_pending_charges", func(t *testing.T) {
		id := h.newSession("Authorize", false)
		mustStatus(t, h.buyer(id, "Authorized"), 200)
		c := h.complete(id, "14.00", "USD", nil)
		ch, cp := c.str("chargeId"), c.str("chargePermissionId")
		mustStatus(t, h.call(nil, "DELETE", "/v2/chargePermissions/"+cp+"/close", map[string]any{"cancelPendingCharges": true}, nil), 400)
		r := h.call(nil, "DELETE", "/v2/chargePermissions/"+cp+"/close", map[string]any{"closureReason": "Order canceled", "cancelPendingCharges": true}, nil)
		mustStatus(t, r, 200)
		if stateOf(r) != "Closed/MerchantClosed" {
			t.Errorf("%s", r.raw)
		}
		reasons := r.body["statusDetails"].(map[string]any)["reasons"].([]any)
		if reasons[0].(map[string]any)["reasonDescription"] != "Order canceled" {
			t.Errorf("closureReason not kept: %s", r.raw)
		}
		if got := stateOf(h.call(nil, "GET", "/v2/charges/"+ch, nil, nil)); got != "Canceled/ChargePermissionCanceled" {
			t.Errorf("charge %s", got)
		}
		again := h.call(nil, "DELETE", "/v2/chargePermissions/"+cp+"/close", map[string]any{"closureReason": "again"}, nil)
		mustStatus(t, again, 422)
		if again.reason() != "InvalidChargePermissionStatus" {
			t.Errorf("%s", again.raw)
		}
		// Bookkeeping still works on a closed permission.
		mustStatus(t, h.call(nil, "PATCH", "/v2/chargePermissions/"+cp, map[string]any{"merchantMetadata": map[string]any{"merchantReferenceId": "x"}}, nil), 200)
		mustStatus(t, h.createCharge(cp, "1.00", "USD", false, false, key()), 422)
	})
	t.Run("close_keeps_open_authorizations", func(t *testing.T) {
		id := h.newSession("Authorize", false)
		mustStatus(t, h.buyer(id, "Authorized"), 200)
		c := h.complete(id, "14.00", "USD", nil)
		ch, cp := c.str("chargeId"), c.str("chargePermissionId")
		mustStatus(t, h.call(nil, "DELETE", "/v2/chargePermissions/"+cp+"/close", map[string]any{"closureReason": "No more shipments", "cancelPendingCharges": false}, nil), 200)
		mustStatus(t, h.call(nil, "POST", "/v2/charges/"+ch+"/capture", map[string]any{"captureAmount": money("14.00", "USD")}, key()), 200)
		if got := stateOf(h.permission(cp)); got != "Closed/MerchantClosed" {
			t.Errorf("permission %s", got)
		}
	})
	t.Run("amazon_closed_simulation", func(t *testing.T) {
		cp := h.confirmed(t, "14.00", "", "USD", "Authorized", nil)
		mustStatus(t, h.call(nil, "DELETE", "/v2/chargePermissions/"+cp+"/close", map[string]any{"closureReason": "x"},
			map[string]string{"x-amz-pay-simulation-code": "HardDeclined"}), 400)
		r := h.call(nil, "DELETE", "/v2/chargePermissions/"+cp+"/close", map[string]any{"closureReason": "x"},
			map[string]string{"x-amz-pay-simulation-code": "AmazonClosed"})
		mustStatus(t, r, 200)
		if stateOf(r) != "Closed/AmazonClosed" {
			t.Errorf("%s", r.raw)
		}
	})
}

func TestFinalizeCheckoutSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	ready := func(t *testing.T) response {
		body := sessionBody("Authorize", false, "10.00", "USD")
		body["supplementaryData"] = "cart-17"
		r := h.call(nil, "POST", "/v2/checkoutSessions", body, nil)
		mustStatus(t, r, 201)
		b := h.buyer(r.str("checkoutSessionId"), "Authorized")
		mustStatus(t, b, 200)
		return b
	}
	finalize := func(s response, mutate func(map[string]any)) response {
		body := map[string]any{
			"chargeAmount":                  money("10.00", "USD"),
			"paymentIntent":                 "AuthorizeWithCapture",
			"canHandlePendingAuthorization": false,
			"supplementaryData":             "cart-17",
			"shippingAddress":               s.body["shippingAddress"],
			"billingAddress":                nil,
		}
		if mutate != nil {
			mutate(body)
		}
		return h.call(nil, "POST", "/v2/checkoutSessions/"+s.str("checkoutSessionId")+"/finalize", body, nil)
	}
	for _, tc := range []struct {
		name   string
		mutate func(map[string]any)
		status int
		reason string
	}{
		{"amount", func(b map[string]any) { b["chargeAmount"] = money("10.01", "USD") }, 409, "AmountMismatch"},
		{"supplementary_data", func(b map[string]any) { delete(b, "supplementaryData") }, 400, "InvalidParameterValue"},
		{"address", func(b map[string]any) {
			a := map[string]any{}
			for k, v := range b["shippingAddress"].(map[string]any) {
				a[k] = v
			}
			a["postalCode"] = "00000"
			b["shippingAddress"] = a
		}, 400, "InvalidParameterValue"},
		{"no_address", func(b map[string]any) { delete(b, "shippingAddress") }, 400, "InvalidParameterValue"},
		{"intent", func(b map[string]any) { b["paymentIntent"] = "Later" }, 400, "InvalidParameterValue"},
		{"simulation_code", nil, 400, "InvalidSandboxSimulationSpecified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ready(t)
			var r response
			if tc.name == "simulation_code" {
				r = h.call(nil, "POST", "/v2/checkoutSessions/"+s.str("checkoutSessionId")+"/finalize", map[string]any{"chargeAmount": money("10.00", "USD")},
					map[string]string{"x-amz-pay-simulation-code": "HardDeclined"})
			} else {
				r = finalize(s, tc.mutate)
			}
			mustStatus(t, r, tc.status)
			if r.reason() != tc.reason {
				t.Errorf("%s", r.raw)
			}
		})
	}
	t.Run("refused_changes_nothing", func(t *testing.T) {
		// A Finalize refused for its amount must not leave its
		// paymentIntent on the session: the Complete that follows
		// authorizes as the session was updated.
		s := ready(t)
		r := finalize(s, func(b map[string]any) { b["chargeAmount"] = money("10.01", "USD") })
		mustStatus(t, r, 409)
		got := h.call(nil, "GET", "/v2/checkoutSessions/"+s.str("checkoutSessionId"), nil, nil)
		mustStatus(t, got, 200)
		if intent := got.str("paymentDetails", "paymentIntent"); intent != "Authorize" {
			t.Errorf("paymentIntent after a refused Finalize = %q, want Authorize", intent)
		}
	})
	t.Run("ok", func(t *testing.T) {
		s := ready(t)
		r := finalize(s, nil)
		mustStatus(t, r, 200)
		if stateOf(r) != "Completed" || r.str("chargeId") == "" {
			t.Fatalf("%s", r.raw)
		}
		if got := stateOf(h.call(nil, "GET", "/v2/charges/"+r.str("chargeId"), nil, nil)); got != "Captured" {
			t.Errorf("finalize's paymentIntent not applied: charge %s", got)
		}
		mustStatus(t, finalize(s, nil), 422)
		calls := h.calls(s.str("checkoutSessionId"))
		if calls["FinalizeCheckoutSession"] != 2 {
			t.Errorf("calls %v", calls)
		}
	})
}

func TestGetBuyer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	mustStatus(t, h.control("POST", "buyerTokens", map[string]string{"checkoutSessionId": id}), 422)
	b := h.buyer(id, "Authorized")
	mustStatus(t, b, 200)
	tok := h.control("POST", "buyerTokens", map[string]string{"checkoutSessionId": id})
	mustStatus(t, tok, 201)
	r := h.call(nil, "GET", "/v2/buyers/"+tok.str("buyerToken"), nil, nil)
	mustStatus(t, r, 200)
	if r.str("buyerId") != b.str("buyer", "buyerId") || r.str("buyerId") != tok.str("buyerId") || r.str("email") == "" ||
		r.str("postalCode") != "98109" || r.str("countryCode") != "US" || r.str("shippingAddress", "city") != "Seattle" {
		t.Errorf("%s", r.raw)
	}
	if _, ok := r.body["primeMembershipTypes"]; !ok {
		t.Errorf("primeMembershipTypes missing: %s", r.raw)
	}
	fresh := h.control("POST", "buyerTokens", map[string]string{"region": "jp"})
	mustStatus(t, fresh, 201)
	if g := h.call(nil, "GET", "/v2/buyers/"+fresh.str("buyerToken"), nil, nil); g.str("countryCode") != "JP" {
		t.Errorf("%s", g.raw)
	}
	mustStatus(t, h.control("POST", "buyerTokens", map[string]string{"region": "xx"}), 400)
	mustStatus(t, h.call(nil, "GET", "/v2/buyers/nosuchtoken", nil, nil), 404)
	other := h.control("POST", "buyerTokens", map[string]string{"merchantId": "merchant-2"})
	mustStatus(t, h.call(nil, "GET", "/v2/buyers/"+other.str("buyerToken"), nil, nil), 404)
}

func TestPostCheckoutObjectsSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, simulator.Options{StateDir: dir})
	sid, ch, cp := h.captured(t, "50.00", "USD")
	r := h.refund(ch, "10.00", "USD", key())
	mustStatus(t, r, 201)
	cp2 := h.confirmed(t, "20.00", "", "USD", "Authorized", nil)
	pending := h.createCharge(cp2, "5.00", "USD", false, true, withCode(key(), "AuthorizationInitiated"))
	mustStatus(t, pending, 201)
	mustStatus(t, h.buyer(h.newSession("Authorize", false), "Authorized"), 200)
	tok := h.control("POST", "buyerTokens", map[string]string{"region": "eu"})
	mustStatus(t, tok, 201)
	mustStatus(t, h.call(nil, "PATCH", "/v2/chargePermissions/"+cp, map[string]any{"merchantMetadata": map[string]any{"merchantReferenceId": "order-9"}}, nil), 200)

	h = restart(t, h, dir, h.clock.Now())
	if g := h.call(nil, "GET", "/v2/refunds/"+r.str("refundId"), nil, nil); stateOf(g) != "RefundInitiated" {
		t.Fatalf("refund after restart: %s", g.raw)
	}
	if g := h.permission(cp); g.str("merchantMetadata", "merchantReferenceId") != "order-9" {
		t.Errorf("update lost: %s", g.raw)
	}
	mustStatus(t, h.call(nil, "GET", "/v2/buyers/"+tok.str("buyerToken"), nil, nil), 200)
	// Settlements resume after the restart.
	h.clock.Advance(simulator.DefaultPendingDelay)
	if g := h.call(nil, "GET", "/v2/refunds/"+r.str("refundId"), nil, nil); stateOf(g) != "Refunded" {
		t.Errorf("refund did not settle after restart: %s", g.raw)
	}
	if g := h.call(nil, "GET", "/v2/charges/"+pending.str("chargeId"), nil, nil); stateOf(g) != "Authorized" {
		t.Errorf("created charge did not settle after restart: %s", g.raw)
	}
	if c := h.calls(sid); c["CreateRefund"] != 1 || c["GetRefund"] != 2 || c["UpdateChargePermission"] != 1 {
		t.Errorf("calls after restart %v", c)
	}
}

func TestReauthorizeAfterExpiredUnused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	c := h.complete(id, "14.00", "USD", nil)
	mustStatus(t, c, 200)
	cp := c.str("chargePermissionId")
	h.clock.Advance(30 * 24 * time.Hour)
	// The expired authorization releases its amount without being read.
	r := h.createCharge(cp, "14.00", "USD", true, false, key())
	mustStatus(t, r, 201)
	if stateOf(r) != "Captured" {
		t.Errorf("%s", r.raw)
	}
	if got := stateOf(h.call(nil, "GET", "/v2/charges/"+c.str("chargeId"), nil, nil)); got != "Canceled/ExpiredUnused" {
		t.Errorf("first charge %s", got)
	}
}

func TestCreateChargeOnRecurringAndSavedWallet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	body := sessionBody("Confirm", false, "10.00", "USD")
	body["chargePermissionType"] = "Recurring"
	body["recurringMetadata"] = map[string]any{"frequency": map[string]any{"unit": "Month", "value": "1"}, "amount": money("10.00", "USD")}
	r := h.call(nil, "POST", "/v2/checkoutSessions", body, nil)
	mustStatus(t, r, 201)
	id := r.str("checkoutSessionId")
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	c := h.complete(id, "10.00", "USD", nil)
	mustStatus(t, c, 200)
	cp := c.str("chargePermissionId")
	// A subscription is charged every period: neither the one-time limit
	// nor the 25 charges apply.
	for i := range 26 {
		if r := h.createCharge(cp, "10.00", "USD", true, false, key()); r.status != 201 || stateOf(r) != "Captured" {
			t.Fatalf("month %d: %s", i+1, r.raw)
		}
	}
	if p := h.permission(cp); stateOf(p) != "Chargeable" {
		t.Errorf("%s", p.raw)
	}
	mustStatus(t, h.call(nil, "PATCH", "/v2/chargePermissions/"+cp, map[string]any{
		"recurringMetadata": map[string]any{"frequency": map[string]any{"unit": "Month", "value": "2"}},
	}, nil), 200)
	if p := h.permission(cp); !strings.Contains(string(p.raw), `"value":"2"`) {
		t.Errorf("recurringMetadata not updated: %s", p.raw)
	}

	// A saved wallet set up without an amount is charged in any amount.
	saved := map[string]any{
		"storeId":                     "amzn1.application-oa2-client.0123456789abcdef",
		"chargePermissionType":        "PaymentMethodOnFile",
		"paymentMethodOnFileMetadata": map[string]any{"setupOnly": true},
		"webCheckoutDetails":          map[string]any{"checkoutReviewReturnUrl": "https://shop.example/review", "checkoutResultReturnUrl": "https://shop.example/result"},
		"paymentDetails":              map[string]any{"paymentIntent": "Confirm"},
	}
	r = h.call(nil, "POST", "/v2/checkoutSessions", saved, nil)
	mustStatus(t, r, 201)
	id = r.str("checkoutSessionId")
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	c = h.call(nil, "POST", "/v2/checkoutSessions/"+id+"/complete", map[string]any{}, nil)
	mustStatus(t, c, 200)
	mustStatus(t, h.createCharge(c.str("chargePermissionId"), "5.00", "USD", true, false, key()), 201)
}
