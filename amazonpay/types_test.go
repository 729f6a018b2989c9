package amazonpay

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPriceUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Price
		wantErr bool
	}{
		{`{"amount":"14.00","currencyCode":"USD"}`, Price{"14.00", "USD"}, false},
		{`{"amount":100,"currencyCode":"JPY"}`, Price{"100", "JPY"}, false},
		{`{"amount":14.5,"currencyCode":"EUR"}`, Price{"14.5", "EUR"}, false},
		{`{"amount":14.50,"currencyCode":"EUR"}`, Price{"14.50", "EUR"}, false},
		{`{"amount":0.1000000000000000055511151231257827,"currencyCode":"EUR"}`, Price{"0.1000000000000000055511151231257827", "EUR"}, false},
		{`{"amount":1e2,"currencyCode":"EUR"}`, Price{"1e2", "EUR"}, false},
		{`{"amount":null,"currencyCode":null}`, Price{}, false},
		{`{"currencyCode":"USD","extra":true}`, Price{"", "USD"}, false},
		{`{"amount":true,"currencyCode":"USD"}`, Price{}, true},
		{`{"amount":{},"currencyCode":"USD"}`, Price{}, true},
		{`[]`, Price{}, true},
	}
	for _, tt := range tests {
		var got Price
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
	// null leaves a value untouched; a pointer becomes nil.
	p := Price{"1", "USD"}
	if err := json.Unmarshal([]byte(`null`), &p); err != nil || p != (Price{"1", "USD"}) {
		t.Errorf("null: %v, %+v", err, p)
	}
	var holder struct{ P *Price }
	if err := json.Unmarshal([]byte(`{"P":null}`), &holder); err != nil || holder.P != nil {
		t.Errorf("null pointer: %v, %+v", err, holder.P)
	}
}

