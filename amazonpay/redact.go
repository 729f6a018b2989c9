package amazonpay

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// RedactedText replaces personal data in printed and logged values.
const RedactedText = "[redacted]"

// The types that hold buyer data (Buyer, Address, AddressList and the
// objects and requests containing them) implement slog.LogValuer and
// fmt.Formatter, so that slog.Any("session", s), fmt's %v, %+v, %#v and %s,
// and String all show IDs, states, amounts and timestamps but never names,
// e-mail addresses, phone numbers or postal addresses. Charge, which holds no
// buyer data, gets the same compact form for consistency. JSON marshalling
// is not affected: it is the wire format.
var (
	_ slog.LogValuer = Buyer{}
	_ slog.LogValuer = Address{}
	_ slog.LogValuer = AddressList{}
	_ slog.LogValuer = CheckoutSession{}
	_ slog.LogValuer = ChargePermission{}
	_ slog.LogValuer = Charge{}
	_ slog.LogValuer = CreateCheckoutSessionRequest{}
	_ fmt.Formatter  = Buyer{}
	_ fmt.Formatter  = Address{}
	_ fmt.Formatter  = AddressList{}
	_ fmt.Formatter  = CheckoutSession{}
	_ fmt.Formatter  = ChargePermission{}
	_ fmt.Formatter  = Charge{}
	_ fmt.Formatter  = CreateCheckoutSessionRequest{}
)

// attrs collects the attributes of a redacted value, skipping empty ones.
type attrs []slog.Attr

func (a *attrs) str(key, v string) {
	if v != "" {
		*a = append(*a, slog.String(key, v))
	}
}

func (a *attrs) secret(key, v string) {
	if v != "" {
		*a = append(*a, slog.String(key, RedactedText))
	}
}

func (a *attrs) boolean(key string, v bool) {
	if v {
		*a = append(*a, slog.Bool(key, v))
	}
}

func (a *attrs) price(key string, p *Price) {
	if p != nil {
		*a = append(*a, slog.String(key, p.String()))
	}
}

func (a *attrs) time(key string, t Time) {
	if !t.IsZero() {
		*a = append(*a, slog.String(key, t.String()))
	}
}

func (a *attrs) strings(key string, v []string) {
	if len(v) > 0 {
		*a = append(*a, slog.Any(key, v))
	}
}

func (a *attrs) group(key string, v slog.Value) {
	if v.Kind() != slog.KindGroup || len(v.Group()) > 0 {
		*a = append(*a, slog.Attr{Key: key, Value: v})
	}
}

func (a attrs) value() slog.Value { return slog.GroupValue(a...) }

// LogValue implements slog.LogValuer; personal data is redacted.
func (b Buyer) LogValue() slog.Value {
	var a attrs
	a.str("buyerId", b.BuyerID)
	a.secret("name", b.Name)
	a.secret("email", b.Email)
	a.secret("phoneNumber", b.PhoneNumber)
	a.strings("primeMembershipTypes", b.PrimeMembershipTypes)
	return a.value()
}

// LogValue implements slog.LogValuer; everything but the country is
// redacted.
func (addr Address) LogValue() slog.Value {
	var a attrs
	a.secret("name", addr.Name)
	a.secret("addressLine1", addr.AddressLine1)
	a.secret("addressLine2", addr.AddressLine2)
	a.secret("addressLine3", addr.AddressLine3)
	a.secret("city", addr.City)
	a.secret("county", addr.County)
	a.secret("district", addr.District)
	a.secret("stateOrRegion", addr.StateOrRegion)
	a.secret("postalCode", addr.PostalCode)
	a.str("countryCode", addr.CountryCode)
	a.secret("phoneNumber", addr.PhoneNumber)
	return a.value()
}

// LogValue implements slog.LogValuer: only the number of addresses shows.
func (l AddressList) LogValue() slog.Value {
	return slog.StringValue(RedactedText + " x" + strconv.Itoa(len(l)))
}

func addressValue(p *Address) slog.Value {
	if p == nil {
		return slog.GroupValue()
	}
	return p.LogValue()
}

func buyerValue(p *Buyer) slog.Value {
	if p == nil {
		return slog.GroupValue()
	}
	return p.LogValue()
}

