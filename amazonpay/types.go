package amazonpay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Price is an amount of money as Amazon Pay writes it. Amount is a decimal
// string ("14.00", "1000" for JPY) and is never converted to a float: it is
// sent as a JSON string and, when a response carries a bare JSON number
// (the .NET SDK sends those), its exact text is kept.
type Price struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

// UnmarshalJSON accepts amount as a string or a bare number; null leaves
// the Price unchanged.
func (p *Price) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		return nil
	}
	var w struct {
		Amount       Decimal `json:"amount"`
		CurrencyCode *string `json:"currencyCode"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("amazonpay: price: %w", err)
	}
	p.Amount = string(w.Amount)
	p.CurrencyCode = ""
	if w.CurrencyCode != nil {
		p.CurrencyCode = *w.CurrencyCode
	}
	return nil
}

// String returns "14.00 USD".
func (p Price) String() string { return p.Amount + " " + p.CurrencyCode }

// Validate checks that Amount is a non-negative decimal ("14", "14.00") and
// CurrencyCode three upper-case letters. It does not check the currency's
// number of decimal places; Amazon does.
func (p Price) Validate() error {
	if !isDecimal(p.Amount) {
		return fmt.Errorf("amazonpay: amount %q is not a decimal number", p.Amount)
	}
	if len(p.CurrencyCode) != 3 || strings.ToUpper(p.CurrencyCode) != p.CurrencyCode ||
		strings.IndexFunc(p.CurrencyCode, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return fmt.Errorf("amazonpay: currency code %q is not an ISO 4217 code", p.CurrencyCode)
	}
	return nil
}

// isDecimal reports whether s is digits with an optional fraction.
func isDecimal(s string) bool {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") {
		return false
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

// Decimal is a decimal number kept as its exact text. It marshals as a JSON
// string and unmarshals from a string or a bare JSON number (never via
// float64); null gives "".
type Decimal string

// UnmarshalJSON implements json.Unmarshaler.
func (d *Decimal) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case isJSONNull(data):
		*d = ""
		return nil
	case len(data) > 0 && data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*d = Decimal(s)
		return nil
	}
	// A bare number: the decoder has already checked the JSON syntax of the
	// enclosing document, but a direct call may not have.
	if !json.Valid(data) || (data[0] != '-' && (data[0] < '0' || data[0] > '9')) {
		return fmt.Errorf("amazonpay: decimal: want a string or a number, got %.20q", data)
	}
	*d = Decimal(data)
	return nil
}

func isJSONNull(data []byte) bool {
	return string(bytes.TrimSpace(data)) == "null"
}

// Time is a timestamp in an Amazon Pay object. It marshals as UTC in the
// ISO 8601 basic format Amazon uses (20060102T150405Z; the zero Time as
// null), and unmarshals that format, RFC 3339, null and "".
type Time struct {
	time.Time
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(DateFormat) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("amazonpay: timestamp: %w", err)
	}
	parsed, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = parsed
	return nil
}

// ParseTime parses an Amazon Pay timestamp: ISO 8601 basic
// ("20200908T221012Z", optionally with fractional seconds) or RFC 3339.
// "" gives the zero time. The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(DateFormat, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("amazonpay: timestamp %.40q is neither %s nor RFC 3339", s, DateFormat)
}

// String formats the time as Amazon does, or "" for the zero time.
func (t Time) String() string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(DateFormat)
}

// Checkout Session states and their reason codes.
const (
	StateOpen      = "Open"
	StateCompleted = "Completed"
	StateCanceled  = "Canceled"

	// ReasonBuyerCanceled: the buyer canceled on the Amazon Pay page.
	ReasonBuyerCanceled = "BuyerCanceled"
	// ReasonDeclined: the payment was declined (fraud, failed MFA, instrument).
	ReasonDeclined = "Declined"
	// ReasonExpired: the session (or charge permission) expired.
	ReasonExpired = "Expired"
	// ReasonAmazonCanceled: Amazon canceled, not payment-related.
	ReasonAmazonCanceled = "AmazonCanceled"
)

// Charge states.
const (
	ChargeStateAuthorizationInitiated = "AuthorizationInitiated"
	ChargeStateAuthorized             = "Authorized"
	ChargeStateCaptureInitiated       = "CaptureInitiated"
	ChargeStateCaptured               = "Captured"
	ChargeStateCanceled               = "Canceled"
	ChargeStateDeclined               = "Declined"
)

// Charge reason codes (Canceled and Declined states).
const (
	ReasonExpiredUnused            = "ExpiredUnused"
	ReasonMerchantCanceled         = "MerchantCanceled"
	ReasonChargePermissionCanceled = "ChargePermissionCanceled"
	ReasonSoftDeclined             = "SoftDeclined"
	ReasonHardDeclined             = "HardDeclined"
	ReasonAmazonRejected           = "AmazonRejected"
	ReasonProcessingFailure        = "ProcessingFailure"
	ReasonTransactionTimedOut      = "TransactionTimedOut"
)

// Charge Permission states and reason codes.
const (
	ChargePermissionStateChargeable    = "Chargeable"
	ChargePermissionStateNonChargeable = "NonChargeable"
	ChargePermissionStateClosed        = "Closed"

	ReasonPaymentMethodInvalid    = "PaymentMethodInvalid"
	ReasonPaymentMethodDeleted    = "PaymentMethodDeleted"
	ReasonBillingAddressDeleted   = "BillingAddressDeleted"
	ReasonPaymentMethodExpired    = "PaymentMethodExpired"
	ReasonPaymentMethodNotAllowed = "PaymentMethodNotAllowed"
	ReasonPaymentMethodNotSet     = "PaymentMethodNotSet"
	ReasonChargeInProgress        = "ChargeInProgress"
	ReasonMFAFailed               = "MFAFailed"
	ReasonMerchantClosed          = "MerchantClosed"
	ReasonAmazonClosed            = "AmazonClosed"
)

// Payment intents, charge permission types, product types and checkout modes.
const (
	PaymentIntentConfirm              = "Confirm"
	PaymentIntentAuthorize            = "Authorize"
	PaymentIntentAuthorizeWithCapture = "AuthorizeWithCapture"

	ChargePermissionTypeOneTime             = "OneTime"
	ChargePermissionTypeRecurring           = "Recurring"
	ChargePermissionTypePaymentMethodOnFile = "PaymentMethodOnFile"

	ProductTypePayAndShip = "PayAndShip"
	ProductTypePayOnly    = "PayOnly"
	ProductTypeSignIn     = "SignIn"

	CheckoutModeProcessOrder = "ProcessOrder"
)

// Error reason codes (Error.ReasonCode) a payment-completion service acts on.
const (
	CodeInvalidCheckoutSessionStatus = "InvalidCheckoutSessionStatus"
	CodeCheckoutSessionCanceled      = "CheckoutSessionCanceled"
	CodeAmountMismatch               = "AmountMismatch"
	CodeCurrencyMismatch             = "CurrencyMismatch"
	CodeResourceNotFound             = "ResourceNotFound"
	CodeDuplicateIdempotencyKey      = "DuplicateIdempotencyKey"
	CodeInvalidRequestSignature      = "InvalidRequestSignature"
	CodeInvalidParameterValue        = "InvalidParameterValue"
	CodeTooManyRequests              = "TooManyRequests"
	CodeInternalServerError          = "InternalServerError"
	CodeServiceUnavailable           = "ServiceUnavailable"
	CodeInvalidChargeStatus          = "InvalidChargeStatus"
	CodeTransactionAmountExceeded    = "TransactionAmountExceeded"
)

// StatusDetails is the state of a Checkout Session or Charge.
type StatusDetails struct {
	State                string `json:"state"`
	ReasonCode           string `json:"reasonCode,omitempty"`
	ReasonDescription    string `json:"reasonDescription,omitempty"`
	LastUpdatedTimestamp Time   `json:"lastUpdatedTimestamp,omitzero"`
}

// ChargePermissionStatusDetails is the state of a Charge Permission; unlike
// StatusDetails it carries a list of reasons.
type ChargePermissionStatusDetails struct {
	State                string   `json:"state"`
	Reasons              []Reason `json:"reasons,omitempty"`
	LastUpdatedTimestamp Time     `json:"lastUpdatedTimestamp,omitzero"`
}

// Reason is one reason of a Charge Permission state.
type Reason struct {
	ReasonCode        string `json:"reasonCode"`
	ReasonDescription string `json:"reasonDescription,omitempty"`
}

// WebCheckoutDetails holds the URLs of the Amazon Pay hosted checkout.
type WebCheckoutDetails struct {
	CheckoutReviewReturnURL string `json:"checkoutReviewReturnUrl,omitempty"`
	CheckoutResultReturnURL string `json:"checkoutResultReturnUrl,omitempty"`
	CheckoutCancelURL       string `json:"checkoutCancelUrl,omitempty"`
	AmazonPayRedirectURL    string `json:"amazonPayRedirectUrl,omitempty"`
	CheckoutMode            string `json:"checkoutMode,omitempty"`
}

// PaymentDetails says how and how much the buyer pays.
type PaymentDetails struct {
	PaymentIntent                 string `json:"paymentIntent,omitempty"`
	CanHandlePendingAuthorization bool   `json:"canHandlePendingAuthorization,omitempty"`
	ChargeAmount                  *Price `json:"chargeAmount,omitempty"`
	TotalOrderAmount              *Price `json:"totalOrderAmount,omitempty"`
	PresentmentCurrency           string `json:"presentmentCurrency,omitempty"`
	SoftDescriptor                string `json:"softDescriptor,omitempty"`
	AllowOvercharge               bool   `json:"allowOvercharge,omitempty"`
	ExtendExpiration              bool   `json:"extendExpiration,omitempty"`
	EstimateOrderTotal            *Price `json:"estimateOrderTotal,omitempty"`
}

// MerchantMetadata is the merchant's own order data shown to the buyer.
type MerchantMetadata struct {
	MerchantReferenceID string `json:"merchantReferenceId,omitempty"`
	MerchantStoreName   string `json:"merchantStoreName,omitempty"`
	NoteToBuyer         string `json:"noteToBuyer,omitempty"`
	CustomInformation   string `json:"customInformation,omitempty"`
}

// ProviderMetadata identifies the payment service provider's reference.
type ProviderMetadata struct {
	ProviderReferenceID string `json:"providerReferenceId,omitempty"`
}

// RecurringMetadata describes recurring charges.
type RecurringMetadata struct {
	Frequency *Frequency `json:"frequency,omitempty"`
	Amount    *Price     `json:"amount,omitempty"`
}

// Frequency is a recurring interval, e.g. Unit "Month", Value "1".
type Frequency struct {
	Unit  string  `json:"unit,omitempty"`
	Value Decimal `json:"value,omitempty"`
}

// PaymentMethodOnFileMetadata configures saved-wallet (setup-only) flows.
type PaymentMethodOnFileMetadata struct {
	SetupOnly bool `json:"setupOnly,omitempty"`
}

// Buyer is the buyer's Amazon account data. Everything but BuyerID and
// PrimeMembershipTypes is personal data and is redacted when printed or
// logged.
type Buyer struct {
	BuyerID              string   `json:"buyerId,omitempty"`
	Name                 string   `json:"name,omitempty"`
	Email                string   `json:"email,omitempty"`
	PhoneNumber          string   `json:"phoneNumber,omitempty"`
	PrimeMembershipTypes []string `json:"primeMembershipTypes,omitempty"`
}

// Address is a postal address. Everything but CountryCode is personal data
// and is redacted when printed or logged.
type Address struct {
	Name          string `json:"name,omitempty"`
	AddressLine1  string `json:"addressLine1,omitempty"`
	AddressLine2  string `json:"addressLine2,omitempty"`
	AddressLine3  string `json:"addressLine3,omitempty"`
	City          string `json:"city,omitempty"`
	County        string `json:"county,omitempty"`
	District      string `json:"district,omitempty"`
	StateOrRegion string `json:"stateOrRegion,omitempty"`
	PostalCode    string `json:"postalCode,omitempty"`
	CountryCode   string `json:"countryCode,omitempty"`
	PhoneNumber   string `json:"phoneNumber,omitempty"`
}

// AddressList is a list of addresses. Amazon sends shippingAddressList
// elements either as objects or as JSON strings holding an object (the SDKs
// parse each element from a string); both are accepted, nulls are skipped.
type AddressList []Address

// UnmarshalJSON implements json.Unmarshaler.
func (l *AddressList) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		*l = nil
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("amazonpay: address list: %w", err)
	}
	out := make(AddressList, 0, len(raw))
	for _, r := range raw {
		if isJSONNull(r) {
			continue
		}
		if r = bytes.TrimSpace(r); len(r) > 0 && r[0] == '"' {
			var s string
			if err := json.Unmarshal(r, &s); err != nil {
				return fmt.Errorf("amazonpay: address list: %w", err)
			}
			r = []byte(s)
		}
		var a Address
		if err := json.Unmarshal(r, &a); err != nil {
			return errors.New("amazonpay: address list: element is not an address")
		}
		out = append(out, a)
	}
	*l = out
	return nil
}

// PaymentPreference describes the chosen payment instrument, e.g. a masked
// card ("Visa ****1111").
type PaymentPreference struct {
	PaymentDescriptor string `json:"paymentDescriptor,omitempty"`
}

// Constraint is a reason the Checkout Session cannot proceed yet, e.g.
// "BuyerNotAssociated" or "ChargeAmountNotSet".
type Constraint struct {
	ConstraintID string `json:"constraintId"`
	Description  string `json:"description,omitempty"`
}

// DeliverySpecifications restricts where the buyer may ship to.
type DeliverySpecifications struct {
	SpecialRestrictions []string             `json:"specialRestrictions,omitempty"`
	AddressRestrictions *AddressRestrictions `json:"addressRestrictions,omitempty"`
}

// AddressRestrictions allows ("Allowed") or denies ("NotAllowed") the listed
// regions, keyed by country code.
type AddressRestrictions struct {
	Type         string                        `json:"type,omitempty"`
	Restrictions map[string]RegionRestrictions `json:"restrictions,omitempty"`
}

// RegionRestrictions lists states/regions and ZIP codes of one country.
type RegionRestrictions struct {
	StatesOrRegions []string `json:"statesOrRegions,omitempty"`
	ZipCodes        []string `json:"zipCodes,omitempty"`
}

// Limits are the amount limit and remaining balance of a Charge Permission.
type Limits struct {
	AmountLimit   *Price `json:"amountLimit,omitempty"`
	AmountBalance *Price `json:"amountBalance,omitempty"`
}

// CheckoutSession is Amazon Pay's Checkout Session object, returned by
// Create, Get, Update and Complete Checkout Session.
type CheckoutSession struct {
	CheckoutSessionID           string                       `json:"checkoutSessionId"`
	WebCheckoutDetails          *WebCheckoutDetails          `json:"webCheckoutDetails,omitempty"`
	ProductType                 string                       `json:"productType,omitempty"`
	PaymentDetails              *PaymentDetails              `json:"paymentDetails,omitempty"`
	ChargePermissionType        string                       `json:"chargePermissionType,omitempty"`
	RecurringMetadata           *RecurringMetadata           `json:"recurringMetadata,omitempty"`
	PaymentMethodOnFileMetadata *PaymentMethodOnFileMetadata `json:"paymentMethodOnFileMetadata,omitempty"`
	MerchantMetadata            *MerchantMetadata            `json:"merchantMetadata,omitempty"`
	SupplementaryData           string                       `json:"supplementaryData,omitempty"`
	PlatformID                  string                       `json:"platformId,omitempty"`
	ProviderMetadata            *ProviderMetadata            `json:"providerMetadata,omitempty"`
	StoreID                     string                       `json:"storeId,omitempty"`
	Buyer                       *Buyer                       `json:"buyer,omitempty"`
	ShippingAddress             *Address                     `json:"shippingAddress,omitempty"`
	BillingAddress              *Address                     `json:"billingAddress,omitempty"`
	ShippingAddressList         AddressList                  `json:"shippingAddressList,omitempty"`
	// PaymentPreferences may contain zero elements where Amazon sends null.
	PaymentPreferences     []PaymentPreference     `json:"paymentPreferences,omitempty"`
	StatusDetails          StatusDetails           `json:"statusDetails,omitzero"`
	Constraints            []Constraint            `json:"constraints,omitempty"`
	CreationTimestamp      Time                    `json:"creationTimestamp,omitzero"`
	ExpirationTimestamp    Time                    `json:"expirationTimestamp,omitzero"`
	ChargePermissionID     string                  `json:"chargePermissionId,omitempty"`
	ChargeID               string                  `json:"chargeId,omitempty"`
	DeliverySpecifications *DeliverySpecifications `json:"deliverySpecifications,omitempty"`
	ReleaseEnvironment     string                  `json:"releaseEnvironment,omitempty"`
	CheckoutButtonText     string                  `json:"checkoutButtonText,omitempty"`
	CheckoutType           string                  `json:"checkoutType,omitempty"`
}

// Charge is Amazon Pay's Charge object.
type Charge struct {
	ChargeID                      string              `json:"chargeId"`
	ChargePermissionID            string              `json:"chargePermissionId,omitempty"`
	ChargeAmount                  *Price              `json:"chargeAmount,omitempty"`
	CaptureAmount                 *Price              `json:"captureAmount,omitempty"`
	RefundedAmount                *Price              `json:"refundedAmount,omitempty"`
	ConvertedAmount               *Price              `json:"convertedAmount,omitempty"`
	ConversionRate                Decimal             `json:"conversionRate,omitempty"`
	SoftDescriptor                string              `json:"softDescriptor,omitempty"`
	CaptureNow                    bool                `json:"captureNow,omitempty"`
	CanHandlePendingAuthorization bool                `json:"canHandlePendingAuthorization,omitempty"`
	ProviderMetadata              *ProviderMetadata   `json:"providerMetadata,omitempty"`
	MerchantMetadata              *MerchantMetadata   `json:"merchantMetadata,omitempty"`
	PlatformID                    string              `json:"platformId,omitempty"`
	WebCheckoutDetails            *WebCheckoutDetails `json:"webCheckoutDetails,omitempty"`
	StatusDetails                 StatusDetails       `json:"statusDetails,omitzero"`
	CreationTimestamp             Time                `json:"creationTimestamp,omitzero"`
	ExpirationTimestamp           Time                `json:"expirationTimestamp,omitzero"`
	ReleaseEnvironment            string              `json:"releaseEnvironment,omitempty"`
}

// ChargePermission is Amazon Pay's Charge Permission object.
type ChargePermission struct {
	ChargePermissionID   string                        `json:"chargePermissionId"`
	ChargePermissionType string                        `json:"chargePermissionType,omitempty"`
	Limits               *Limits                       `json:"limits,omitempty"`
	ReleaseEnvironment   string                        `json:"releaseEnvironment,omitempty"`
	Buyer                *Buyer                        `json:"buyer,omitempty"`
	ShippingAddress      *Address                      `json:"shippingAddress,omitempty"`
	BillingAddress       *Address                      `json:"billingAddress,omitempty"`
	PaymentPreferences   []PaymentPreference           `json:"paymentPreferences,omitempty"`
	MerchantMetadata     *MerchantMetadata             `json:"merchantMetadata,omitempty"`
	PlatformID           string                        `json:"platformId,omitempty"`
	PresentmentCurrency  string                        `json:"presentmentCurrency,omitempty"`
	RecurringMetadata    *RecurringMetadata            `json:"recurringMetadata,omitempty"`
	StatusDetails        ChargePermissionStatusDetails `json:"statusDetails,omitzero"`
	CreationTimestamp    Time                          `json:"creationTimestamp,omitzero"`
	ExpirationTimestamp  Time                          `json:"expirationTimestamp,omitzero"`
}

// CreateCheckoutSessionRequest is the body of Create Checkout Session.
// WebCheckoutDetails and StoreID are required by Amazon.
type CreateCheckoutSessionRequest struct {
	WebCheckoutDetails          WebCheckoutDetails           `json:"webCheckoutDetails"`
	StoreID                     string                       `json:"storeId"`
	Scopes                      []string                     `json:"scopes,omitempty"`
	ChargePermissionType        string                       `json:"chargePermissionType,omitempty"`
	RecurringMetadata           *RecurringMetadata           `json:"recurringMetadata,omitempty"`
	PaymentMethodOnFileMetadata *PaymentMethodOnFileMetadata `json:"paymentMethodOnFileMetadata,omitempty"`
	PaymentDetails              *PaymentDetails              `json:"paymentDetails,omitempty"`
	MerchantMetadata            *MerchantMetadata            `json:"merchantMetadata,omitempty"`
	PlatformID                  string                       `json:"platformId,omitempty"`
	ProviderMetadata            *ProviderMetadata            `json:"providerMetadata,omitempty"`
	DeliverySpecifications      *DeliverySpecifications      `json:"deliverySpecifications,omitempty"`
	// AddressDetails pre-fills a shipping address (additional payment
	// button flows). It is personal data and is redacted when printed.
	AddressDetails *Address `json:"addressDetails,omitempty"`
}

// UpdateCheckoutSessionRequest is the body of Update Checkout Session; only
// the fields set are changed.
type UpdateCheckoutSessionRequest struct {
	WebCheckoutDetails *WebCheckoutDetails `json:"webCheckoutDetails,omitempty"`
	PaymentDetails     *PaymentDetails     `json:"paymentDetails,omitempty"`
	MerchantMetadata   *MerchantMetadata   `json:"merchantMetadata,omitempty"`
	RecurringMetadata  *RecurringMetadata  `json:"recurringMetadata,omitempty"`
	PlatformID         string              `json:"platformId,omitempty"`
	ProviderMetadata   *ProviderMetadata   `json:"providerMetadata,omitempty"`
	SupplementaryData  string              `json:"supplementaryData,omitempty"`
}

// CompleteCheckoutSessionRequest is the body of Complete Checkout Session.
// ChargeAmount must equal the session's paymentDetails.chargeAmount; it may
// be left zero only in setup-only (saved wallet) flows. TotalOrderAmount
// must be sent if one was set on the session.
type CompleteCheckoutSessionRequest struct {
	ChargeAmount     Price  `json:"chargeAmount,omitzero"`
	TotalOrderAmount *Price `json:"totalOrderAmount,omitempty"`
}

// CaptureChargeRequest is the body of Capture Charge.
type CaptureChargeRequest struct {
	CaptureAmount  Price  `json:"captureAmount"`
	SoftDescriptor string `json:"softDescriptor,omitempty"`
}

// CancelChargeRequest is the body of Cancel Charge.
type CancelChargeRequest struct {
	CancellationReason string `json:"cancellationReason,omitempty"`
}

// Refund is Amazon Pay's Refund object.
type Refund struct {
	RefundID           string        `json:"refundId"`
	ChargeID           string        `json:"chargeId,omitempty"`
	RefundAmount       *Price        `json:"refundAmount,omitempty"`
	SoftDescriptor     string        `json:"softDescriptor,omitempty"`
	StatusDetails      StatusDetails `json:"statusDetails,omitzero"`
	CreationTimestamp  Time          `json:"creationTimestamp,omitzero"`
	ReleaseEnvironment string        `json:"releaseEnvironment,omitempty"`
}

// Refund states, verbatim.
const (
	RefundStateInitiated = "RefundInitiated"
	RefundStateRefunded  = "Refunded"
	RefundStateDeclined  = "Declined"
)

// CreateRefundRequest is the body of Create Refund.
type CreateRefundRequest struct {
	ChargeID       string `json:"chargeId"`
	RefundAmount   Price  `json:"refundAmount"`
	SoftDescriptor string `json:"softDescriptor,omitempty"`
}

// CreateChargeRequest is the body of Create Charge.
type CreateChargeRequest struct {
	ChargePermissionID            string `json:"chargePermissionId"`
	ChargeAmount                  Price  `json:"chargeAmount"`
	CaptureNow                    bool   `json:"captureNow,omitempty"`
	SoftDescriptor                string `json:"softDescriptor,omitempty"`
	CanHandlePendingAuthorization bool   `json:"canHandlePendingAuthorization,omitempty"`
}

// CloseChargePermissionRequest is the body of Close Charge Permission.
type CloseChargePermissionRequest struct {
	ClosureReason        string `json:"closureReason"`
	CancelPendingCharges bool   `json:"cancelPendingCharges,omitempty"`
}

// UpdateChargePermissionRequest is the body of Update Charge Permission.
type UpdateChargePermissionRequest struct {
	MerchantMetadata *MerchantMetadata `json:"merchantMetadata,omitempty"`
}
