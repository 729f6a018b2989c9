package simulator_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

func TestPathForms(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	tests := []struct {
		prefix   string
		slash    string
		cpPrefix string
	}{
		{"/v2", "", "S01-"},
		{"/v2", "/", "S01-"},
		{"/sandbox/v2", "", "S01-"},
		{"/sandbox/v2", "/", "S01-"},
		{"/live/v2", "", "P01-"},
		{"/live/v2", "/", "P01-"},
	}
	for _, tc := range tests {
		t.Run(strings.Trim(tc.prefix, "/")+"_slash_"+tc.slash, func(t *testing.T) {
			r := h.call(nil, "POST", tc.prefix+"/checkoutSessions"+tc.slash, sessionBody("Authorize", false, "14.00", "USD"), nil)
			mustStatus(t, r, 201)
			if r.header.Get("x-amz-pay-request-id") == "" {
				t.Error("no x-amz-pay-request-id")
			}
			id := r.str("checkoutSessionId")
			mustStatus(t, h.call(nil, "GET", tc.prefix+"/checkoutSessions/"+id+tc.slash, nil, nil), 200)
			mustStatus(t, h.call(nil, "PATCH", tc.prefix+"/checkoutSessions/"+id+tc.slash,
				map[string]any{"merchantMetadata": map[string]any{"noteToBuyer": "Thanks"}}, nil), 200)
			mustStatus(t, h.buyer(id, "Authorized"), 200)
			c := h.call(nil, "POST", tc.prefix+"/checkoutSessions/"+id+"/complete"+tc.slash,
				map[string]any{"chargeAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}}, nil)
			mustStatus(t, c, 200)
			cp := c.str("chargePermissionId")
			if !strings.HasPrefix(cp, tc.cpPrefix) {
				t.Errorf("chargePermissionId %q lacks prefix %q", cp, tc.cpPrefix)
			}
			chargeID := c.str("chargeId")
			mustStatus(t, h.call(nil, "GET", tc.prefix+"/charges/"+chargeID+tc.slash, nil, nil), 200)
			mustStatus(t, h.call(nil, "GET", tc.prefix+"/chargePermissions/"+cp+tc.slash, nil, nil), 200)
			mustStatus(t, h.call(nil, "POST", tc.prefix+"/charges/"+chargeID+"/capture"+tc.slash,
				map[string]any{"captureAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}}, nil), 200)
		})
	}
	t.Run("unknown_path_and_method", func(t *testing.T) {
		r := h.call(nil, "GET", "/v2/disputes", nil, nil)
		mustStatus(t, r, 404)
		if r.reason() != "ResourceNotFound" || r.header.Get("x-amz-pay-request-id") == "" {
			t.Errorf("got %s", r.raw)
		}
		r = h.call(nil, "PUT", "/v2/checkoutSessions/x", nil, nil)
		mustStatus(t, r, 405)
		r = h.call(nil, "GET", "/v3/checkoutSessions/x", nil, nil)
		mustStatus(t, r, 404)
	})
}

func TestIDFormatsAndRegions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	for _, tc := range []struct{ region, digit, currency string }{
		{"na", "1", "USD"}, {"US", "1", "USD"}, {"eu", "2", "EUR"}, {"de", "2", "GBP"}, {"UK", "2", "JPY"}, {"jp", "3", "JPY"},
	} {
		t.Run(tc.region, func(t *testing.T) {
			s := *h.signer
			s.region = tc.region
			r := h.call(&s, "POST", "/v2/checkoutSessions", sessionBody("Authorize", false, "1000", tc.currency), nil)
			mustStatus(t, r, 201)
			id := r.str("checkoutSessionId")
			mustStatus(t, h.buyer(id, "Authorized"), 200)
			c := h.call(&s, "POST", "/v2/checkoutSessions/"+id+"/complete",
				map[string]any{"chargeAmount": map[string]any{"amount": 1000, "currencyCode": tc.currency}}, nil)
			mustStatus(t, c, 200)
			cp, ch := c.str("chargePermissionId"), c.str("chargeId")
			if len(cp) != 19 || !strings.HasPrefix(cp, "S0"+tc.digit+"-") || !strings.HasPrefix(ch, cp+"-C") || len(ch) != len(cp)+8 {
				t.Errorf("ids %q %q", cp, ch)
			}
			if ts := c.str("creationTimestamp"); ts != epoch.Format("20060102T150405Z") {
				t.Errorf("creationTimestamp %q", ts)
			}
		})
	}
	s := *h.signer
	s.region = "mars"
	r := h.call(&s, "POST", "/v2/checkoutSessions", sessionBody("Authorize", false, "1", "USD"), nil)
	mustStatus(t, r, 400)
	if r.reason() != "InvalidHeaderValue" {
		t.Errorf("reason %s", r.reason())
	}
}

func TestSignatureVerification(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	path := "/v2/checkoutSessions/" + id
	unknown := &signer{key: testKey(t, 1), keyID: "SIMUNKNOWN", algorithm: "AMZN-PAY-RSASSA-PSS"}
	tests := []struct {
		name   string
		signer signer
		mutate func(*signer)
		status int
		reason string
	}{
		{name: "v1_basic_date", mutate: func(s *signer) { s.algorithm = "AMZN-PAY-RSASSA-PSS" }, status: 200},
		{name: "v2_basic_date", status: 200},
		{name: "v1_extended_date", mutate: func(s *signer) { s.algorithm = "AMZN-PAY-RSASSA-PSS"; s.extended = true }, status: 200},
		{name: "v2_extended_date", mutate: func(s *signer) { s.extended = true }, status: 200},
		{name: "date_within_skew", mutate: func(s *signer) { s.dateOffset = -14 * time.Minute }, status: 200},
		{name: "date_too_old", mutate: func(s *signer) { s.dateOffset = -16 * time.Minute }, status: 400, reason: "InvalidHeaderValue"},
		{name: "date_in_future", mutate: func(s *signer) { s.dateOffset = 16 * time.Minute }, status: 400, reason: "InvalidHeaderValue"},
		{name: "v2_name_with_v1_salt", mutate: func(s *signer) { s.saltOverride = 20 }, status: 403, reason: "InvalidRequestSignature"},
		{name: "v1_name_with_v2_salt", mutate: func(s *signer) { s.algorithm = "AMZN-PAY-RSASSA-PSS"; s.saltOverride = 32 }, status: 403, reason: "InvalidRequestSignature"},
		{name: "unknown_key", mutate: func(s *signer) { *s = *unknown }, status: 403, reason: "InvalidRequestSignature"},
		{name: "registered_id_other_private_key", mutate: func(s *signer) { s.key = testKey(t, 1) }, status: 403, reason: "InvalidRequestSignature"},
		{name: "date_unsigned", mutate: func(s *signer) { s.omit = map[string]bool{"x-amz-pay-date": true} }, status: 403, reason: "InvalidRequestSignature"},
		{name: "host_unsigned", mutate: func(s *signer) { s.omit = map[string]bool{"x-amz-pay-host": true} }, status: 403, reason: "InvalidRequestSignature"},
		{name: "region_unsigned", mutate: func(s *signer) { s.omit = map[string]bool{"x-amz-pay-region": true} }, status: 403, reason: "InvalidRequestSignature"},
		{name: "accept_unsigned_is_fine", mutate: func(s *signer) { s.omit = map[string]bool{"accept": true, "content-type": true} }, status: 200},
		{name: "unsupported_algorithm", mutate: func(s *signer) { s.algorithm = "AMZN-PAY-RSASSA-PKCS1" }, status: 400, reason: "InvalidHeaderValue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := *h.signer
			if tc.mutate != nil {
				tc.mutate(&s)
			}
			r := h.call(&s, "GET", path, nil, nil)
			mustStatus(t, r, tc.status)
			if r.reason() != tc.reason {
				t.Errorf("reasonCode = %q, want %q", r.reason(), tc.reason)
			}
		})
	}

	t.Run("tampering", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			tamper func(hd http.Header)
			status int
			reason string
		}{
			{"changed_signed_header", func(hd http.Header) { hd.Set("X-Amz-Pay-Region", "eu") }, 403, "InvalidRequestSignature"},
			{"changed_date", func(hd http.Header) { hd.Set("X-Amz-Pay-Date", epoch.Add(time.Second).Format("20060102T150405Z")) }, 403, "InvalidRequestSignature"},
			{"signed_header_removed", func(hd http.Header) { hd.Del("Accept") }, 403, "InvalidRequestSignature"},
			{"required_header_removed", func(hd http.Header) { hd.Del("X-Amz-Pay-Region") }, 400, "MissingHeader"},
			{"missing_authorization", func(hd http.Header) { hd.Del("Authorization") }, 400, "MissingHeader"},
			{"garbled_authorization", func(hd http.Header) { hd.Set("Authorization", "AMZN-PAY-RSASSA-PSS-V2 PublicKeyId") }, 400, "InvalidHeaderValue"},
			{"signature_not_base64", func(hd http.Header) {
				hd.Set("Authorization", "AMZN-PAY-RSASSA-PSS-V2 PublicKeyId=SIMTESTKEY0, SignedHeaders=x-amz-pay-date;x-amz-pay-host;x-amz-pay-region, Signature=***")
			}, 400, "InvalidHeaderValue"},
			{"unsigned_extra_header_is_fine", func(hd http.Header) { hd.Set("X-Amz-Pay-Sdk-Type", "Go") }, 200, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := `{"merchantMetadata":{"noteToBuyer":"x"}}`
				req := newRequest(t, h, "PATCH", path, body)
				h.signer.sign(req, []byte(body), h.clock.Now())
				tc.tamper(req.Header)
				r := h.send(req)
				mustStatus(t, r, tc.status)
				if r.reason() != tc.reason {
					t.Errorf("reasonCode = %q, want %q", r.reason(), tc.reason)
				}
			})
		}
		body := `{"merchantMetadata":{"noteToBuyer":"x"}}`
		req := newRequest(t, h, "PATCH", path, `{"merchantMetadata":{"noteToBuyer":"y"}}`)
		h.signer.sign(req, []byte(body), h.clock.Now())
		r := h.send(req)
		mustStatus(t, r, 403)
		if r.reason() != "InvalidRequestSignature" {
			t.Errorf("changed body: %s", r.raw)
		}
	})
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	body := sessionBody("Authorize", false, "14.00", "USD")
	key := map[string]string{"x-amz-pay-idempotency-key": "a1B2_c3-d4"}
	first := h.call(nil, "POST", "/v2/checkoutSessions", body, key)
	mustStatus(t, first, 201)
	h.clock.Advance(time.Minute)
	replay := h.call(nil, "POST", "/v2/checkoutSessions", body, key)
	mustStatus(t, replay, 201)
	if string(replay.raw) != string(first.raw) {
		t.Errorf("replay body differs:\n%s\n%s", first.raw, replay.raw)
	}
	if replay.header.Get("x-amz-pay-request-id") == first.header.Get("x-amz-pay-request-id") {
		t.Error("replay reused the request id")
	}
	id := first.str("checkoutSessionId")
	if got := h.calls(id)["CreateCheckoutSession"]; got != 2 {
		t.Errorf("CreateCheckoutSession calls = %d, want 2 (the replay reached Amazon)", got)
	}

	changed := sessionBody("Authorize", false, "15.00", "USD")
	r := h.call(nil, "POST", "/v2/checkoutSessions", changed, key)
	mustStatus(t, r, 400)
	if r.reason() != "DuplicateIdempotencyKey" {
		t.Errorf("reason %s", r.reason())
	}
	// Same key, same body, other operation path.
	r = h.call(nil, "POST", "/v2/checkoutSessions/"+id+"/complete", body, key)
	mustStatus(t, r, 400)
	if r.reason() != "DuplicateIdempotencyKey" {
		t.Errorf("reason %s", r.reason())
	}

	for _, bad := range []string{strings.Repeat("a", 33), "has space", "dot.ted", "ümlaut"} {
		r := h.call(nil, "POST", "/v2/checkoutSessions", body, map[string]string{"x-amz-pay-idempotency-key": bad})
		mustStatus(t, r, 400)
		if r.reason() != "InvalidHeaderValue" {
			t.Errorf("key %q: reason %s", bad, r.reason())
		}
	}
	mustStatus(t, h.call(nil, "POST", "/v2/checkoutSessions", body,
		map[string]string{"x-amz-pay-idempotency-key": strings.Repeat("Z", 32)}), 201)
	// Keys are scoped per merchant: another merchant may use the same key.
	other := &signer{key: testKey(t, 2), keyID: "SIMOTHERMERCHANT", algorithm: "AMZN-PAY-RSASSA-PSS"}
	if err := h.sim.RegisterPublicKey(other.keyID, &other.key.PublicKey, "A2OTHERMERCHANT"); err != nil {
		t.Fatal(err)
	}
	r = h.call(other, "POST", "/v2/checkoutSessions", changed, key)
	mustStatus(t, r, 201)
	if r.str("checkoutSessionId") == id {
		t.Error("other merchant got a replay")
	}
	// A key on GET has no effect and is not validated.
	mustStatus(t, h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, map[string]string{"x-amz-pay-idempotency-key": "not valid!"}), 200)
}

