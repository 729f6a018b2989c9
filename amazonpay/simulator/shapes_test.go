package simulator_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// The key lists of Amazon's answers, in Amazon's order. Checkout Session:
// the official Node.js SDK's integration test (tst/webStoreClientTest.js)
// compares Object.keys of a live sandbox answer with exactly this list.
// Charge and Charge Permission: the keys that test requires, in the order
// of real sandbox answers. Refund: the keys that test requires.
var (
	checkoutSessionKeys = []string{
		"checkoutSessionId", "webCheckoutDetails", "productType", "paymentDetails", "chargePermissionType",
		"orderType", "recurringMetadata", "paymentMethodOnFileMetadata", "merchantDetails", "merchantMetadata",
		"supplementaryData", "buyer", "billingAddress", "paymentPreferences", "statusDetails", "shippingAddress",
		"platformId", "chargePermissionId", "chargeId", "constraints", "creationTimestamp", "expirationTimestamp",
		"storeId", "providerMetadata", "releaseEnvironment", "checkoutButtonText", "deliverySpecifications", "tokens",
	}
	chargeKeys = []string{
		"chargeId", "chargeAmount", "chargePermissionId", "captureAmount", "refundedAmount", "softDescriptor",
		"providerMetadata", "convertedAmount", "conversionRate", "channel", "chargeInitiator", "statusDetails",
		"creationTimestamp", "expirationTimestamp", "releaseEnvironment", "merchantMetadata", "platformId",
		"webCheckoutDetails",
	}
	chargePermissionKeys = []string{
		"chargePermissionId", "chargePermissionReferenceId", "platformId", "buyer", "shippingAddress",
		"billingAddress", "paymentPreferences", "statusDetails", "creationTimestamp", "expirationTimestamp",
		"merchantMetadata", "releaseEnvironment", "limits", "chargePermissionType", "recurringMetadata",
		"presentmentCurrency",
	}
	refundKeys = []string{
		"refundId", "chargeId", "creationTimestamp", "refundAmount", "statusDetails", "softDescriptor", "releaseEnvironment",
	}
	webCheckoutDetailsKeys = []string{
		"checkoutReviewReturnUrl", "checkoutResultReturnUrl", "amazonPayRedirectUrl", "checkoutCancelUrl", "checkoutMode",
	}
)

