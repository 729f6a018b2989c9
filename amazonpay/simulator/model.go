package simulator

import (
	"encoding/json"
	"time"
)

// Checkout Session, Charge and Charge Permission states and reason codes, as
// Amazon Pay names them.
const (
	stateOpen      = "Open"
	stateCompleted = "Completed"
	stateCanceled  = "Canceled"

	stateAuthorizationInitiated = "AuthorizationInitiated"
	stateAuthorized             = "Authorized"
	stateCaptureInitiated       = "CaptureInitiated"
	stateCaptured               = "Captured"
	stateDeclined               = "Declined"

	stateChargeable    = "Chargeable"
	stateNonChargeable = "NonChargeable"
	stateClosed        = "Closed"
)

// Buyer scenarios accepted by the control API, modelled on the sandbox's
// simulated payment instruments.
const (
	scenarioAuthorized            = "Authorized"
	scenarioBuyerCanceled         = "BuyerCanceled"
	scenarioDeclined              = "Declined"
	scenarioPendingThenAuthorized = "PendingThenAuthorized"
	scenarioPendingThenDeclined   = "PendingThenDeclined"
)

// Lifetimes Amazon documents.
const (
	sessionLifetime          = 24 * time.Hour
	authorizationLifetime    = 30 * 24 * time.Hour
	chargePermissionLifetime = 180 * 24 * time.Hour
	// sessionRetention is when Amazon deletes a Checkout Session (30 days
	// after creation); its charge permission and charges stay.
	sessionRetention = 30 * 24 * time.Hour
)

// pastRetention reports whether Amazon has deleted the session by now: it
// then answers 404 ResourceNotFound like one that never existed.
func (s *sessionRecord) pastRetention(now time.Time) bool {
	return !now.Before(s.Created.Add(sessionRetention))
}

// address is a postal address as Amazon returns it.
type address struct {
	Name          *string `json:"name"`
	AddressLine1  *string `json:"addressLine1"`
	AddressLine2  *string `json:"addressLine2"`
	AddressLine3  *string `json:"addressLine3"`
	City          *string `json:"city"`
	County        *string `json:"county"`
	District      *string `json:"district"`
	StateOrRegion *string `json:"stateOrRegion"`
	PostalCode    *string `json:"postalCode"`
	CountryCode   *string `json:"countryCode"`
	PhoneNumber   *string `json:"phoneNumber"`
}

// buyer is the Buyer object.
type buyer struct {
	BuyerID              string          `json:"buyerId"`
	Name                 string          `json:"name"`
	Email                string          `json:"email"`
	PhoneNumber          *string         `json:"phoneNumber"`
	PrimeMembershipTypes json.RawMessage `json:"primeMembershipTypes"`
}

// paymentPreference describes the instrument the buyer chose.
type paymentPreference struct {
	PaymentDescriptor string `json:"paymentDescriptor"`
}

// merchantMetadata is the MerchantMetadata object.
type merchantMetadata struct {
	MerchantReferenceID *string `json:"merchantReferenceId"`
	MerchantStoreName   *string `json:"merchantStoreName"`
	NoteToBuyer         *string `json:"noteToBuyer"`
	CustomInformation   *string `json:"customInformation"`
}

// webCheckoutDetails is the WebCheckoutDetails object, its keys in the
// order of Amazon's answers (review, result, redirect, cancel; checkoutMode
// came later and follows).
type webCheckoutDetails struct {
	CheckoutReviewReturnURL *string `json:"checkoutReviewReturnUrl"`
	CheckoutResultReturnURL *string `json:"checkoutResultReturnUrl"`
	AmazonPayRedirectURL    *string `json:"amazonPayRedirectUrl"`
	CheckoutCancelURL       *string `json:"checkoutCancelUrl"`
	CheckoutMode            *string `json:"checkoutMode"`
}