func TestCompleteScenarios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		intent        string
		pending       bool
		scenario      string // "" = buyer never acts
		status        int
		reason        string
		sessionState  string
		sessionReason string
		chargeState   string // "" = no charge
		cpState       string
	}{
		{"authorize", "Authorize", false, "Authorized", 200, "", "Completed", "", "Authorized", "Chargeable"},
		{"authorize_with_capture", "AuthorizeWithCapture", false, "Authorized", 200, "", "Completed", "", "Captured", "Closed"},
		{"confirm", "Confirm", false, "Authorized", 200, "", "Completed", "", "", "Chargeable"},
		{"confirm_pending_scenario", "Confirm", true, "PendingThenDeclined", 200, "", "Completed", "", "", "Chargeable"},
		{"buyer_canceled", "Authorize", false, "BuyerCanceled", 422, "CheckoutSessionCanceled", "Canceled", "BuyerCanceled", "", ""},
		{"declined", "Authorize", true, "Declined", 422, "CheckoutSessionCanceled", "Canceled", "Declined", "", ""},
		{"pending_then_authorized", "Authorize", true, "PendingThenAuthorized", 202, "", "Completed", "", "AuthorizationInitiated", "NonChargeable"},
		// The pending instruments need canHandlePendingAuthorization: the
		// synchronous authorization times out and the checkout fails.
		{"pending_then_authorized_sync", "Authorize", false, "PendingThenAuthorized", 422, "CheckoutSessionCanceled", "Canceled", "Declined", "", ""},
		{"pending_then_declined", "AuthorizeWithCapture", true, "PendingThenDeclined", 202, "", "Completed", "", "AuthorizationInitiated", "NonChargeable"},
		{"pending_then_declined_sync", "Authorize", false, "PendingThenDeclined", 422, "CheckoutSessionCanceled", "Canceled", "Declined", "", ""},
		{"buyer_not_done", "Authorize", false, "", 422, "InvalidCheckoutSessionStatus", "Open", "", "", ""},
	}
	h := newHarness(t, simulator.Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := h.newSession(tc.intent, tc.pending)
			if tc.scenario != "" {
				mustStatus(t, h.buyer(id, tc.scenario), 200)
			}
			r := h.complete(id, "14.00", "USD", nil)
			mustStatus(t, r, tc.status)
			if r.reason() != tc.reason {
				t.Errorf("reasonCode = %q, want %q", r.reason(), tc.reason)
			}
			s := h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil)
			if got := s.str("statusDetails", "state"); got != tc.sessionState {
				t.Errorf("session state = %q, want %q", got, tc.sessionState)
			}
			if got := s.str("statusDetails", "reasonCode"); got != tc.sessionReason {
				t.Errorf("session reason = %q, want %q", got, tc.sessionReason)
			}
			chargeID := s.str("chargeId")
			if tc.chargeState == "" {
				if s.body["chargeId"] != nil {
					t.Errorf("chargeId = %v, want null", s.body["chargeId"])
				}
			} else {
				ch := h.call(nil, "GET", "/v2/charges/"+chargeID, nil, nil)
				mustStatus(t, ch, 200)
				if got := ch.str("statusDetails", "state"); got != tc.chargeState {
					t.Errorf("charge state = %q, want %q", got, tc.chargeState)
				}
			}
			if tc.cpState != "" {
				cp := h.call(nil, "GET", "/v2/chargePermissions/"+s.str("chargePermissionId"), nil, nil)
				mustStatus(t, cp, 200)
				if got := cp.str("statusDetails", "state"); got != tc.cpState {
					t.Errorf("charge permission state = %q, want %q", got, tc.cpState)
				}
			}
			if tc.status/100 == 2 {
				again := h.complete(id, "14.00", "USD", nil)
				mustStatus(t, again, 422)
				if again.reason() != "InvalidCheckoutSessionStatus" {
					t.Errorf("second Complete: %s", again.raw)
				}
			}
		})
	}
}

func TestCompleteValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	ready := func(t *testing.T, body map[string]any) string {
		r := h.call(nil, "POST", "/v2/checkoutSessions", body, nil)
		mustStatus(t, r, 201)
		id := r.str("checkoutSessionId")
		mustStatus(t, h.buyer(id, "Authorized"), 200)
		return id
	}
	withTotal := sessionBody("Authorize", false, "14.00", "USD")
	withTotal["paymentDetails"].(map[string]any)["totalOrderAmount"] = map[string]any{"amount": "20.00", "currencyCode": "USD"}
	tests := []struct {
		name    string
		session map[string]any
		body    string
		status  int
		reason  string
	}{
		{"ok_number_amount", nil, `{"chargeAmount":{"amount":14,"currencyCode":"USD"}}`, 200, ""},
		{"ok_other_scale", nil, `{"chargeAmount":{"amount":"14.0","currencyCode":"USD"}}`, 200, ""},
		{"amount_mismatch", nil, `{"chargeAmount":{"amount":"14.01","currencyCode":"USD"}}`, 409, "AmountMismatch"},
		{"currency_mismatch", nil, `{"chargeAmount":{"amount":"14.00","currencyCode":"EUR"}}`, 400, "CurrencyMismatch"},
		{"missing_charge_amount", nil, `{}`, 400, "MissingParameterValue"},
		{"missing_currency", nil, `{"chargeAmount":{"amount":"14.00"}}`, 400, "MissingParameterValue"},
		{"unknown_field", nil, `{"chargeAmount":{"amount":"14.00","currencyCode":"USD"},"tip":1}`, 400, "UnrecognizedField"},
		{"not_json", nil, `{"chargeAmount":`, 400, "InvalidRequestFormat"},
		{"three_decimals", nil, `{"chargeAmount":{"amount":"14.000","currencyCode":"USD"}}`, 400, "InvalidParameterValue"},
		{"negative", nil, `{"chargeAmount":{"amount":"-14.00","currencyCode":"USD"}}`, 400, "InvalidParameterValue"},
		{"float_exponent", nil, `{"chargeAmount":{"amount":1.4e1,"currencyCode":"USD"}}`, 400, "InvalidParameterValue"},
		{"total_ok", withTotal, `{"chargeAmount":{"amount":"14.00","currencyCode":"USD"},"totalOrderAmount":{"amount":"20.00","currencyCode":"USD"}}`, 200, ""},
		{"total_mismatch", withTotal, `{"chargeAmount":{"amount":"14.00","currencyCode":"USD"},"totalOrderAmount":{"amount":"21.00","currencyCode":"USD"}}`, 409, "AmountMismatch"},
		{"total_missing", withTotal, `{"chargeAmount":{"amount":"14.00","currencyCode":"USD"}}`, 400, "MissingParameterValue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := tc.session
			if sb == nil {
				sb = sessionBody("Authorize", false, "14.00", "USD")
			}
			id := ready(t, sb)
			r := h.call(nil, "POST", "/v2/checkoutSessions/"+id+"/complete", tc.body, nil)
			mustStatus(t, r, tc.status)
			if r.reason() != tc.reason {
				t.Errorf("reasonCode = %q, want %q (%s)", r.reason(), tc.reason, r.raw)
			}
		})
	}
	t.Run("jpy_with_decimals", func(t *testing.T) {
		r := h.call(nil, "POST", "/v2/checkoutSessions", sessionBody("Authorize", false, "1000.5", "JPY"), nil)
		mustStatus(t, r, 400)
		if r.reason() != "InvalidParameterValue" {
			t.Errorf("%s", r.raw)
		}
		r = h.call(nil, "POST", "/v2/checkoutSessions", sessionBody("Authorize", false, "1000.0", "JPY"), nil)
		mustStatus(t, r, 400)
	})
	t.Run("over_maximum", func(t *testing.T) {
		r := h.call(nil, "POST", "/v2/checkoutSessions", sessionBody("Authorize", false, "150000.01", "USD"), nil)
		mustStatus(t, r, 400)
		if r.reason() != "TransactionAmountExceeded" {
			t.Errorf("%s", r.raw)
		}
	})
	t.Run("unknown_session", func(t *testing.T) {
		r := h.complete("3f0f9a4e-0000-4000-8000-000000000000", "14.00", "USD", nil)
		mustStatus(t, r, 404)
		if r.reason() != "ResourceNotFound" {
			t.Errorf("%s", r.raw)
		}
	})
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	r := h.call(nil, "POST", "/v2/checkoutSessions", map[string]any{
		"storeId":            "amzn1.application-oa2-client.x",
		"webCheckoutDetails": map[string]any{"checkoutReviewReturnUrl": "https://shop.example/review"},
	}, nil)
	mustStatus(t, r, 201)
	id := r.str("checkoutSessionId")
	constraintIDs := func(r response) []string {
		var out []string
		for _, c := range r.body["constraints"].([]any) {
			out = append(out, c.(map[string]any)["constraintId"].(string))
		}
		return out
	}
	// A fresh session waits for its buyer only, whatever the merchant
	// left unset (Amazon's sandbox answers so).
	if got := strings.Join(constraintIDs(r), ","); got != "BuyerNotAssociated" {
		t.Errorf("constraints %s", got)
	}
	if r.body["webCheckoutDetails"].(map[string]any)["amazonPayRedirectUrl"] != nil || r.body["productType"] != nil {
		t.Errorf("redirect URL or product type before the buyer: %s", r.raw)
	}
	if got := r.str("expirationTimestamp"); got != epoch.Add(24*time.Hour).Format("20060102T150405Z") {
		t.Errorf("expirationTimestamp %s", got)
	}
	// Paying needs a signed-in buyer and the merchant's Update; the
	// one-call buyer needs the Update.
	mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/pay", map[string]any{}), 422)
	mustStatus(t, h.buyer(id, "Authorized"), 422)

	// The buyer signs in first: the shop can then read the address and
	// buyer before it calls Update.
	si := h.control("POST", "checkoutSessions/"+id+"/signIn", map[string]any{"scenario": "Authorized"})
	mustStatus(t, si, 200)
	if got := strings.Join(constraintIDs(si), ","); got != "ChargeAmountNotSet,CheckoutResultReturnUrlNotSet,PaymentIntentNotSet" {
		t.Errorf("constraints after sign-in %s", got)
	}
	if si.str("buyer", "buyerId") == "" || si.str("shippingAddress", "countryCode") != "US" || si.str("productType") != "PayAndShip" {
		t.Errorf("after sign-in: %s", si.raw)
	}
	if si.body["webCheckoutDetails"].(map[string]any)["amazonPayRedirectUrl"] != nil {
		t.Errorf("redirect URL before the merchant's update: %s", si.raw)
	}
	mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/pay", map[string]any{}), 422)
	mustStatus(t, h.complete(id, "9.99", "USD", nil), 422)

	u := h.call(nil, "PATCH", "/v2/checkoutSessions/"+id, map[string]any{
		"webCheckoutDetails": map[string]any{"checkoutResultReturnUrl": "https://shop.example/result"},
		"paymentDetails": map[string]any{
			"paymentIntent": "Authorize",
			"chargeAmount":  map[string]any{"amount": "9.99", "currencyCode": "USD"},
		},
	}, nil)
	mustStatus(t, u, 200)
	if got := constraintIDs(u); len(got) != 0 {
		t.Errorf("constraints after update %s", got)
	}
	if !strings.Contains(u.str("webCheckoutDetails", "amazonPayRedirectUrl"), id) {
		t.Errorf("no redirect URL: %s", u.raw)
	}
	if u.str("paymentDetails", "presentmentCurrency") != "USD" {
		t.Errorf("presentmentCurrency: %s", u.raw)
	}
	for name, body := range map[string]string{
		"unknown_field":  `{"paymentDetails":{"paymentIntent":"Authorize","bonus":true}}`,
		"create_only":    `{"storeId":"x"}`,
		"bad_intent":     `{"paymentDetails":{"paymentIntent":"Charge"}}`,
		"long_soft_desc": `{"paymentDetails":{"softDescriptor":"12345678901234567"}}`,
		"bad_url":        `{"webCheckoutDetails":{"checkoutResultReturnUrl":"not a url"}}`,
	} {
		r := h.call(nil, "PATCH", "/v2/checkoutSessions/"+id, body, nil)
		if r.status != 400 {
			t.Errorf("%s: status %d %s", name, r.status, r.raw)
		}
	}
	// Not yet paid on the redirect page: Complete is refused.
	mustStatus(t, h.complete(id, "9.99", "USD", nil), 422)
	mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/pay", map[string]any{"scenario": "Declined"}), 400)
	mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/pay", map[string]any{}), 200)
	g := h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil)
	if len(constraintIDs(g)) != 0 || g.str("buyer", "buyerId") == "" || g.str("shippingAddress", "countryCode") != "US" {
		t.Errorf("after buyer: %s", g.raw)
	}
	// Paid: the buyer cannot sign in or pay again.
	mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/signIn", map[string]any{}), 422)
	mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/pay", map[string]any{}), 422)
	mustStatus(t, h.complete(id, "9.99", "USD", nil), 200)

	t.Run("expiry", func(t *testing.T) {
		id := h.newSession("Authorize", false)
		h.clock.Advance(24 * time.Hour)
		g := h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil)
		if g.str("statusDetails", "state") != "Canceled" || g.str("statusDetails", "reasonCode") != "Expired" {
			t.Errorf("after 24h: %s", g.raw)
		}
		mustStatus(t, h.buyer(id, "Authorized"), 422)
		c := h.complete(id, "14.00", "USD", nil)
		mustStatus(t, c, 422)
		if c.reason() != "CheckoutSessionCanceled" {
			t.Errorf("%s", c.raw)
		}
		u := h.call(nil, "PATCH", "/v2/checkoutSessions/"+id, `{}`, nil)
		mustStatus(t, u, 422)
	})

	t.Run("create_validation", func(t *testing.T) {
		for name, tc := range map[string]struct {
			body   string
			reason string
		}{
			"no_store":   {`{"webCheckoutDetails":{"checkoutReviewReturnUrl":"https://a.example/"}}`, "MissingParameterValue"},
			"no_wcd":     {`{"storeId":"s"}`, "MissingParameterValue"},
			"unknown":    {`{"storeId":"s","webCheckoutDetails":{"checkoutReviewReturnUrl":"https://a.example/"},"color":"red"}`, "UnrecognizedField"},
			"redirect":   {`{"storeId":"s","webCheckoutDetails":{"checkoutReviewReturnUrl":"https://a.example/","amazonPayRedirectUrl":"https://x/"}}`, "UnrecognizedField"},
			"bad_type":   {`{"storeId":5,"webCheckoutDetails":{"checkoutReviewReturnUrl":"https://a.example/"}}`, "InvalidParameterValue"},
			"bad_cptype": {`{"storeId":"s","chargePermissionType":"Forever","webCheckoutDetails":{"checkoutReviewReturnUrl":"https://a.example/"}}`, "InvalidParameterValue"},
			"currencies": {`{"storeId":"s","webCheckoutDetails":{"checkoutReviewReturnUrl":"https://a.example/"},"paymentDetails":{"chargeAmount":{"amount":"1","currencyCode":"USD"},"totalOrderAmount":{"amount":"1","currencyCode":"EUR"}}}`, "CurrencyMismatch"},
		} {
			r := h.call(nil, "POST", "/v2/checkoutSessions", tc.body, nil)
			mustStatus(t, r, 400)
			if r.reason() != tc.reason {
				t.Errorf("%s: %s", name, r.raw)
			}
		}
	})
}