func statusValue(s StatusDetails) slog.Value {
	var a attrs
	a.str("state", s.State)
	a.str("reasonCode", s.ReasonCode)
	a.str("reasonDescription", s.ReasonDescription)
	a.time("lastUpdatedTimestamp", s.LastUpdatedTimestamp)
	return a.value()
}

func paymentDetailsValue(p *PaymentDetails) slog.Value {
	var a attrs
	if p != nil {
		a.str("paymentIntent", p.PaymentIntent)
		a.boolean("canHandlePendingAuthorization", p.CanHandlePendingAuthorization)
		a.price("chargeAmount", p.ChargeAmount)
		a.price("totalOrderAmount", p.TotalOrderAmount)
		a.str("presentmentCurrency", p.PresentmentCurrency)
	}
	return a.value()
}

func merchantReference(m *MerchantMetadata) string {
	if m == nil {
		return ""
	}
	return m.MerchantReferenceID
}

func preferencesValue(prefs []PaymentPreference) slog.Value {
	if len(prefs) == 0 {
		return slog.GroupValue()
	}
	// Masked card descriptors identify a buyer's instrument: count only.
	return slog.StringValue(RedactedText + " x" + strconv.Itoa(len(prefs)))
}

// LogValue implements slog.LogValuer: IDs, states, amounts and timestamps;
// buyer data redacted.
func (s CheckoutSession) LogValue() slog.Value {
	var a attrs
	a.str("checkoutSessionId", s.CheckoutSessionID)
	a.group("statusDetails", statusValue(s.StatusDetails))
	a.str("chargePermissionId", s.ChargePermissionID)
	a.str("chargeId", s.ChargeID)
	a.str("productType", s.ProductType)
	a.str("chargePermissionType", s.ChargePermissionType)
	a.group("paymentDetails", paymentDetailsValue(s.PaymentDetails))
	a.str("merchantReferenceId", merchantReference(s.MerchantMetadata))
	if len(s.Constraints) > 0 {
		ids := make([]string, len(s.Constraints))
		for i, c := range s.Constraints {
			ids[i] = c.ConstraintID
		}
		a.strings("constraints", ids)
	}
	a.group("buyer", buyerValue(s.Buyer))
	a.group("shippingAddress", addressValue(s.ShippingAddress))
	a.group("billingAddress", addressValue(s.BillingAddress))
	if len(s.ShippingAddressList) > 0 {
		a.group("shippingAddressList", s.ShippingAddressList.LogValue())
	}
	a.group("paymentPreferences", preferencesValue(s.PaymentPreferences))
	a.str("releaseEnvironment", s.ReleaseEnvironment)
	a.time("creationTimestamp", s.CreationTimestamp)
	a.time("expirationTimestamp", s.ExpirationTimestamp)
	return a.value()
}

// LogValue implements slog.LogValuer: IDs, state, reasons, limits and
// timestamps; buyer data redacted.
func (p ChargePermission) LogValue() slog.Value {
	var a attrs
	a.str("chargePermissionId", p.ChargePermissionID)
	var st attrs
	st.str("state", p.StatusDetails.State)
	if len(p.StatusDetails.Reasons) > 0 {
		codes := make([]string, len(p.StatusDetails.Reasons))
		for i, r := range p.StatusDetails.Reasons {
			codes[i] = r.ReasonCode
		}
		st.strings("reasons", codes)
	}
	st.time("lastUpdatedTimestamp", p.StatusDetails.LastUpdatedTimestamp)
	a.group("statusDetails", st.value())
	a.str("chargePermissionType", p.ChargePermissionType)
	if p.Limits != nil {
		a.price("amountLimit", p.Limits.AmountLimit)
		a.price("amountBalance", p.Limits.AmountBalance)
	}
	a.str("presentmentCurrency", p.PresentmentCurrency)
	a.str("merchantReferenceId", merchantReference(p.MerchantMetadata))
	a.group("buyer", buyerValue(p.Buyer))
	a.group("shippingAddress", addressValue(p.ShippingAddress))
	a.group("billingAddress", addressValue(p.BillingAddress))
	a.group("paymentPreferences", preferencesValue(p.PaymentPreferences))
	a.str("releaseEnvironment", p.ReleaseEnvironment)
	a.time("creationTimestamp", p.CreationTimestamp)
	a.time("expirationTimestamp", p.ExpirationTimestamp)
	return a.value()
}