func TestPriceMarshalsAmountAsString(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(CompleteCheckoutSessionRequest{ChargeAmount: Price{"14.00", "USD"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"chargeAmount":{"amount":"14.00","currencyCode":"USD"}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	b, _ = json.Marshal(CompleteCheckoutSessionRequest{})
	if string(b) != `{}` {
		t.Errorf("empty request = %s, want {}", b)
	}
}

func TestPriceValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p  Price
		ok bool
	}{
		{Price{"14.00", "USD"}, true},
		{Price{"1000", "JPY"}, true},
		{Price{"0", "EUR"}, true},
		{Price{"", "USD"}, false},
		{Price{"14.", "USD"}, false},
		{Price{".5", "USD"}, false},
		{Price{"-1", "USD"}, false},
		{Price{"1e3", "USD"}, false},
		{Price{"14,00", "EUR"}, false},
		{Price{"14.00", "usd"}, false},
		{Price{"14.00", "US"}, false},
		{Price{"14.00", "ÜSD"}, false},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func TestTimeJSON(t *testing.T) {
	t.Parallel()
	want := time.Date(2020, 9, 8, 22, 10, 12, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{`"20200908T221012Z"`, want, false},
		{`"2020-09-08T22:10:12Z"`, want, false},
		{`"2020-09-09T00:10:12+02:00"`, want, false},
		{`"20200908T221012.250Z"`, want.Add(250 * time.Millisecond), false},
		{`null`, time.Time{}, false},
		{`""`, time.Time{}, false},
		{`"yesterday"`, time.Time{}, true},
		{`"20200908"`, time.Time{}, true},
		{`12345`, time.Time{}, true},
	}
	for _, tt := range tests {
		var got Time
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !got.Equal(tt.want) || (!got.IsZero() && got.Location() != time.UTC) {
			t.Errorf("%s: got %v, want %v", tt.in, got.Time, tt.want)
		}
	}

	b, err := json.Marshal(Time{time.Date(2020, 9, 9, 0, 10, 12, 0, time.FixedZone("CEST", 2*3600))})
	if err != nil || string(b) != `"20200908T221012Z"` {
		t.Errorf("marshal = %s, %v", b, err)
	}
	if b, _ := json.Marshal(Time{}); string(b) != "null" {
		t.Errorf("zero marshals as %s", b)
	}
}

func TestCheckoutSessionFixture(t *testing.T) {
	t.Parallel()
	var s CheckoutSession
	if err := json.Unmarshal([]byte(sessionJSON), &s); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", s.CheckoutSessionID, "bd504926-f659-4ad7-a1a9-9a747aaf5275"},
		{"state", s.StatusDetails.State, StateCompleted},
		{"reason", s.StatusDetails.ReasonCode, ""},
		{"updated", s.StatusDetails.LastUpdatedTimestamp.Time, time.Date(2020, 9, 8, 22, 10, 12, 0, time.UTC)},
		{"created", s.CreationTimestamp.Time, time.Date(2020, 9, 8, 22, 9, 0, 0, time.UTC)},
		{"charge amount", *s.PaymentDetails.ChargeAmount, Price{"14.00", "USD"}},
		{"numeric total", *s.PaymentDetails.TotalOrderAmount, Price{"20", "USD"}},
		{"intent", s.PaymentDetails.PaymentIntent, PaymentIntentAuthorize},
		{"pending ok", s.PaymentDetails.CanHandlePendingAuthorization, true},
		{"estimate", s.PaymentDetails.EstimateOrderTotal == nil, true},
		{"charge permission", s.ChargePermissionID, "S01-5105180-3221187"},
		{"charge", s.ChargeID, "S01-5105180-3221187-C056351"},
		{"buyer", s.Buyer.Email, "jane@buyer.example"},
		{"billing null", s.BillingAddress == nil, true},
		{"shipping", s.ShippingAddress.PostalCode, "98101"},
		{"address list from string", len(s.ShippingAddressList), 1},
		{"address list line", s.ShippingAddressList[0].AddressLine1, "1 Secret Lane"},
		{"preferences [null]", len(s.PaymentPreferences), 1},
		{"preference zero", s.PaymentPreferences[0], PaymentPreference{}},
		{"constraints", len(s.Constraints), 0},
		{"merchant ref", s.MerchantMetadata.MerchantReferenceID, "order-42"},
		{"redirect", s.WebCheckoutDetails.AmazonPayRedirectURL != "", true},
		{"store", s.StoreID, "amzn1.application-oa2-client.STORE"},
		{"env", s.ReleaseEnvironment, "Sandbox"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestChargeFixture(t *testing.T) {
	t.Parallel()
	var c Charge
	if err := json.Unmarshal([]byte(chargeJSON), &c); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", c.ChargeID, "S01-5105180-3221187-C056351"},
		{"state", c.StatusDetails.State, ChargeStateCaptured},
		{"rfc3339 timestamp", c.StatusDetails.LastUpdatedTimestamp.Time, time.Date(2020, 9, 8, 22, 10, 12, 0, time.UTC)},
		{"numeric amount kept exactly", *c.ChargeAmount, Price{"14.5", "USD"}},
		{"capture", *c.CaptureAmount, Price{"14.50", "USD"}},
		{"refunded", *c.RefundedAmount, Price{"0.00", "USD"}},
		{"converted null", c.ConvertedAmount == nil, true},
		{"rate null", c.ConversionRate, Decimal("")},
		{"capture now", c.CaptureNow, true},
		{"descriptor", c.SoftDescriptor, "SHOP*ORDER"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	var withRate Charge
	if err := json.Unmarshal([]byte(`{"chargeId":"c","conversionRate":1.0825}`), &withRate); err != nil || withRate.ConversionRate != "1.0825" {
		t.Errorf("conversionRate = %q, %v", withRate.ConversionRate, err)
	}
}

func TestChargePermissionFixture(t *testing.T) {
	t.Parallel()
	var p ChargePermission
	if err := json.Unmarshal([]byte(chargePermissionJSON), &p); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", p.ChargePermissionID, "S01-5105180-3221187"},
		{"state", p.StatusDetails.State, ChargePermissionStateNonChargeable},
		{"reasons", len(p.StatusDetails.Reasons), 1},
		{"reason", p.StatusDetails.Reasons[0].ReasonCode, ReasonChargeInProgress},
		{"limit", *p.Limits.AmountLimit, Price{"100", "USD"}},
		{"balance numeric", *p.Limits.AmountBalance, Price{"85.50", "USD"}},
		{"prime", p.Buyer.PrimeMembershipTypes[0], "US_PRIME"},
		{"phone null", p.Buyer.PhoneNumber, ""},
		{"descriptor", p.PaymentPreferences[0].PaymentDescriptor, "Visa ****1111"},
		{"expires", p.ExpirationTimestamp.Time, time.Date(2021, 3, 7, 22, 10, 12, 0, time.UTC)},
		{"currency", p.PresentmentCurrency, "USD"},
		{"type", p.ChargePermissionType, ChargePermissionTypeOneTime},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestAddressListForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{`[{"city":"A"},"{\"city\":\"B\"}",null]`, 2, false},
		{`null`, 0, false},
		{`[]`, 0, false},
		{`["not json"]`, 0, true},
		{`{}`, 0, true},
	}
	for _, tt := range tests {
		var l AddressList
		err := json.Unmarshal([]byte(tt.in), &l)
		if (err != nil) != tt.wantErr || (err == nil && len(l) != tt.want) {
			t.Errorf("%s: %d addresses, err %v", tt.in, len(l), err)
		}
	}
}

func TestErrorBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		wantCode string
		wantMsg  string
		retry    bool
	}{
		{"amazon_json", 422, `{"reasonCode":"InvalidCheckoutSessionStatus","message":"You tried to call an operation on a Checkout Session that is in a state where that operation is not allowed"}`, CodeInvalidCheckoutSessionStatus, "You tried to call an operation on a Checkout Session that is in a state where that operation is not allowed", false},
		{"empty", 503, ``, "", "", true},
		{"html", 502, "<html>\n<b>Bad\tGateway</b>\n</html>", "", "<html> <b>Bad Gateway</b> </html>", true},
		{"json_without_fields", 500, `{"error":"x"}`, "", `{"error":"x"}`, true},
		{"long", 504, string(make([]byte, 5000)), "", "", true},
	}
	for _, tt := range tests {
		e := newError(tt.status, []byte(tt.body), "rid")
		if e.ReasonCode != tt.wantCode || e.Message != tt.wantMsg || e.Retryable != tt.retry || e.RequestID != "rid" {
			t.Errorf("%s: got %+v", tt.name, e)
		}
		if len(e.Message) > maxExcerpt {
			t.Errorf("%s: message of %d bytes", tt.name, len(e.Message))
		}
	}
	e := &Error{StatusCode: 409, ReasonCode: CodeAmountMismatch, Message: "mismatch", RequestID: "r1", Attempts: 2, method: "POST", path: "/v2/x"}
	if got, want := e.Error(), "amazonpay: POST /v2/x: HTTP 409 AmountMismatch: mismatch (request r1) after 2 attempts"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