func TestPendingSettlement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, intent, scenario    string
		chargeState, chargeReason string
		cpState, cpReason         string
	}{
		{"authorized", "Authorize", "PendingThenAuthorized", "Authorized", "", "Chargeable", ""},
		{"captured", "AuthorizeWithCapture", "PendingThenAuthorized", "Captured", "", "Closed", "AmazonClosed"},
		{"declined", "Authorize", "PendingThenDeclined", "Declined", "HardDeclined", "NonChargeable", "PaymentMethodInvalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, simulator.Options{PendingDelay: 30 * time.Second})
			id := h.newSession(tc.intent, true)
			mustStatus(t, h.buyer(id, tc.scenario), 200)
			c := h.complete(id, "14.00", "USD", nil)
			mustStatus(t, c, 202)
			chargeID, cpID := c.str("chargeId"), c.str("chargePermissionId")
			get := func() (response, response) {
				return h.call(nil, "GET", "/v2/charges/"+chargeID, nil, nil), h.call(nil, "GET", "/v2/chargePermissions/"+cpID, nil, nil)
			}
			ch, cp := get()
			if ch.str("statusDetails", "state") != "AuthorizationInitiated" || cp.str("statusDetails", "state") != "NonChargeable" {
				t.Fatalf("before: %s %s", ch.raw, cp.raw)
			}
			h.clock.Advance(29 * time.Second)
			if ch, _ := get(); ch.str("statusDetails", "state") != "AuthorizationInitiated" {
				t.Fatalf("settled early: %s", ch.raw)
			}
			h.clock.Advance(time.Second)
			ch, cp = get()
			if ch.str("statusDetails", "state") != tc.chargeState || ch.str("statusDetails", "reasonCode") != tc.chargeReason {
				t.Errorf("charge: %s", ch.raw)
			}
			if want := epoch.Add(30 * time.Second).Format("20060102T150405Z"); ch.str("statusDetails", "lastUpdatedTimestamp") != want {
				t.Errorf("lastUpdatedTimestamp %s, want %s", ch.str("statusDetails", "lastUpdatedTimestamp"), want)
			}
			if cp.str("statusDetails", "state") != tc.cpState {
				t.Errorf("permission: %s", cp.raw)
			}
			reasons, _ := cp.body["statusDetails"].(map[string]any)["reasons"].([]any)
			gotReason := ""
			if len(reasons) > 0 {
				gotReason = reasons[0].(map[string]any)["reasonCode"].(string)
			}
			if gotReason != tc.cpReason {
				t.Errorf("permission reasons %v, want %q", reasons, tc.cpReason)
			}
			// The session stays Completed whatever the outcome.
			s := h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil)
			if s.str("statusDetails", "state") != "Completed" {
				t.Errorf("session: %s", s.raw)
			}
		})
	}
}

func TestCaptureAndCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	authorized := func(t *testing.T, pending bool, scenario string) (chargeID, cpID string) {
		id := h.newSession("Authorize", pending)
		mustStatus(t, h.buyer(id, scenario), 200)
		c := h.complete(id, "14.00", "USD", nil)
		if c.status != 200 && c.status != 202 {
			t.Fatalf("complete: %s", c.raw)
		}
		return c.str("chargeId"), c.str("chargePermissionId")
	}
	capture := func(chargeID, amount, currency string) response {
		return h.call(nil, "POST", "/v2/charges/"+chargeID+"/capture",
			map[string]any{"captureAmount": map[string]any{"amount": amount, "currencyCode": currency}}, nil)
	}
	cancel := func(chargeID string) response {
		return h.call(nil, "DELETE", "/v2/charges/"+chargeID+"/cancel", `{"cancellationReason":"Buyer changed their mind"}`, nil)
	}
	state := func(r response) string {
		return r.str("statusDetails", "state") + "/" + r.str("statusDetails", "reasonCode")
	}

	t.Run("full_capture_closes_permission", func(t *testing.T) {
		ch, cp := authorized(t, false, "Authorized")
		r := capture(ch, "14.00", "USD")
		mustStatus(t, r, 200)
		if state(r) != "Captured/" || r.str("captureAmount", "amount") != "14.00" || r.str("refundedAmount", "amount") != "0.00" {
			t.Errorf("%s", r.raw)
		}
		p := h.call(nil, "GET", "/v2/chargePermissions/"+cp, nil, nil)
		if p.str("statusDetails", "state") != "Closed" || p.str("limits", "amountBalance", "amount") != "0.00" {
			t.Errorf("%s", p.raw)
		}
		again := capture(ch, "14.00", "USD")
		mustStatus(t, again, 422)
		if again.reason() != "InvalidChargeStatus" {
			t.Errorf("%s", again.raw)
		}
		c := cancel(ch)
		mustStatus(t, c, 422)
	})
	t.Run("partial_capture", func(t *testing.T) {
		ch, cp := authorized(t, false, "Authorized")
		mustStatus(t, capture(ch, "10.00", "USD"), 200)
		p := h.call(nil, "GET", "/v2/chargePermissions/"+cp, nil, nil)
		if p.str("statusDetails", "state") != "Chargeable" || p.str("limits", "amountBalance", "amount") != "4.00" {
			t.Errorf("%s", p.raw)
		}
	})
	t.Run("capture_validation", func(t *testing.T) {
		ch, _ := authorized(t, false, "Authorized")
		for _, tc := range []struct{ amount, currency, reason string }{
			{"14.01", "USD", "TransactionAmountExceeded"},
			{"14.00", "EUR", "CurrencyMismatch"},
			{"abc", "USD", "InvalidParameterValue"},
		} {
			r := capture(ch, tc.amount, tc.currency)
			mustStatus(t, r, 400)
			if r.reason() != tc.reason {
				t.Errorf("%s %s: %s", tc.amount, tc.currency, r.raw)
			}
		}
		r := h.call(nil, "POST", "/v2/charges/"+ch+"/capture", `{}`, nil)
		mustStatus(t, r, 400)
	})
	t.Run("cancel_authorized", func(t *testing.T) {
		ch, cp := authorized(t, false, "Authorized")
		r := cancel(ch)
		mustStatus(t, r, 200)
		if state(r) != "Canceled/MerchantCanceled" {
			t.Errorf("%s", r.raw)
		}
		p := h.call(nil, "GET", "/v2/chargePermissions/"+cp, nil, nil)
		if p.str("statusDetails", "state") != "Chargeable" || p.str("limits", "amountBalance", "amount") != "14.00" {
			t.Errorf("%s", p.raw)
		}
		mustStatus(t, capture(ch, "14.00", "USD"), 422)
		mustStatus(t, cancel(ch), 422)
	})
	t.Run("cancel_pending_stops_settlement", func(t *testing.T) {
		ch, _ := authorized(t, true, "PendingThenAuthorized")
		mustStatus(t, cancel(ch), 200)
		h.clock.Advance(time.Minute)
		r := h.call(nil, "GET", "/v2/charges/"+ch, nil, nil)
		if state(r) != "Canceled/MerchantCanceled" {
			t.Errorf("%s", r.raw)
		}
	})
	t.Run("authorization_expires_unused", func(t *testing.T) {
		ch, _ := authorized(t, false, "Authorized")
		h.clock.Advance(30 * 24 * time.Hour)
		r := h.call(nil, "GET", "/v2/charges/"+ch, nil, nil)
		if state(r) != "Canceled/ExpiredUnused" {
			t.Errorf("%s", r.raw)
		}
	})
	t.Run("capture_simulation_code_undocumented", func(t *testing.T) {
		ch, _ := authorized(t, false, "Authorized")
		r := h.call(nil, "POST", "/v2/charges/"+ch+"/capture",
			map[string]any{"captureAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}},
			map[string]string{"x-amz-pay-simulation-code": "SoftDeclined"})
		mustStatus(t, r, 400)
		if r.reason() != "InvalidSandboxSimulationSpecified" {
			t.Errorf("%s", r.raw)
		}
		if g := h.call(nil, "GET", "/v2/charges/"+ch, nil, nil); state(g) != "Authorized/" {
			t.Errorf("refused capture changed the charge: %s", g.raw)
		}
	})
	t.Run("unknown_charge", func(t *testing.T) {
		mustStatus(t, h.call(nil, "GET", "/v2/charges/S01-0000000-0000000-C000000", nil, nil), 404)
		mustStatus(t, h.call(nil, "GET", "/v2/chargePermissions/S01-0000000-0000000", nil, nil), 404)
	})
}

