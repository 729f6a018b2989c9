package simulator

import (
	"strings"
	"time"
)

// checkFinalize validates Finalize Checkout Session's payment-critical
// attributes against the session (Buy Now "verify and complete checkout"):
// supplementaryData must be sent when the session has one, and the address
// Amazon shared (shipping for PayAndShip, billing for PayOnly) must come
// back unchanged. It changes nothing: applyFinalize does, once every
// check of the call has passed.
func checkFinalize(sess *sessionRecord, in *finalizeInput) *apiError {
	if sess.SupplementaryData != nil && (in.SupplementaryData == nil || *in.SupplementaryData != *sess.SupplementaryData) {
		return errorf(400, "InvalidParameterValue", "supplementaryData must be sent as it was set on the Checkout Session.")
	}
	if sess.Buyer != nil {
		switch sess.ProductType {
		case "PayAndShip":
			if !sameAddress(in.ShippingAddress, sess.ShippingAddress) {
				return errorf(400, "InvalidParameterValue", "shippingAddress does not match the address the buyer selected.")
			}
		case "PayOnly":
			if !sameAddress(in.BillingAddress, sess.BillingAddress) {
				return errorf(400, "InvalidParameterValue", "billingAddress does not match the buyer's billing address.")
			}
		}
	}
	return nil
}

// applyFinalize makes Finalize's paymentIntent and
// canHandlePendingAuthorization, when sent, the session's. A refused
// Finalize must leave the session as it was, so this runs only after the
// call's last refusal.
func applyFinalize(sess *sessionRecord, in *finalizeInput) {
	if in.PaymentIntent != nil {
		sess.PaymentIntent = in.PaymentIntent
	}
	if in.CanHandlePendingAuthorization != nil {
		sess.CanHandlePendingAuthorization = *in.CanHandlePendingAuthorization
	}
}

// sameAddress compares two addresses field by field; null and "" are the
// same, and letter case and surrounding blanks do not matter.
func sameAddress(got, want *address) bool {
	if got == nil || want == nil {
		return got == want
	}
	pairs := [][2]*string{
		{got.Name, want.Name}, {got.AddressLine1, want.AddressLine1}, {got.AddressLine2, want.AddressLine2},
		{got.AddressLine3, want.AddressLine3}, {got.City, want.City}, {got.County, want.County},
		{got.District, want.District}, {got.StateOrRegion, want.StateOrRegion}, {got.PostalCode, want.PostalCode},
		{got.CountryCode, want.CountryCode},
	}
	for _, p := range pairs {
		a, b := "", ""
		if p[0] != nil {
			a = *p[0]
		}
		if p[1] != nil {
			b = *p[1]
		}
		if !strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) {
			return false
		}
	}
	return true
}

// buyerTokenRecord is a buyer token as Amazon appends it to the
// signInReturnUrl after "Sign in with Amazon Pay", kept for Get Buyer.
type buyerTokenRecord struct {
	Token           string    `json:"token"`
	Merchant        string    `json:"merchant"`
	Buyer           buyer     `json:"buyer"`
	ShippingAddress *address  `json:"shippingAddress"`
	BillingAddress  *address  `json:"billingAddress"`
	Created         time.Time `json:"created"`
}

// buyerJSON is the Buyer object Get Buyer returns.
type buyerJSON struct {
	BuyerID              string   `json:"buyerId"`
	Name                 string   `json:"name"`
	Email                string   `json:"email"`
	PostalCode           *string  `json:"postalCode"`
	CountryCode          *string  `json:"countryCode"`
	PhoneNumber          *string  `json:"phoneNumber"`
	ShippingAddress      *address `json:"shippingAddress"`
	BillingAddress       *address `json:"billingAddress"`
	PrimeMembershipTypes []string `json:"primeMembershipTypes"`
}

func (b *buyerTokenRecord) json() buyerJSON {
	out := buyerJSON{
		BuyerID:         b.Buyer.BuyerID,
		Name:            b.Buyer.Name,
		Email:           b.Buyer.Email,
		PhoneNumber:     b.Buyer.PhoneNumber,
		ShippingAddress: b.ShippingAddress,
		BillingAddress:  b.BillingAddress,
	}
	if a := b.ShippingAddress; a != nil {
		out.PostalCode, out.CountryCode = a.PostalCode, a.CountryCode
	} else if a := b.BillingAddress; a != nil {
		out.PostalCode, out.CountryCode = a.PostalCode, a.CountryCode
	}
	return out
}

// getBuyerLocked is Get Buyer: the signed-in buyer behind a buyer token of
// the caller's merchant. An unknown token answers 404 ResourceNotFound.
func (s *Simulator) getBuyerLocked(c *call) (int, any, *apiError) {
	b := s.buyerTokens[c.id]
	if b == nil || b.Merchant != c.merchant {
		return 0, nil, errorf(404, "ResourceNotFound", "The buyer token is not valid.")
	}
	return 200, b.json(), nil
}

type buyerTokenInput struct {
	CheckoutSessionID string `json:"checkoutSessionId"`
	MerchantID        string `json:"merchantId"`
	Region            string `json:"region"`
}

// controlBuyerToken plays "Sign in with Amazon Pay": it returns a buyer
// token for the buyer of a checkout session (who must have signed in), or
// for a new buyer of merchantId in region (na, eu, jp).
func (s *Simulator) controlBuyerToken(body []byte) (int, any, *apiError) {
	var in buyerTokenInput
	if e := decodeBody(body, &in); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.persistLocked()
	rec := &buyerTokenRecord{Token: newBuyerToken(), Created: s.clock.Now()}
	if in.CheckoutSessionID != "" {
		sess := s.sessions[in.CheckoutSessionID]
		if sess == nil {
			return 0, nil, errorf(404, "ResourceNotFound", "The Checkout Session %s does not exist.", in.CheckoutSessionID)
		}
		if sess.Buyer == nil {
			return 0, nil, errorf(422, "InvalidCheckoutSessionStatus", "The buyer has not signed in on this Checkout Session.")
		}
		rec.Merchant, rec.Buyer = sess.Merchant, *sess.Buyer
		rec.ShippingAddress, rec.BillingAddress = sess.ShippingAddress, sess.BillingAddress
	} else {
		region := in.Region
		if region == "" {
			region = "na"
		}
		if regionDigits[region] == "" {
			return 0, nil, errorf(400, "InvalidParameterValue", "region must be na, eu or jp.")
		}
		tmp := &sessionRecord{ID: newUUID(), Region: region, ProductType: "PayAndShip"}
		fillBuyer(tmp, scenarioAuthorized)
		rec.Merchant = in.MerchantID
		if rec.Merchant == "" {
			rec.Merchant = defaultMerchant
		}
		rec.Buyer, rec.ShippingAddress, rec.BillingAddress = *tmp.Buyer, tmp.ShippingAddress, tmp.BillingAddress
	}
	s.buyerTokens[rec.Token] = rec
	s.putRecordLocked(kindBuyerToken, rec.Token, rec)
	return 201, map[string]string{"buyerToken": rec.Token, "buyerId": rec.Buyer.BuyerID}, nil
}

// newBuyerToken returns an opaque token of URL-safe characters.
func newBuyerToken() string {
	return strings.ReplaceAll(newUUID(), "-", "") + strings.ReplaceAll(newUUID(), "-", "")
}