// sessionRecord is a Checkout Session as the simulator keeps it.
type sessionRecord struct {
	ID          string `json:"id"`
	Merchant    string `json:"merchant"`
	Region      string `json:"region"`
	Environment string `json:"environment"`

	WebCheckoutDetails webCheckoutDetails `json:"webCheckoutDetails"`
	// ProductType is the effective product type (PayAndShip unless
	// given); ProductTypeGiven says whether the merchant sent one, because
	// Amazon answers null until then or until the buyer signed in.
	ProductType          string           `json:"productType"`
	ProductTypeGiven     bool             `json:"productTypeGiven"`
	ChargePermissionType string           `json:"chargePermissionType"`
	StoreID              string           `json:"storeId"`
	PlatformID           *string          `json:"platformId"`
	MerchantMetadata     merchantMetadata `json:"merchantMetadata"`
	ProviderReferenceID  *string          `json:"providerReferenceId"`
	SupplementaryData    *string          `json:"supplementaryData"`
	RecurringMetadata    json.RawMessage  `json:"recurringMetadata"`
	PaymentMethodOnFile  json.RawMessage  `json:"paymentMethodOnFileMetadata"`
	AddressDetails       json.RawMessage  `json:"addressDetails"`
	DeliverySpecs        json.RawMessage  `json:"deliverySpecifications"`
	Scopes               json.RawMessage  `json:"scopes"`

	PaymentIntent                 *string `json:"paymentIntent"`
	CanHandlePendingAuthorization bool    `json:"canHandlePendingAuthorization"`
	ChargeAmount                  *price  `json:"chargeAmount"`
	TotalOrderAmount              *price  `json:"totalOrderAmount"`
	PresentmentCurrency           *string `json:"presentmentCurrency"`
	SoftDescriptor                *string `json:"softDescriptor"`
	AllowOvercharge               *bool   `json:"allowOvercharge"`
	ExtendExpiration              *bool   `json:"extendExpiration"`

	// Scenario is the instrument the buyer chose when signing in ("" =
	// no buyer yet); AwaitingPayment is set from sign-in until the buyer
	// pays on the amazonPayRedirectUrl page (records from before the
	// split lack it and read as paid).
	Scenario           string              `json:"scenario"`
	AwaitingPayment    bool                `json:"awaitingPayment"`
	Buyer              *buyer              `json:"buyer"`
	ShippingAddress    *address            `json:"shippingAddress"`
	BillingAddress     *address            `json:"billingAddress"`
	PaymentPreferences []paymentPreference `json:"paymentPreferences"`

	State              string    `json:"state"`
	ReasonCode         string    `json:"reasonCode"`
	ReasonDescription  string    `json:"reasonDescription"`
	LastUpdated        time.Time `json:"lastUpdated"`
	Created            time.Time `json:"created"`
	Expires            time.Time `json:"expires"`
	ChargePermissionID string    `json:"chargePermissionId"`
	ChargeID           string    `json:"chargeId"`
}

// chargeRecord is a Charge as the simulator keeps it.
type chargeRecord struct {
	ID                 string           `json:"id"`
	ChargePermissionID string           `json:"chargePermissionId"`
	SessionID          string           `json:"sessionId"`
	Merchant           string           `json:"merchant"`
	Environment        string           `json:"environment"`
	ChargeAmount       price            `json:"chargeAmount"`
	CaptureAmount      *price           `json:"captureAmount"`
	SoftDescriptor     *string          `json:"softDescriptor"`
	CaptureNow         bool             `json:"captureNow"`
	CanHandlePending   bool             `json:"canHandlePendingAuthorization"`
	MerchantMetadata   merchantMetadata `json:"merchantMetadata"`
	PlatformID         *string          `json:"platformId"`
	ProviderRefID      *string          `json:"providerReferenceId"`
	// Channel, ChargeInitiator and WebCheckoutDetails are what Create
	// Charge may set; charges of a Checkout Session answer them null.
	Channel            *string             `json:"channel"`
	ChargeInitiator    *string             `json:"chargeInitiator"`
	WebCheckoutDetails *webCheckoutDetails `json:"webCheckoutDetails"`

	State             string    `json:"state"`
	ReasonCode        string    `json:"reasonCode"`
	ReasonDescription string    `json:"reasonDescription"`
	LastUpdated       time.Time `json:"lastUpdated"`
	Created           time.Time `json:"created"`
	Expires           time.Time `json:"expires"`

	// SettleAt and SettleState/SettleReason describe a pending
	// authorization's or capture's outcome; they survive restarts so
	// settlement resumes. SettleAmount is the amount a pending capture
	// captures.
	SettleAt     time.Time `json:"settleAt"`
	SettleState  string    `json:"settleState"`
	SettleReason string    `json:"settleReason"`
	SettleAmount *price    `json:"settleAmount,omitempty"`
	// RefundedMinor is the amount of the charge's refunds that reached
	// Refunded (Amazon's refundedAmount).
	RefundedMinor int64 `json:"refundedMinor"`
	// RefundIDs lists the charge's refunds, oldest first.
	RefundIDs []string `json:"refundIds,omitempty"`
	// Authorized is when the charge was last authorized; a capture more
	// than seven days later is asynchronous.
	Authorized time.Time `json:"authorized"`
}