func TestSimulationCodesOnComplete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	for _, tc := range []struct {
		prefix, code string
		status       int
		reason       string
	}{
		{"/v2", "BuyerCanceled", 422, "CheckoutSessionCanceled"},
		{"/sandbox/v2", "Declined", 422, "CheckoutSessionCanceled"},
		{"/v2", "AmazonCanceled", 422, "CheckoutSessionCanceled"},
		// Codes of other operations are not Complete's.
		{"/v2", "HardDeclined", 400, "InvalidSandboxSimulationSpecified"},
		{"/v2", "CaptureInitiated", 400, "InvalidSandboxSimulationSpecified"},
		{"/v2", "NoSuchCode", 400, "InvalidSandboxSimulationSpecified"},
		// Authorize without canHandlePendingAuthorization cannot go pending.
		{"/v2", "AuthorizationInitiated", 400, "InvalidSandboxSimulationSpecified"},
		{"/live/v2", "BuyerCanceled", 200, ""}, // live ignores simulations
	} {
		t.Run(tc.code+tc.prefix, func(t *testing.T) {
			r := h.call(nil, "POST", tc.prefix+"/checkoutSessions", sessionBody("Authorize", false, "5.00", "USD"), nil)
			id := r.str("checkoutSessionId")
			mustStatus(t, h.buyer(id, "Authorized"), 200)
			c := h.call(nil, "POST", tc.prefix+"/checkoutSessions/"+id+"/complete",
				map[string]any{"chargeAmount": map[string]any{"amount": "5.00", "currencyCode": "USD"}},
				map[string]string{"x-amz-pay-simulation-code": tc.code})
			mustStatus(t, c, tc.status)
			if c.reason() != tc.reason {
				t.Errorf("%s", c.raw)
			}
			s := h.call(nil, "GET", tc.prefix+"/checkoutSessions/"+id, nil, nil)
			want := "Open"
			switch {
			case tc.status == 200:
				want = "Completed"
			case tc.status == 422:
				want = "Canceled/" + tc.code
			}
			got := s.str("statusDetails", "state")
			if got == "Canceled" {
				got += "/" + s.str("statusDetails", "reasonCode")
			}
			if got != want {
				t.Errorf("session %s, want %s", got, want)
			}
		})
	}
	t.Run("authorization_initiated_goes_pending", func(t *testing.T) {
		// The instrument itself is synchronous (...1111); the code makes
		// the authorization pending, then it succeeds.
		id := h.newSession("Authorize", true)
		mustStatus(t, h.buyer(id, "Authorized"), 200)
		c := h.complete(id, "14.00", "USD", map[string]string{"x-amz-pay-simulation-code": "AuthorizationInitiated"})
		mustStatus(t, c, 202)
		g := h.call(nil, "GET", "/v2/charges/"+c.str("chargeId"), nil, nil)
		if g.str("statusDetails", "state") != "AuthorizationInitiated" {
			t.Errorf("%s", g.raw)
		}
		h.clock.Advance(simulator.DefaultPendingDelay)
		g = h.call(nil, "GET", "/v2/charges/"+c.str("chargeId"), nil, nil)
		if g.str("statusDetails", "state") != "Authorized" {
			t.Errorf("%s", g.raw)
		}
	})
	t.Run("confirm_buyer_canceled", func(t *testing.T) {
		id := h.newSession("Confirm", false)
		mustStatus(t, h.buyer(id, "Authorized"), 200)
		c := h.complete(id, "14.00", "USD", map[string]string{"x-amz-pay-simulation-code": "BuyerCanceled"})
		mustStatus(t, c, 422)
	})
}

func TestMerchantIsolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	c := h.complete(id, "14.00", "USD", nil)
	mustStatus(t, c, 200)

	other := &signer{key: testKey(t, 1), keyID: "SIMOTHER", algorithm: "AMZN-PAY-RSASSA-PSS"}
	r := h.control("POST", "publicKeys", map[string]string{"publicKeyId": other.keyID, "publicKeyPem": pemOf(t, &other.key.PublicKey), "merchantId": "A2OTHER"})
	mustStatus(t, r, 201)
	for _, p := range []string{"/v2/checkoutSessions/" + id, "/v2/charges/" + c.str("chargeId"), "/v2/chargePermissions/" + c.str("chargePermissionId")} {
		g := h.call(other, "GET", p, nil, nil)
		mustStatus(t, g, 404)
		if g.reason() != "ResourceNotFound" {
			t.Errorf("%s: %s", p, g.raw)
		}
	}
	mustStatus(t, h.complete(id, "14.00", "USD", nil), 422)
	cr := h.call(other, "POST", "/v2/checkoutSessions/"+id+"/complete", `{"chargeAmount":{"amount":"14.00","currencyCode":"USD"}}`, nil)
	mustStatus(t, cr, 404)

	// A second key without a merchant id shares the default merchant.
	second := &signer{key: testKey(t, 2), keyID: "SIMSECONDDEFAULT", algorithm: "AMZN-PAY-RSASSA-PSS"}
	r = h.control("POST", "publicKeys", map[string]string{"publicKeyId": second.keyID, "publicKeyPem": pemOf(t, &second.key.PublicKey)})
	mustStatus(t, r, 201)
	mustStatus(t, h.call(second, "GET", "/v2/checkoutSessions/"+id, nil, nil), 200)
	if got := h.calls(id)["GetCheckoutSession"]; got != 1 {
		t.Errorf("GetCheckoutSession calls = %d, want 1 (other merchant's 404 does not count)", got)
	}
}

func TestControlAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	for name, tc := range map[string]struct {
		method, path string
		body         any
		status       int
	}{
		"buyer_unknown_session": {"POST", "checkoutSessions/6b2c0f1e-0000-4000-8000-000000000000/buyer", map[string]string{"scenario": "Authorized"}, 404},
		"buyer_bad_scenario":    {"POST", "checkoutSessions/x/buyer", map[string]string{"scenario": "Lucky"}, 400},
		"calls_unknown_session": {"GET", "checkoutSessions/nope/calls", nil, 404},
		"key_not_pem":           {"POST", "publicKeys", map[string]string{"publicKeyId": "K", "publicKeyPem": "hello"}, 400},
		"key_missing":           {"POST", "publicKeys", map[string]string{"publicKeyId": "K"}, 400},
		"fault_bad_kind":        {"POST", "faults", map[string]any{"operation": "GetCharge", "kind": "explode"}, 400},
		"fault_bad_op":          {"POST", "faults", map[string]any{"operation": "Refund", "kind": "http500"}, 400},
		"fault_no_latency":      {"POST", "faults", map[string]any{"operation": "GetCharge", "kind": "latency"}, 400},
		"clock_advance":         {"POST", "clock", map[string]string{"advance": "1s"}, 200},
		"clock_read":            {"GET", "clock", nil, 200},
		"clock_bad_duration":    {"POST", "clock", map[string]string{"advance": "soon"}, 400},
		"healthz":               {"GET", "healthz", nil, 200},
		"unknown":               {"GET", "nothing", nil, 404},
	} {
		t.Run(name, func(t *testing.T) {
			r := h.control(tc.method, tc.path, tc.body)
			mustStatus(t, r, tc.status)
			if r.header.Get("x-amz-pay-request-id") == "" {
				t.Error("no request id")
			}
		})
	}
	t.Run("pkcs1_key", func(t *testing.T) {
		k := testKey(t, 2)
		der := x509MarshalPKCS1(&k.PublicKey)
		r := h.control("POST", "publicKeys", map[string]string{"publicKeyId": "SIMPKCS1", "publicKeyPem": der})
		mustStatus(t, r, 201)
		s := &signer{key: k, keyID: "SIMPKCS1", algorithm: "AMZN-PAY-RSASSA-PSS-V2"}
		mustStatus(t, h.call(s, "POST", "/v2/checkoutSessions", sessionBody("Confirm", false, "1.00", "USD"), nil), 201)
	})
	t.Run("buyer_on_completed_session", func(t *testing.T) {
		id := h.newSession("Confirm", false)
		mustStatus(t, h.buyer(id, "Authorized"), 200)
		mustStatus(t, h.complete(id, "14.00", "USD", nil), 200)
		mustStatus(t, h.buyer(id, "Authorized"), 422)
	})
}
