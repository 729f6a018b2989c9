package amazonpay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// PII strings of the fully populated fixtures.
var piiStrings = []string{
	"Jane Q", "jane@buyer.example", "555-0100", "Secret Lane", "Apt 9", "Floor 3",
	"Hiddenville", "King County", "Downtown", "98101", "****1111", "Suite 1",
}

func fullBuyer() *Buyer {
	return &Buyer{BuyerID: "amzn1.account.BUYER1", Name: "Jane Q Buyer", Email: "jane@buyer.example", PhoneNumber: "+1-555-0100", PrimeMembershipTypes: []string{"US_PRIME"}}
}

func fullAddress() *Address {
	return &Address{
		Name: "Jane Q Buyer", AddressLine1: "1 Secret Lane", AddressLine2: "Apt 9", AddressLine3: "Floor 3",
		City: "Hiddenville", County: "King County", District: "Downtown", StateOrRegion: "WA",
		PostalCode: "98101", CountryCode: "US", PhoneNumber: "+1-555-0100",
	}
}

func fullSession() CheckoutSession {
	var s CheckoutSession
	if err := json.Unmarshal([]byte(sessionJSON), &s); err != nil {
		panic(err)
	}
	s.Buyer = fullBuyer()
	s.ShippingAddress = fullAddress()
	s.BillingAddress = fullAddress()
	s.BillingAddress.AddressLine1 = "Suite 1"
	s.ShippingAddressList = AddressList{*fullAddress(), *fullAddress()}
	s.PaymentPreferences = []PaymentPreference{{PaymentDescriptor: "Visa ****1111"}}
	s.Constraints = []Constraint{{ConstraintID: "BuyerNotAssociated", Description: "no buyer"}}
	return s
}

func fullChargePermission() ChargePermission {
	var p ChargePermission
	if err := json.Unmarshal([]byte(chargePermissionJSON), &p); err != nil {
		panic(err)
	}
	p.Buyer = fullBuyer()
	p.ShippingAddress = fullAddress()
	p.BillingAddress = fullAddress()
	return p
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	session := fullSession()
	permission := fullChargePermission()
	values := []struct {
		name string
		v    any
		want []string // must appear
		// fmtOnly marks values slog's JSON handler cannot redact: it
		// marshals structs of other types with encoding/json.
		fmtOnly bool
	}{
		{"session", session, []string{"bd504926-f659-4ad7-a1a9-9a747aaf5275", "Completed", "14.00 USD", "S01-5105180-3221187-C056351", "amzn1.account.BUYER1", "order-42", "BuyerNotAssociated", "US"}, false},
		{"session_ptr", &session, []string{"bd504926-f659-4ad7-a1a9-9a747aaf5275", RedactedText}, false},
		{"charge_permission", permission, []string{"S01-5105180-3221187", "NonChargeable", "ChargeInProgress", "100 USD", "85.50 USD", RedactedText}, false},
		{"buyer", fullBuyer(), []string{"amzn1.account.BUYER1", "US_PRIME", RedactedText}, false},
		{"buyer_value", *fullBuyer(), []string{"amzn1.account.BUYER1"}, false},
		{"address", fullAddress(), []string{"US", RedactedText}, false},
		{"address_list", session.ShippingAddressList, []string{RedactedText + " x2"}, false},
		{"create_request", CreateCheckoutSessionRequest{StoreID: "store-1", AddressDetails: fullAddress()}, []string{"store-1", RedactedText}, false},
		{"struct_with_pii_inside", struct {
			Buyer   *Buyer
			Address Address
		}{fullBuyer(), *fullAddress()}, []string{"amzn1.account.BUYER1"}, true},
	}
	for _, tt := range values {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			outputs := map[string]string{}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
				outputs["fmt "+verb] = fmt.Sprintf(verb, tt.v)
			}
			if s, ok := tt.v.(fmt.Stringer); ok {
				outputs["String"] = s.String()
			}
			var jsonBuf, textBuf bytes.Buffer
			slog.New(slog.NewJSONHandler(&jsonBuf, nil)).Info("x", slog.Any("v", tt.v))
			slog.New(slog.NewTextHandler(&textBuf, nil)).Info("x", slog.Any("v", tt.v), "w", tt.v)
			if !tt.fmtOnly {
				outputs["slog json"] = jsonBuf.String()
				outputs["slog text"] = textBuf.String()
			}
			for how, out := range outputs {
				for _, pii := range piiStrings {
					if strings.Contains(out, pii) {
						t.Errorf("%s leaks %q: %s", how, pii, out)
					}
				}
			}
			for _, how := range []string{"fmt %v", "fmt %+v", "slog json", "slog text"} {
				if _, ok := outputs[how]; !ok {
					continue
				}
				for _, w := range tt.want {
					if !strings.Contains(outputs[how], w) {
						t.Errorf("%s lacks %q: %s", how, w, outputs[how])
					}
				}
			}
		})
	}
}

func TestRedactionKeepsWireFormat(t *testing.T) {
	t.Parallel()
	// JSON is the wire format and must keep everything.
	b, err := json.Marshal(fullSession())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"jane@buyer.example", "1 Secret Lane"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON lacks %q", want)
		}
	}
}

func TestRedactionNilPointers(t *testing.T) {
	t.Parallel()
	var s *CheckoutSession
	var b *Buyer
	if got := fmt.Sprintf("%v %v", s, b); got != "<nil> <nil>" {
		t.Errorf("nil pointers print %q", got)
	}
	if got := (CheckoutSession{}).String(); got != "{}" {
		t.Errorf("empty session prints %q", got)
	}
}