// reason is one entry of a Charge Permission's statusDetails.reasons.
type reason struct {
	ReasonCode        string `json:"reasonCode"`
	ReasonDescription string `json:"reasonDescription"`
}

// chargePermissionRecord is a Charge Permission as the simulator keeps it.
type chargePermissionRecord struct {
	ID                   string              `json:"id"`
	SessionID            string              `json:"sessionId"`
	Merchant             string              `json:"merchant"`
	Environment          string              `json:"environment"`
	ChargePermissionType string              `json:"chargePermissionType"`
	RecurringMetadata    json.RawMessage     `json:"recurringMetadata"`
	Buyer                *buyer              `json:"buyer"`
	ShippingAddress      *address            `json:"shippingAddress"`
	BillingAddress       *address            `json:"billingAddress"`
	PaymentPreferences   []paymentPreference `json:"paymentPreferences"`
	MerchantMetadata     merchantMetadata    `json:"merchantMetadata"`
	PlatformID           *string             `json:"platformId"`
	PresentmentCurrency  string              `json:"presentmentCurrency"`
	AmountLimit          price               `json:"amountLimit"`
	// Used is the amount captured or held by open authorizations.
	Used int64 `json:"used"`
	// ChargeIDs lists the charges made on the permission (Complete's and
	// Create Charge's), oldest first; Amazon allows 25.
	ChargeIDs []string `json:"chargeIds"`
	// Scenario is the buyer's instrument (control API scenario), which
	// decides how later charges authorize.
	Scenario        string `json:"scenario"`
	ClosureReason   string `json:"closureReason,omitempty"`
	AllowOvercharge bool   `json:"allowOvercharge"`

	State       string    `json:"state"`
	Reasons     []reason  `json:"reasons"`
	LastUpdated time.Time `json:"lastUpdated"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
}

// stamp formats a time the way Amazon Pay does in responses.
func stamp(t time.Time) string { return t.UTC().Format(basicDateLayout) }

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// statusDetails is the statusDetails of Checkout Sessions and Charges.
type statusDetails struct {
	State                string  `json:"state"`
	ReasonCode           *string `json:"reasonCode"`
	ReasonDescription    *string `json:"reasonDescription"`
	LastUpdatedTimestamp string  `json:"lastUpdatedTimestamp"`
}

type constraint struct {
	ConstraintID string `json:"constraintId"`
	Description  string `json:"description"`
}

type paymentDetailsJSON struct {
	PaymentIntent                 *string    `json:"paymentIntent"`
	CanHandlePendingAuthorization bool       `json:"canHandlePendingAuthorization"`
	ChargeAmount                  *priceJSON `json:"chargeAmount"`
	TotalOrderAmount              *priceJSON `json:"totalOrderAmount"`
	SoftDescriptor                *string    `json:"softDescriptor"`
	PresentmentCurrency           *string    `json:"presentmentCurrency"`
	AllowOvercharge               *bool      `json:"allowOvercharge"`
	ExtendExpiration              *bool      `json:"extendExpiration"`
	EstimateOrderTotal            *priceJSON `json:"estimateOrderTotal"`
}

type providerMetadata struct {
	ProviderReferenceID *string `json:"providerReferenceId"`
}

// checkoutSessionJSON is the Checkout Session object of the API: exactly
// the keys of Amazon's answers, in their order (the official Node.js SDK's
// integration test compares Object.keys of a live sandbox answer with this
// list), null where Amazon sends null.
type checkoutSessionJSON struct {
	CheckoutSessionID  string             `json:"checkoutSessionId"`
	WebCheckoutDetails webCheckoutDetails `json:"webCheckoutDetails"`
	ProductType        *string            `json:"productType"`
	PaymentDetails     paymentDetailsJSON `json:"paymentDetails"`
	// CartDetails is in Finalize's answers only (the Node SDK's Finalize
	// test lists it): RawMessage("null") there, nil (omitted) elsewhere.
	CartDetails                 json.RawMessage      `json:"cartDetails,omitempty"`
	ChargePermissionType        string               `json:"chargePermissionType"`
	OrderType                   *string              `json:"orderType"`
	RecurringMetadata           json.RawMessage      `json:"recurringMetadata"`
	PaymentMethodOnFileMetadata json.RawMessage      `json:"paymentMethodOnFileMetadata"`
	MerchantDetails             json.RawMessage      `json:"merchantDetails"`
	MerchantMetadata            merchantMetadata     `json:"merchantMetadata"`
	SupplementaryData           *string              `json:"supplementaryData"`
	Buyer                       *buyer               `json:"buyer"`
	BillingAddress              *address             `json:"billingAddress"`
	PaymentPreferences          []*paymentPreference `json:"paymentPreferences"`
	StatusDetails               statusDetails        `json:"statusDetails"`
	ShippingAddress             *address             `json:"shippingAddress"`
	PlatformID                  *string              `json:"platformId"`
	ChargePermissionID          *string              `json:"chargePermissionId"`
	ChargeID                    *string              `json:"chargeId"`
	Constraints                 []constraint         `json:"constraints"`
	CreationTimestamp           string               `json:"creationTimestamp"`
	ExpirationTimestamp         string               `json:"expirationTimestamp"`
	StoreID                     string               `json:"storeId"`
	ProviderMetadata            providerMetadata     `json:"providerMetadata"`
	ReleaseEnvironment          string               `json:"releaseEnvironment"`
	CheckoutButtonText          *string              `json:"checkoutButtonText"`
	DeliverySpecifications      json.RawMessage      `json:"deliverySpecifications"`
	Tokens                      json.RawMessage      `json:"tokens"`
}

// Constraint ids and Amazon's descriptions of them (from real sandbox
// answers).
const (
	constraintBuyerNotAssociated = "BuyerNotAssociated"
	descBuyerNotAssociated       = "There is no buyer associated with the Checkout Session. Return the checkout session id to the Amazon Pay Button to allow buyer to login."
)

// constraints lists what still prevents the session from being completed.
// As long as no buyer has signed in, Amazon lists only BuyerNotAssociated,
// whatever the merchant has set; afterwards the merchant-side ones that are
// left (resolved by Update Checkout Session), in Amazon's alphabetical
// order.
func (s *sessionRecord) constraints() []constraint {
	out := []constraint{}
	if s.State != stateOpen {
		return out
	}
	if s.Scenario == "" {
		return append(out, constraint{constraintBuyerNotAssociated, descBuyerNotAssociated})
	}
	return append(out, s.merchantConstraints()...)
}

// merchantConstraints lists the merchant-side constraints left, whether or
// not a buyer has signed in.
func (s *sessionRecord) merchantConstraints() []constraint {
	var out []constraint
	if s.ChargeAmount == nil && s.ChargePermissionType != "PaymentMethodOnFile" {
		out = append(out, constraint{"ChargeAmountNotSet", "chargeAmount is not set."})
	}
	if s.WebCheckoutDetails.CheckoutResultReturnURL == nil {
		out = append(out, constraint{"CheckoutResultReturnUrlNotSet", "checkoutResultReturnUrl is not set."})
	}
	if s.PaymentIntent == nil {
		out = append(out, constraint{"PaymentIntentNotSet", "paymentIntent is not set."})
	}
	return out
}

// merchantReady reports whether the merchant has set everything Complete
// needs (only the buyer may be missing).
func (s *sessionRecord) merchantReady() bool { return len(s.merchantConstraints()) == 0 }

func releaseEnvironment(env string) string {
	if env == envLive {
		return "Live"
	}
	return "Sandbox"
}

// redirectHost is the Amazon Pay checkout host buyers are sent to per region.
func redirectHost(region string) string {
	switch region {
	case "eu":
		return "apay-eu.amazon.com"
	case "jp":
		return "apay-fe.amazon.com"
	}
	return "apay-us.amazon.com"
}

// paymentPreferencesJSON answers Amazon's [null] while there is no
// instrument to show.
func paymentPreferencesJSON(p []paymentPreference) []*paymentPreference {
	if len(p) == 0 {
		return []*paymentPreference{nil}
	}
	out := make([]*paymentPreference, len(p))
	for i := range p {
		out[i] = &p[i]
	}
	return out
}

func (s *sessionRecord) json() checkoutSessionJSON {
	wcd := s.WebCheckoutDetails
	wcd.AmazonPayRedirectURL = nil
	constraints := s.constraints()
	if s.State == stateOpen && len(constraints) == 0 {
		// The buyer has signed in and the merchant has set everything:
		// only now is there a page to send the buyer to.
		u := "https://" + redirectHost(s.Region) + "/checkout/processing?amazonCheckoutSessionId=" + s.ID
		wcd.AmazonPayRedirectURL = &u
	}
	var productType *string
	if s.ProductTypeGiven || s.Scenario != "" {
		// Amazon answers null until the merchant names a product type or
		// the buyer's checkout fixes the default.
		productType = &s.ProductType
	}
	out := checkoutSessionJSON{
		CheckoutSessionID:    s.ID,
		WebCheckoutDetails:   wcd,
		ProductType:          productType,
		ChargePermissionType: s.ChargePermissionType,
		PaymentDetails: paymentDetailsJSON{
			PaymentIntent:                 s.PaymentIntent,
			CanHandlePendingAuthorization: s.CanHandlePendingAuthorization,
			ChargeAmount:                  s.ChargeAmount.json(),
			TotalOrderAmount:              s.TotalOrderAmount.json(),
			SoftDescriptor:                s.SoftDescriptor,
			PresentmentCurrency:           s.PresentmentCurrency,
			AllowOvercharge:               s.AllowOvercharge,
			ExtendExpiration:              s.ExtendExpiration,
		},
		RecurringMetadata:           s.RecurringMetadata,
		PaymentMethodOnFileMetadata: s.PaymentMethodOnFile,
		MerchantMetadata:            s.MerchantMetadata,
		SupplementaryData:           s.SupplementaryData,
		Buyer:                       s.Buyer,
		BillingAddress:              s.BillingAddress,
		PaymentPreferences:          paymentPreferencesJSON(s.PaymentPreferences),
		ShippingAddress:             s.ShippingAddress,
		PlatformID:                  s.PlatformID,
		ChargePermissionID:          strPtr(s.ChargePermissionID),
		ChargeID:                    strPtr(s.ChargeID),
		Constraints:                 constraints,
		StatusDetails: statusDetails{
			State:                s.State,
			ReasonCode:           strPtr(s.ReasonCode),
			ReasonDescription:    strPtr(s.ReasonDescription),
			LastUpdatedTimestamp: stamp(s.LastUpdated),
		},
		CreationTimestamp:      stamp(s.Created),
		ExpirationTimestamp:    stamp(s.Expires),
		StoreID:                s.StoreID,
		DeliverySpecifications: s.DeliverySpecs,
		ProviderMetadata:       providerMetadata{ProviderReferenceID: s.ProviderReferenceID},
		ReleaseEnvironment:     releaseEnvironment(s.Environment),
	}
	if s.State == stateCanceled {
		// A canceled session carries only its state and reason; the
		// buyer's details are gone with it.
		out.Buyer, out.BillingAddress, out.ShippingAddress = nil, nil, nil
		out.PaymentPreferences = paymentPreferencesJSON(nil)
	}
	return out
}

// chargeJSON is the Charge object of the API: the keys of the official
// Node.js SDK's integration test, in the order of real sandbox answers
// (chargeId … conversionRate, statusDetails, timestamps, releaseEnvironment
// as a 2020 answer shows; channel and chargeInitiator after conversionRate,
// merchantMetadata, platformId and webCheckoutDetails last, as the SDK
// lists them). Amazon does not echo captureNow or
// canHandlePendingAuthorization.
type chargeJSON struct {
	ChargeID            string              `json:"chargeId"`
	ChargeAmount        *priceJSON          `json:"chargeAmount"`
	ChargePermissionID  string              `json:"chargePermissionId"`
	CaptureAmount       *priceJSON          `json:"captureAmount"`
	RefundedAmount      *priceJSON          `json:"refundedAmount"`
	SoftDescriptor      *string             `json:"softDescriptor"`
	ProviderMetadata    providerMetadata    `json:"providerMetadata"`
	ConvertedAmount     *priceJSON          `json:"convertedAmount"`
	ConversionRate      *string             `json:"conversionRate"`
	Channel             *string             `json:"channel"`
	ChargeInitiator     *string             `json:"chargeInitiator"`
	StatusDetails       statusDetails       `json:"statusDetails"`
	CreationTimestamp   string              `json:"creationTimestamp"`
	ExpirationTimestamp string              `json:"expirationTimestamp"`
	ReleaseEnvironment  string              `json:"releaseEnvironment"`
	MerchantMetadata    merchantMetadata    `json:"merchantMetadata"`
	PlatformID          *string             `json:"platformId"`
	WebCheckoutDetails  *webCheckoutDetails `json:"webCheckoutDetails"`
}

func (c *chargeRecord) json() chargeJSON {
	out := chargeJSON{
		ChargeID:           c.ID,
		ChargeAmount:       c.ChargeAmount.json(),
		ChargePermissionID: c.ChargePermissionID,
		CaptureAmount:      c.CaptureAmount.json(),
		SoftDescriptor:     c.SoftDescriptor,
		ProviderMetadata:   providerMetadata{ProviderReferenceID: c.ProviderRefID},
		Channel:            c.Channel,
		ChargeInitiator:    c.ChargeInitiator,
		StatusDetails: statusDetails{
			State:                c.State,
			ReasonCode:           strPtr(c.ReasonCode),
			ReasonDescription:    strPtr(c.ReasonDescription),
			LastUpdatedTimestamp: stamp(c.LastUpdated),
		},
		CreationTimestamp:   stamp(c.Created),
		ExpirationTimestamp: stamp(c.Expires),
		ReleaseEnvironment:  releaseEnvironment(c.Environment),
		MerchantMetadata:    c.MerchantMetadata,
		PlatformID:          c.PlatformID,
		WebCheckoutDetails:  c.WebCheckoutDetails,
	}
	if c.CaptureAmount != nil {
		out.RefundedAmount = (&price{Minor: c.RefundedMinor, Currency: c.ChargeAmount.Currency}).json()
	}
	return out
}

type limitsJSON struct {
	AmountLimit   *priceJSON `json:"amountLimit"`
	AmountBalance *priceJSON `json:"amountBalance"`
}

type cpStatusDetails struct {
	State                string   `json:"state"`
	Reasons              []reason `json:"reasons"`
	LastUpdatedTimestamp string   `json:"lastUpdatedTimestamp"`
}

// chargePermissionJSON is the Charge Permission object of the API: the
// keys of the official Node.js SDK's integration test in its order, which
// is also the order of real sandbox answers (chargePermissionId,
// chargePermissionReferenceId, platformId, buyer, … releaseEnvironment,
// limits, …, presentmentCurrency).
type chargePermissionJSON struct {
	ChargePermissionID          string               `json:"chargePermissionId"`
	ChargePermissionReferenceID *string              `json:"chargePermissionReferenceId"`
	PlatformID                  *string              `json:"platformId"`
	Buyer                       *buyer               `json:"buyer"`
	ShippingAddress             *address             `json:"shippingAddress"`
	BillingAddress              *address             `json:"billingAddress"`
	PaymentPreferences          []*paymentPreference `json:"paymentPreferences"`
	StatusDetails               cpStatusDetails      `json:"statusDetails"`
	CreationTimestamp           string               `json:"creationTimestamp"`
	ExpirationTimestamp         string               `json:"expirationTimestamp"`
	MerchantMetadata            merchantMetadata     `json:"merchantMetadata"`
	ReleaseEnvironment          string               `json:"releaseEnvironment"`
	Limits                      limitsJSON           `json:"limits"`
	ChargePermissionType        string               `json:"chargePermissionType"`
	RecurringMetadata           json.RawMessage      `json:"recurringMetadata"`
	PresentmentCurrency         string               `json:"presentmentCurrency"`
}

func (p *chargePermissionRecord) json() chargePermissionJSON {
	balance := price{Minor: max(p.AmountLimit.Minor-p.Used, 0), Currency: p.AmountLimit.Currency}
	return chargePermissionJSON{
		ChargePermissionID: p.ID,
		PlatformID:         p.PlatformID,
		Buyer:              p.Buyer,
		ShippingAddress:    p.ShippingAddress,
		BillingAddress:     p.BillingAddress,
		PaymentPreferences: paymentPreferencesJSON(p.PaymentPreferences),
		StatusDetails: cpStatusDetails{
			State:                p.State,
			Reasons:              p.Reasons,
			LastUpdatedTimestamp: stamp(p.LastUpdated),
		},
		CreationTimestamp:    stamp(p.Created),
		ExpirationTimestamp:  stamp(p.Expires),
		MerchantMetadata:     p.MerchantMetadata,
		ReleaseEnvironment:   releaseEnvironment(p.Environment),
		Limits:               limitsJSON{AmountLimit: p.AmountLimit.json(), AmountBalance: balance.json()},
		ChargePermissionType: p.ChargePermissionType,
		RecurringMetadata:    p.RecurringMetadata,
		PresentmentCurrency:  p.PresentmentCurrency,
	}
}