// objectKeys returns the keys of the JSON object raw (at path, following
// nested objects), in the order they appear.
func objectKeys(t *testing.T, raw []byte, path ...string) []string {
	t.Helper()
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		raw = m[p]
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func mustKeys(t *testing.T, what string, raw []byte, want []string, path ...string) {
	t.Helper()
	if got := objectKeys(t, raw, path...); !slices.Equal(got, want) {
		t.Errorf("%s keys\n got %v\nwant %v", what, got, want)
	}
}

func TestResponseShapes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	created := h.call(nil, "POST", "/v2/checkoutSessions", `{"storeId":"s","webCheckoutDetails":{"checkoutReviewReturnUrl":"https://shop.example/review"}}`, nil)
	mustStatus(t, created, 201)
	id := created.str("checkoutSessionId")
	signedIn := h.control("POST", "checkoutSessions/"+id+"/signIn", map[string]any{})
	mustStatus(t, signedIn, 200)
	updated := h.call(nil, "PATCH", "/v2/checkoutSessions/"+id, `{"webCheckoutDetails":{"checkoutResultReturnUrl":"https://shop.example/result"},"paymentDetails":{"paymentIntent":"Authorize","chargeAmount":{"amount":"14.00","currencyCode":"USD"}}}`, nil)
	mustStatus(t, updated, 200)
	mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/pay", map[string]any{}), 200)
	got := h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil)
	completed := h.complete(id, "14.00", "USD", nil)
	mustStatus(t, completed, 200)
	for name, r := range map[string]response{"create": created, "update": updated, "get": got, "complete": completed} {
		mustKeys(t, name+" session", r.raw, checkoutSessionKeys)
		mustKeys(t, name+" webCheckoutDetails", r.raw, webCheckoutDetailsKeys, "webCheckoutDetails")
	}
	mustKeys(t, "signIn session", signedIn.raw, checkoutSessionKeys)

	// Null where Amazon sends null (a real 2020 sandbox answer to a create
	// with only a review URL): productType, the redirect URL, the buyer's
	// details and paymentPreferences [null].
	for _, k := range []string{"productType", "orderType", "merchantDetails", "buyer", "billingAddress", "shippingAddress", "chargePermissionId", "chargeId", "checkoutButtonText", "deliverySpecifications", "tokens", "recurringMetadata"} {
		if v, ok := created.body[k]; !ok || v != nil {
			t.Errorf("created %s = %v, want null", k, v)
		}
	}
	if !bytes.Contains(created.raw, []byte(`"paymentPreferences":[null]`)) || !bytes.Contains(created.raw, []byte(`"amazonPayRedirectUrl":null`)) {
		t.Errorf("created: %s", created.raw)
	}

	charge := h.call(nil, "GET", "/v2/charges/"+completed.str("chargeId"), nil, nil)
	mustStatus(t, charge, 200)
	mustKeys(t, "charge", charge.raw, chargeKeys)
	captured := h.call(nil, "POST", "/v2/charges/"+completed.str("chargeId")+"/capture", `{"captureAmount":{"amount":"14.00","currencyCode":"USD"}}`, nil)
	mustStatus(t, captured, 200)
	mustKeys(t, "captured charge", captured.raw, chargeKeys)
	for _, k := range []string{"channel", "chargeInitiator", "webCheckoutDetails", "convertedAmount", "conversionRate", "platformId"} {
		if v, ok := charge.body[k]; !ok || v != nil {
			t.Errorf("charge %s = %v, want null", k, v)
		}
	}
	if bytes.Contains(charge.raw, []byte("channelType")) || bytes.Contains(charge.raw, []byte("captureNow")) {
		t.Errorf("charge carries keys Amazon does not send: %s", charge.raw)
	}

	refund := h.call(nil, "POST", "/v2/refunds", `{"chargeId":"`+completed.str("chargeId")+`","refundAmount":{"amount":"4.00","currencyCode":"USD"}}`, map[string]string{"x-amz-pay-idempotency-key": "shapesrefund1"})
	mustStatus(t, refund, 201)
	mustKeys(t, "refund", refund.raw, refundKeys)
	gotRefund := h.call(nil, "GET", "/v2/refunds/"+refund.str("refundId"), nil, nil)
	mustStatus(t, gotRefund, 200)
	mustKeys(t, "get refund", gotRefund.raw, refundKeys)

	perm := h.call(nil, "GET", "/v2/chargePermissions/"+completed.str("chargePermissionId"), nil, nil)
	mustStatus(t, perm, 200)
	mustKeys(t, "charge permission", perm.raw, chargePermissionKeys)
	mustKeys(t, "limits", perm.raw, []string{"amountLimit", "amountBalance"}, "limits")

	canceled := h.newSession("Authorize", false)
	mustStatus(t, h.buyer(canceled, "BuyerCanceled"), 200)
	c := h.call(nil, "GET", "/v2/checkoutSessions/"+canceled, nil, nil)
	mustKeys(t, "canceled session", c.raw, checkoutSessionKeys)
	if c.body["buyer"] != nil || !bytes.Contains(c.raw, []byte(`"paymentPreferences":[null]`)) {
		t.Errorf("canceled session keeps buyer data: %s", c.raw)
	}
}

func TestBuyerSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scenario    string
		wantState   string
		wantReason  string
		completeSt  int
		completeWhy string
	}{
		{"Authorized", "Open", "", 200, ""},
		{"BuyerCanceled", "Canceled", "BuyerCanceled", 422, "CheckoutSessionCanceled"},
		{"Declined", "Canceled", "Declined", 422, "CheckoutSessionCanceled"},
		// Pending instruments need canHandlePendingAuthorization; without
		// it the synchronous authorization times out at Complete.
		{"PendingThenAuthorized", "Open", "", 422, "CheckoutSessionCanceled"},
		{"PendingThenDeclined", "Open", "", 422, "CheckoutSessionCanceled"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, simulator.Options{})
			id := h.newSession("Authorize", false)
			// Signing in decides nothing yet: the buyer may still cancel
			// or pay on the redirect page.
			si := h.control("POST", "checkoutSessions/"+id+"/signIn", map[string]any{"scenario": tc.scenario})
			mustStatus(t, si, 200)
			if si.str("statusDetails", "state") != "Open" || !strings.Contains(si.str("webCheckoutDetails", "amazonPayRedirectUrl"), id) {
				t.Fatalf("after sign-in: %s", si.raw)
			}
			if c := h.complete(id, "14.00", "USD", nil); c.status != 422 || c.reason() != "InvalidCheckoutSessionStatus" {
				t.Fatalf("complete before pay: %s", c.raw)
			}
			p := h.control("POST", "checkoutSessions/"+id+"/pay", map[string]any{})
			mustStatus(t, p, 200)
			if p.str("statusDetails", "state") != tc.wantState || p.str("statusDetails", "reasonCode") != tc.wantReason {
				t.Errorf("after pay: %s", p.raw)
			}
			c := h.complete(id, "14.00", "USD", nil)
			if c.status != tc.completeSt || (tc.completeWhy != "" && c.reason() != tc.completeWhy) {
				t.Errorf("complete: %d %s", c.status, c.raw)
			}
		})
	}
	t.Run("sign_in_again_changes_instrument", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, simulator.Options{})
		id := h.newSession("Authorize", false)
		mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/signIn", map[string]any{"scenario": "Declined"}), 200)
		mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/signIn", map[string]any{"scenario": "Authorized"}), 200)
		mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/pay", nil), 200)
		mustStatus(t, h.complete(id, "14.00", "USD", nil), 200)
	})
	t.Run("bad_requests", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, simulator.Options{})
		id := h.newSession("Authorize", false)
		mustStatus(t, h.control("POST", "checkoutSessions/"+id+"/signIn", map[string]any{"scenario": "Rich"}), 400)
		mustStatus(t, h.control("POST", "checkoutSessions/nope/signIn", map[string]any{}), 404)
		mustStatus(t, h.control("POST", "checkoutSessions/nope/pay", map[string]any{}), 404)
	})
}