// LogValue implements slog.LogValuer: IDs, state, amounts and timestamps.
func (c Charge) LogValue() slog.Value {
	var a attrs
	a.str("chargeId", c.ChargeID)
	a.str("chargePermissionId", c.ChargePermissionID)
	a.group("statusDetails", statusValue(c.StatusDetails))
	a.price("chargeAmount", c.ChargeAmount)
	a.price("captureAmount", c.CaptureAmount)
	a.price("refundedAmount", c.RefundedAmount)
	a.price("convertedAmount", c.ConvertedAmount)
	a.str("conversionRate", string(c.ConversionRate))
	a.boolean("captureNow", c.CaptureNow)
	a.boolean("canHandlePendingAuthorization", c.CanHandlePendingAuthorization)
	a.str("merchantReferenceId", merchantReference(c.MerchantMetadata))
	a.str("releaseEnvironment", c.ReleaseEnvironment)
	a.time("creationTimestamp", c.CreationTimestamp)
	a.time("expirationTimestamp", c.ExpirationTimestamp)
	return a.value()
}

// LogValue implements slog.LogValuer; the prefilled address is redacted.
func (r CreateCheckoutSessionRequest) LogValue() slog.Value {
	var a attrs
	a.str("storeId", r.StoreID)
	a.str("chargePermissionType", r.ChargePermissionType)
	a.group("paymentDetails", paymentDetailsValue(r.PaymentDetails))
	a.str("merchantReferenceId", merchantReference(r.MerchantMetadata))
	a.group("addressDetails", addressValue(r.AddressDetails))
	return a.value()
}

// Format implements fmt.Formatter with the redacted form, for every verb.
func (b Buyer) Format(f fmt.State, _ rune) { writeValue(f, b.LogValue()) }

// String returns the redacted form.
func (b Buyer) String() string { return render(b.LogValue()) }

// Format implements fmt.Formatter with the redacted form, for every verb.
func (addr Address) Format(f fmt.State, _ rune) { writeValue(f, addr.LogValue()) }

// String returns the redacted form.
func (addr Address) String() string { return render(addr.LogValue()) }

// Format implements fmt.Formatter with the redacted form, for every verb.
func (l AddressList) Format(f fmt.State, _ rune) { writeValue(f, l.LogValue()) }

// String returns the redacted form.
func (l AddressList) String() string { return render(l.LogValue()) }

// Format implements fmt.Formatter with the redacted form, for every verb.
func (s CheckoutSession) Format(f fmt.State, _ rune) { writeValue(f, s.LogValue()) }

// String returns the redacted form.
func (s CheckoutSession) String() string { return render(s.LogValue()) }

// Format implements fmt.Formatter with the redacted form, for every verb.
func (p ChargePermission) Format(f fmt.State, _ rune) { writeValue(f, p.LogValue()) }

// String returns the redacted form.
func (p ChargePermission) String() string { return render(p.LogValue()) }

// Format implements fmt.Formatter with the compact form, for every verb.
func (c Charge) Format(f fmt.State, _ rune) { writeValue(f, c.LogValue()) }

// String returns the compact form.
func (c Charge) String() string { return render(c.LogValue()) }

// Format implements fmt.Formatter with the redacted form, for every verb.
func (r CreateCheckoutSessionRequest) Format(f fmt.State, _ rune) { writeValue(f, r.LogValue()) }

// String returns the redacted form.
func (r CreateCheckoutSessionRequest) String() string { return render(r.LogValue()) }

func render(v slog.Value) string {
	var b strings.Builder
	writeValue(&b, v)
	return b.String()
}

// writeValue prints a value as {key:value key:{...}}.
func writeValue(w io.Writer, v slog.Value) {
	v = v.Resolve()
	if v.Kind() != slog.KindGroup {
		io.WriteString(w, v.String())
		return
	}
	io.WriteString(w, "{")
	for i, a := range v.Group() {
		if i > 0 {
			io.WriteString(w, " ")
		}
		io.WriteString(w, a.Key+":")
		writeValue(w, a.Value)
	}
	io.WriteString(w, "}")
}