func TestLedgerCurrency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	tests := []struct {
		region, currency string
		want             int
	}{
		{"na", "USD", 201}, {"na", "EUR", 400}, {"na", "JPY", 400},
		{"jp", "JPY", 201}, {"jp", "USD", 400},
		{"eu", "EUR", 201}, {"eu", "GBP", 201}, {"uk", "USD", 201}, {"de", "CHF", 201}, {"eu", "JPY", 201},
	}
	for _, tc := range tests {
		t.Run(tc.region+"_"+tc.currency, func(t *testing.T) {
			s := *h.signer
			s.region = tc.region
			amount := "10.00"
			if tc.currency == "JPY" {
				amount = "1000"
			}
			r := h.call(&s, "POST", "/v2/checkoutSessions", sessionBody("Authorize", false, amount, tc.currency), nil)
			mustStatus(t, r, tc.want)
			if tc.want == 400 && r.reason() != "CurrencyMismatch" {
				t.Errorf("reason %s", r.raw)
			}
			if tc.want != 201 {
				return
			}
			// Update is held to the same rule.
			u := h.call(&s, "PATCH", "/v2/checkoutSessions/"+r.str("checkoutSessionId"), `{"paymentDetails":{"presentmentCurrency":"XXX"}}`, nil)
			mustStatus(t, u, 400)
		})
	}
	s := *h.signer
	s.region = "na"
	id := h.call(&s, "POST", "/v2/checkoutSessions", sessionBody("Authorize", false, "10.00", "USD"), nil).str("checkoutSessionId")
	u := h.call(&s, "PATCH", "/v2/checkoutSessions/"+id, `{"paymentDetails":{"chargeAmount":{"amount":"10.00","currencyCode":"EUR"}}}`, nil)
	if u.status != 400 || u.reason() != "CurrencyMismatch" {
		t.Errorf("update to EUR on a US merchant: %s", u.raw)
	}
}

func TestUnrecognizedFieldWording(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	for body, field := range map[string]string{
		`{"storeId":"s","webCheckoutDetails":{"checkoutReviewReturnUrl":"https://a.example/"},"color":"red"}`: "color",
	} {
		r := h.call(nil, "POST", "/v2/checkoutSessions", body, nil)
		if r.status != 400 || r.reason() != "UnrecognizedField" || r.str("message") != "The field '"+field+"' is invalid for this API." {
			t.Errorf("create: %s", r.raw)
		}
	}
	r := h.call(nil, "PATCH", "/v2/checkoutSessions/"+id, `{"storeId":"x"}`, nil)
	if r.status != 400 || r.str("message") != "The field 'storeId' is invalid for this API." {
		t.Errorf("update: %s", r.raw)
	}
}

// Finalize answers the Checkout Session with cartDetails after
// paymentDetails: the Node SDK's Finalize test expects exactly that list.
func TestFinalizeShape(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	b := h.buyer(id, "Authorized")
	mustStatus(t, b, 200)
	r := h.call(nil, "POST", "/v2/checkoutSessions/"+id+"/finalize", map[string]any{
		"chargeAmount":    map[string]any{"amount": "14.00", "currencyCode": "USD"},
		"shippingAddress": b.body["shippingAddress"],
	}, nil)
	mustStatus(t, r, 200)
	want := slices.Insert(slices.Clone(checkoutSessionKeys), 4, "cartDetails")
	mustKeys(t, "finalized session", r.raw, want)
	if v, ok := r.body["cartDetails"]; !ok || v != nil {
		t.Errorf("cartDetails %v", v)
	}
	g := h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil)
	mustKeys(t, "session after finalize", g.raw, checkoutSessionKeys)
}
