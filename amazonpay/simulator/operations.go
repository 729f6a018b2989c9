package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// decodeBody decodes a JSON request body strictly: unknown fields answer
// 400 UnrecognizedField, malformed JSON 400 InvalidRequestFormat and values
// of the wrong type 400 InvalidParameterValue. An empty body reads as {}.
func decodeBody(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return errorf(400, "InvalidRequestFormat", "The request body is not a single JSON object.")
		}
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return unrecognizedField(field)
	case errors.As(err, &typeErr):
		return errorf(400, "InvalidParameterValue", "The value provided for %s is invalid.", typeErr.Field)
	case strings.Contains(err.Error(), "amount must be"):
		return errorf(400, "InvalidParameterValue", "The value provided for amount is invalid.")
	}
	return errorf(400, "InvalidRequestFormat", "The request body is not valid JSON.")
}

// unrecognizedField is Amazon's answer to a field an operation does not
// take, in Amazon's wording (amzn/amazon-pay-api-sdk-php issue #9: "The
// field 'checkoutMode' is invalid for this API.").
func unrecognizedField(name string) *apiError {
	return errorf(400, "UnrecognizedField", "The field '%s' is invalid for this API.", name)
}

func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Amazon does not HTML-escape URLs in its answers.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

type webCheckoutDetailsInput struct {
	CheckoutReviewReturnURL *string `json:"checkoutReviewReturnUrl"`
	CheckoutResultReturnURL *string `json:"checkoutResultReturnUrl"`
	CheckoutCancelURL       *string `json:"checkoutCancelUrl"`
	CheckoutMode            *string `json:"checkoutMode"`
}

type paymentDetailsInput struct {
	PaymentIntent                 *string     `json:"paymentIntent"`
	CanHandlePendingAuthorization *bool       `json:"canHandlePendingAuthorization"`
	ChargeAmount                  *priceInput `json:"chargeAmount"`
	TotalOrderAmount              *priceInput `json:"totalOrderAmount"`
	SoftDescriptor                *string     `json:"softDescriptor"`
	PresentmentCurrency           *string     `json:"presentmentCurrency"`
	AllowOvercharge               *bool       `json:"allowOvercharge"`
	ExtendExpiration              *bool       `json:"extendExpiration"`
	EstimateOrderTotal            *priceInput `json:"estimateOrderTotal"`
}

type providerMetadataInput struct {
	ProviderReferenceID *string `json:"providerReferenceId"`
}

// sessionInput is the body of Create and Update Checkout Session. Update
// rejects the fields only Create takes (see updateOnly).
type sessionInput struct {
	WebCheckoutDetails          *webCheckoutDetailsInput `json:"webCheckoutDetails"`
	StoreID                     *string                  `json:"storeId"`
	Scopes                      json.RawMessage          `json:"scopes"`
	ChargePermissionType        *string                  `json:"chargePermissionType"`
	ProductType                 *string                  `json:"productType"`
	RecurringMetadata           json.RawMessage          `json:"recurringMetadata"`
	PaymentMethodOnFileMetadata json.RawMessage          `json:"paymentMethodOnFileMetadata"`
	PaymentDetails              *paymentDetailsInput     `json:"paymentDetails"`
	MerchantMetadata            *merchantMetadata        `json:"merchantMetadata"`
	PlatformID                  *string                  `json:"platformId"`
	ProviderMetadata            *providerMetadataInput   `json:"providerMetadata"`
	AddressDetails              json.RawMessage          `json:"addressDetails"`
	DeliverySpecifications      json.RawMessage          `json:"deliverySpecifications"`
	SupplementaryData           *string                  `json:"supplementaryData"`
}

func checkURL(field string, v *string) *apiError {
	if v == nil {
		return nil
	}
	u, err := url.Parse(*v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errorf(400, "InvalidParameterValue", "The value provided for %s is invalid: an absolute URL is required.", field)
	}
	return nil
}

func checkLen(field string, v *string, n int) *apiError {
	if v != nil && len([]rune(*v)) > n {
		return errorf(400, "InvalidParameterValue", "The value provided for %s exceeds %d characters.", field, n)
	}
	return nil
}

func checkEnum(field string, v *string, allowed ...string) *apiError {
	if v == nil {
		return nil
	}
	for _, a := range allowed {
		if *v == a {
			return nil
		}
	}
	return errorf(400, "InvalidParameterValue", "The value %q provided for %s is invalid.", *v, field)
}

// applySessionInput validates in and copies it onto sess. It changes sess
// only when every field is valid.
func applySessionInput(sess *sessionRecord, in *sessionInput) *apiError {
	next := *sess
	if w := in.WebCheckoutDetails; w != nil {
		for _, e := range []*apiError{
			checkURL("webCheckoutDetails.checkoutReviewReturnUrl", w.CheckoutReviewReturnURL),
			checkURL("webCheckoutDetails.checkoutResultReturnUrl", w.CheckoutResultReturnURL),
			checkURL("webCheckoutDetails.checkoutCancelUrl", w.CheckoutCancelURL),
			checkEnum("webCheckoutDetails.checkoutMode", w.CheckoutMode, "ProcessOrder"),
		} {
			if e != nil {
				return e
			}
		}
		if w.CheckoutReviewReturnURL != nil {
			next.WebCheckoutDetails.CheckoutReviewReturnURL = w.CheckoutReviewReturnURL
		}
		if w.CheckoutResultReturnURL != nil {
			next.WebCheckoutDetails.CheckoutResultReturnURL = w.CheckoutResultReturnURL
		}
		if w.CheckoutCancelURL != nil {
			next.WebCheckoutDetails.CheckoutCancelURL = w.CheckoutCancelURL
		}
		if w.CheckoutMode != nil {
			next.WebCheckoutDetails.CheckoutMode = w.CheckoutMode
		}
	}
	if p := in.PaymentDetails; p != nil {
		for _, e := range []*apiError{
			checkEnum("paymentDetails.paymentIntent", p.PaymentIntent, "Confirm", "Authorize", "AuthorizeWithCapture"),
			checkLen("paymentDetails.softDescriptor", p.SoftDescriptor, 16),
		} {
			if e != nil {
				return e
			}
		}
		if p.PaymentIntent != nil {
			next.PaymentIntent = p.PaymentIntent
		}
		if p.CanHandlePendingAuthorization != nil {
			next.CanHandlePendingAuthorization = *p.CanHandlePendingAuthorization
		}
		if p.ChargeAmount != nil {
			pr, e := parsePrice("paymentDetails.chargeAmount", p.ChargeAmount)
			if e != nil {
				return e
			}
			next.ChargeAmount = &pr
		}
		if p.TotalOrderAmount != nil {
			pr, e := parsePrice("paymentDetails.totalOrderAmount", p.TotalOrderAmount)
			if e != nil {
				return e
			}
			next.TotalOrderAmount = &pr
		}
		if p.EstimateOrderTotal != nil {
			if _, e := parsePrice("paymentDetails.estimateOrderTotal", p.EstimateOrderTotal); e != nil {
				return e
			}
		}
		if p.PresentmentCurrency != nil {
			if _, ok := currencyExponents[*p.PresentmentCurrency]; !ok {
				return errorf(400, "InvalidParameterValue", "The value %q provided for paymentDetails.presentmentCurrency is invalid.", *p.PresentmentCurrency)
			}
			next.PresentmentCurrency = p.PresentmentCurrency
		}
		if p.SoftDescriptor != nil {
			next.SoftDescriptor = p.SoftDescriptor
		}
		if p.AllowOvercharge != nil {
			next.AllowOvercharge = p.AllowOvercharge
		}
		if p.ExtendExpiration != nil {
			next.ExtendExpiration = p.ExtendExpiration
		}
	}
	for _, f := range []struct {
		name string
		cur  *string
	}{
		{"paymentDetails.chargeAmount.currencyCode", currencyOf(next.ChargeAmount)},
		{"paymentDetails.totalOrderAmount.currencyCode", currencyOf(next.TotalOrderAmount)},
		{"paymentDetails.presentmentCurrency", next.PresentmentCurrency},
	} {
		if e := checkLedgerCurrency(next.Region, f.name, f.cur); e != nil {
			return e
		}
	}
	if next.ChargeAmount != nil {
		cur := next.ChargeAmount.Currency
		if next.TotalOrderAmount != nil && next.TotalOrderAmount.Currency != cur {
			return errorf(400, "CurrencyMismatch", "The currency of totalOrderAmount differs from the currency of chargeAmount.")
		}
		if next.PresentmentCurrency != nil && *next.PresentmentCurrency != cur {
			return errorf(400, "CurrencyMismatch", "presentmentCurrency differs from the currency of chargeAmount.")
		}
		// Amazon does no conversion: the presentment currency follows
		// chargeAmount.
		next.PresentmentCurrency = &cur
	}
	if m := in.MerchantMetadata; m != nil {
		for _, e := range []*apiError{
			checkLen("merchantMetadata.merchantReferenceId", m.MerchantReferenceID, 256),
			checkLen("merchantMetadata.merchantStoreName", m.MerchantStoreName, 50),
			checkLen("merchantMetadata.noteToBuyer", m.NoteToBuyer, 255),
			checkLen("merchantMetadata.customInformation", m.CustomInformation, 4096),
		} {
			if e != nil {
				return e
			}
		}
		if m.MerchantReferenceID != nil {
			next.MerchantMetadata.MerchantReferenceID = m.MerchantReferenceID
		}
		if m.MerchantStoreName != nil {
			next.MerchantMetadata.MerchantStoreName = m.MerchantStoreName
		}
		if m.NoteToBuyer != nil {
			next.MerchantMetadata.NoteToBuyer = m.NoteToBuyer
		}
		if m.CustomInformation != nil {
			next.MerchantMetadata.CustomInformation = m.CustomInformation
		}
	}
	if in.PlatformID != nil {
		next.PlatformID = in.PlatformID
	}
	if in.ProviderMetadata != nil && in.ProviderMetadata.ProviderReferenceID != nil {
		next.ProviderReferenceID = in.ProviderMetadata.ProviderReferenceID
	}
	if in.SupplementaryData != nil {
		next.SupplementaryData = in.SupplementaryData
	}
	if in.RecurringMetadata != nil {
		next.RecurringMetadata = in.RecurringMetadata
	}
	if in.DeliverySpecifications != nil {
		next.DeliverySpecs = in.DeliverySpecifications
	}
	*sess = next
	return nil
}

func (s *Simulator) createSessionLocked(c *call) (int, any, *apiError) {
	var in sessionInput
	if e := decodeBody(c.body, &in); e != nil {
		return 0, nil, e
	}
	if in.StoreID == nil || *in.StoreID == "" {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter storeId is missing.")
	}
	w := in.WebCheckoutDetails
	if w == nil {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter webCheckoutDetails is missing.")
	}
	if w.CheckoutMode != nil && *w.CheckoutMode == "ProcessOrder" {
		if w.CheckoutResultReturnURL == nil {
			return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter webCheckoutDetails.checkoutResultReturnUrl is missing.")
		}
	} else if w.CheckoutReviewReturnURL == nil {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter webCheckoutDetails.checkoutReviewReturnUrl is missing.")
	}
	if e := checkEnum("chargePermissionType", in.ChargePermissionType, "OneTime", "Recurring", "PaymentMethodOnFile"); e != nil {
		return 0, nil, e
	}
	if e := checkEnum("productType", in.ProductType, "PayAndShip", "PayOnly", "SignIn"); e != nil {
		return 0, nil, e
	}
	sess := &sessionRecord{
		ID:                   s.newSessionIDLocked(),
		Merchant:             c.merchant,
		Region:               c.region,
		Environment:          c.env,
		ProductType:          "PayAndShip",
		ChargePermissionType: "OneTime",
		StoreID:              *in.StoreID,
		PaymentMethodOnFile:  in.PaymentMethodOnFileMetadata,
		AddressDetails:       in.AddressDetails,
		Scopes:               in.Scopes,
		State:                stateOpen,
		LastUpdated:          c.now,
		Created:              c.now,
		Expires:              c.now.Add(sessionLifetime),
	}
	if in.ProductType != nil {
		sess.ProductType, sess.ProductTypeGiven = *in.ProductType, true
	}
	if in.ChargePermissionType != nil {
		sess.ChargePermissionType = *in.ChargePermissionType
	}
	if e := applySessionInput(sess, &in); e != nil {
		return 0, nil, e
	}
	s.sessions[sess.ID] = sess
	s.linkLocked(sess.ID, sess.ID)
	s.changedLocked(sess.ID)
	c.sessionID = sess.ID
	return 201, sess.json(), nil
}

// sessionFor finds a session of the caller's merchant; another merchant's
// session is as unknown as a missing one.
func (s *Simulator) sessionFor(c *call) (*sessionRecord, *apiError) {
	sess := s.sessions[c.id]
	if sess == nil || sess.Merchant != c.merchant || sess.pastRetention(c.now) {
		return nil, errorf(404, "ResourceNotFound", "The Checkout Session %s does not exist.", c.id)
	}
	s.refreshSessionLocked(sess, c.now)
	return sess, nil
}

// refreshSessionLocked applies the 24-hour expiry of open sessions.
func (s *Simulator) refreshSessionLocked(sess *sessionRecord, now time.Time) {
	if sess.State == stateOpen && !now.Before(sess.Expires) {
		sess.State, sess.ReasonCode = stateCanceled, "Expired"
		sess.ReasonDescription = "The Checkout Session expired before it was completed."
		sess.LastUpdated = sess.Expires
		s.changedLocked(sess.ID)
	}
}

func (s *Simulator) getSessionLocked(c *call) (int, any, *apiError) {
	sess, e := s.sessionFor(c)
	if e != nil {
		return 0, nil, e
	}
	return 200, sess.json(), nil
}

func (s *Simulator) updateSessionLocked(c *call) (int, any, *apiError) {
	sess, e := s.sessionFor(c)
	if e != nil {
		return 0, nil, e
	}
	var in sessionInput
	if e := decodeBody(c.body, &in); e != nil {
		return 0, nil, e
	}
	for name, present := range map[string]bool{
		"storeId":                     in.StoreID != nil,
		"scopes":                      in.Scopes != nil,
		"chargePermissionType":        in.ChargePermissionType != nil,
		"productType":                 in.ProductType != nil,
		"paymentMethodOnFileMetadata": in.PaymentMethodOnFileMetadata != nil,
		"addressDetails":              in.AddressDetails != nil,
	} {
		if present {
			return 0, nil, unrecognizedField(name)
		}
	}
	if p := in.PaymentDetails; p != nil {
		// Amazon takes these only at creation (advanced one-time payment
		// options).
		for name, present := range map[string]bool{
			"allowOvercharge":  p.AllowOvercharge != nil,
			"extendExpiration": p.ExtendExpiration != nil,
		} {
			if present {
				return 0, nil, unrecognizedField(name)
			}
		}
	}
	switch sess.State {
	case stateCanceled:
		return 0, nil, errorf(422, "CheckoutSessionCanceled", "The Checkout Session was canceled (%s).", sess.ReasonCode)
	case stateCompleted:
		return 0, nil, errorf(422, "InvalidCheckoutSessionStatus", "You tried to call an operation on a Checkout Session that is in a state where that operation is not allowed.")
	}
	if e := applySessionInput(sess, &in); e != nil {
		return 0, nil, e
	}
	sess.LastUpdated = c.now
	s.changedLocked(sess.ID)
	return 200, sess.json(), nil
}

// completeInput is the body of Complete Checkout Session.
type completeInput struct {
	ChargeAmount     *priceInput `json:"chargeAmount"`
	TotalOrderAmount *priceInput `json:"totalOrderAmount"`
}

// finalizeInput is the body of Finalize Checkout Session (the Buy Now
// flow's Complete): the payment-critical attributes Amazon checks.
type finalizeInput struct {
	ChargeAmount                  *priceInput `json:"chargeAmount"`
	TotalOrderAmount              *priceInput `json:"totalOrderAmount"`
	PaymentIntent                 *string     `json:"paymentIntent"`
	CanHandlePendingAuthorization *bool       `json:"canHandlePendingAuthorization"`
	SupplementaryData             *string     `json:"supplementaryData"`
	ShippingAddress               *address    `json:"shippingAddress"`
	BillingAddress                *address    `json:"billingAddress"`
}

// simulationCodes lists, per operation, the x-amz-pay-simulation-code
// values Amazon's sandbox documents (docs/simulator.md names the sources).
// Operations listed with no codes refuse every code; operations not listed
// ignore the header.
var simulationCodes = map[string]map[string]bool{
	OpCompleteCheckoutSession: {"BuyerCanceled": true, "Declined": true, "AmazonCanceled": true, "AuthorizationInitiated": true},
	OpFinalizeCheckoutSession: {"BuyerCanceled": true, "Declined": true, "AmazonCanceled": true, "AuthorizationInitiated": true},
	OpCreateCharge: {"HardDeclined": true, "SoftDeclined": true, "AmazonRejected": true, "TransactionTimedOut": true,
		"AuthorizationInitiated": true, "CaptureInitiated": true},
	OpCaptureCharge:         {"CaptureInitiated": true, "AmazonRejected": true},
	OpCreateRefund:          {},
	OpCloseChargePermission: {"AmazonClosed": true},
}

func checkSimulationCode(op, code string) *apiError {
	codes, honoured := simulationCodes[op]
	if code != "" && honoured && !codes[code] {
		return errorf(400, "InvalidSandboxSimulationSpecified", "The simulation code %q is not valid for this operation.", code)
	}
	return nil
}

// invalidSimulation answers a documented code whose prerequisite is not met.
func invalidSimulation(code, why string) *apiError {
	return errorf(400, "InvalidSandboxSimulationSpecified", "The simulation code %q cannot be used here: %s.", code, why)
}

// pendingScenario reports whether the buyer's instrument authorizes
// asynchronously (the sandbox's cards ...0701 and ...4354).
func pendingScenario(scenario string) bool {
	return scenario == scenarioPendingThenAuthorized || scenario == scenarioPendingThenDeclined
}

func (s *Simulator) completeSessionLocked(c *call) (int, any, *apiError) {
	sess, e := s.sessionFor(c)
	if e != nil {
		return 0, nil, e
	}
	if e := checkSimulationCode(c.op, c.simulationCode); e != nil {
		return 0, nil, e
	}
	var in finalizeInput
	if c.op == OpFinalizeCheckoutSession {
		if e := decodeBody(c.body, &in); e != nil {
			return 0, nil, e
		}
		if e := checkEnum("paymentIntent", in.PaymentIntent, "Confirm", "Authorize", "AuthorizeWithCapture"); e != nil {
			return 0, nil, e
		}
	} else {
		var ci completeInput
		if e := decodeBody(c.body, &ci); e != nil {
			return 0, nil, e
		}
		in.ChargeAmount, in.TotalOrderAmount = ci.ChargeAmount, ci.TotalOrderAmount
	}
	switch sess.State {
	case stateCanceled:
		return 0, nil, errorf(422, "CheckoutSessionCanceled", "The Checkout Session was canceled (%s); ask the buyer to check out again.", sess.ReasonCode)
	case stateCompleted:
		return 0, nil, errorf(422, "InvalidCheckoutSessionStatus", "You tried to call an operation on a Checkout Session that is in a state where that operation is not allowed.")
	}
	if c.op == OpFinalizeCheckoutSession {
		if e := checkFinalize(sess, &in); e != nil {
			return 0, nil, e
		}
	}
	if cs := sess.constraints(); len(cs) > 0 {
		return 0, nil, errorf(422, "InvalidCheckoutSessionStatus", "You tried to call an operation on a Checkout Session that is in a state where that operation is not allowed (constraint %s).", cs[0].ConstraintID)
	}
	if sess.AwaitingPayment {
		// Amazon completes only sessions whose buyer went through
		// amazonPayRedirectUrl (the official SDKs' tests skip Complete
		// for this reason).
		return 0, nil, errorf(422, "InvalidCheckoutSessionStatus", "You tried to call an operation on a Checkout Session that is in a state where that operation is not allowed: the buyer has not been redirected to amazonPayRedirectUrl yet.")
	}
	if in.ChargeAmount == nil && sess.ChargeAmount != nil {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter chargeAmount is missing.")
	}
	if in.ChargeAmount != nil {
		amt, e := parsePrice("chargeAmount", in.ChargeAmount)
		if e != nil {
			return 0, nil, e
		}
		if e := matchAmount("chargeAmount", amt, sess.ChargeAmount); e != nil {
			return 0, nil, e
		}
	}
	if sess.TotalOrderAmount != nil && in.TotalOrderAmount == nil {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter totalOrderAmount is missing: it was set on the Checkout Session.")
	}
	if in.TotalOrderAmount != nil {
		amt, e := parsePrice("totalOrderAmount", in.TotalOrderAmount)
		if e != nil {
			return 0, nil, e
		}
		if sess.TotalOrderAmount != nil {
			if e := matchAmount("totalOrderAmount", amt, sess.TotalOrderAmount); e != nil {
				return 0, nil, e
			}
		}
	}

	if c.op == OpFinalizeCheckoutSession {
		applyFinalize(sess, &in)
	}
	intent := *sess.PaymentIntent
	if sess.ChargeAmount == nil {
		// A PaymentMethodOnFile setup without an amount only saves the
		// payment method, like Confirm.
		intent = "Confirm"
	}
	switch c.simulationCode {
	case "BuyerCanceled", "Declined", "AmazonCanceled":
		// The sandbox plays the checkout's failure itself.
		s.cancelSessionLocked(sess, c.simulationCode, "The Checkout Session was canceled by the sandbox simulation "+c.simulationCode+".", c.now)
		return 0, nil, errorf(422, "CheckoutSessionCanceled", "The Checkout Session is canceled (%s). Ask the buyer to check out again.", c.simulationCode)
	case "AuthorizationInitiated":
		if intent == "Confirm" || !sess.CanHandlePendingAuthorization {
			return 0, nil, invalidSimulation(c.simulationCode, "it needs paymentIntent Authorize or AuthorizeWithCapture and canHandlePendingAuthorization true")
		}
	}
	pendingInstrument := pendingScenario(sess.Scenario) && intent != "Confirm"
	pending := intent != "Confirm" && sess.CanHandlePendingAuthorization &&
		(pendingInstrument || c.simulationCode == "AuthorizationInitiated")
	decline := ""
	if sess.Scenario == scenarioPendingThenDeclined {
		decline = "HardDeclined"
	}
	if pendingInstrument && !pending {
		// The sandbox's pending instruments need canHandlePendingAuthorization:
		// a synchronous authorization runs out of time.
		decline = "TransactionTimedOut"
	}
	if intent != "Confirm" && decline != "" && !pending {
		// A synchronous decline fails the checkout itself.
		s.cancelSessionLocked(sess, "Declined", "The buyer's payment was declined ("+decline+").", c.now)
		return 0, nil, errorf(422, "CheckoutSessionCanceled", "The payment was declined; the Checkout Session is canceled. Ask the buyer to check out again with another payment method.")
	}

	cp := s.newChargePermissionLocked(sess, c)
	status := 200
	if intent != "Confirm" {
		ch := s.newChargeLocked(sess, cp, c)
		if pending {
			ch.State = stateAuthorizationInitiated
			ch.SettleAt = c.now.Add(s.pendingDelay)
			ch.SettleState, ch.SettleReason = stateAuthorized, ""
			if decline != "" {
				ch.SettleState, ch.SettleReason = stateDeclined, decline
			}
			s.setPermissionStateLocked(cp, stateNonChargeable, c.now, "ChargeInProgress")
			s.scheduleSettlementLocked(ch)
			status = 202
		} else {
			s.authorizeLocked(ch, c.now)
		}
	}
	sess.State = stateCompleted
	sess.ReasonCode, sess.ReasonDescription = "", ""
	sess.LastUpdated = c.now
	s.changedLocked(sess.ID)
	out := sess.json()
	if c.op == OpFinalizeCheckoutSession {
		out.CartDetails = json.RawMessage("null")
	}
	return status, out, nil
}

// cancelSessionLocked moves an open session to Canceled with reasonCode.
func (s *Simulator) cancelSessionLocked(sess *sessionRecord, reasonCode, description string, now time.Time) {
	sess.State, sess.ReasonCode, sess.ReasonDescription = stateCanceled, reasonCode, description
	sess.LastUpdated = now
	s.changedLocked(sess.ID)
}

// matchAmount compares a Complete amount with the session's: a different
// currency is 400 CurrencyMismatch, a different value 409 AmountMismatch.
func matchAmount(field string, got price, want *price) *apiError {
	if want == nil {
		return nil
	}
	if got.Currency != want.Currency {
		return errorf(400, "CurrencyMismatch", "The currency of %s (%s) does not match the Checkout Session (%s).", field, got.Currency, want.Currency)
	}
	if got.Minor != want.Minor {
		return errorf(409, "AmountMismatch", "The %s does not match the amount on the Checkout Session.", field)
	}
	return nil
}

func (s *Simulator) newChargePermissionLocked(sess *sessionRecord, c *call) *chargePermissionRecord {
	limit := price{}
	if sess.ChargeAmount != nil {
		limit = *sess.ChargeAmount
	}
	if sess.TotalOrderAmount != nil && sess.TotalOrderAmount.Minor > limit.Minor {
		// Split shipments: the permission covers the whole order.
		limit = *sess.TotalOrderAmount
	}
	overcharge := sess.AllowOvercharge != nil && *sess.AllowOvercharge
	if overcharge && limit.Currency != "" {
		limit.Minor = overchargeLimit(limit)
	}
	cp := &chargePermissionRecord{
		ID:                   s.newChargePermissionIDLocked(sess.Environment, sess.Region),
		SessionID:            sess.ID,
		Merchant:             sess.Merchant,
		Environment:          sess.Environment,
		ChargePermissionType: sess.ChargePermissionType,
		RecurringMetadata:    sess.RecurringMetadata,
		Buyer:                sess.Buyer,
		ShippingAddress:      sess.ShippingAddress,
		BillingAddress:       sess.BillingAddress,
		PaymentPreferences:   sess.PaymentPreferences,
		MerchantMetadata:     sess.MerchantMetadata,
		PlatformID:           sess.PlatformID,
		PresentmentCurrency:  limit.Currency,
		AmountLimit:          limit,
		Scenario:             sess.Scenario,
		AllowOvercharge:      overcharge,
		State:                stateChargeable,
		LastUpdated:          c.now,
		Created:              c.now,
		Expires:              c.now.Add(chargePermissionLifetime),
	}
	if sess.ExtendExpiration != nil && *sess.ExtendExpiration {
		cp.Expires = c.now.AddDate(0, 13, 0)
	}
	s.perms[cp.ID] = cp
	s.linkLocked(sess.ID, cp.ID)
	s.changedLocked(sess.ID)
	sess.ChargePermissionID = cp.ID
	return cp
}

func (s *Simulator) newChargeLocked(sess *sessionRecord, cp *chargePermissionRecord, c *call) *chargeRecord {
	ch := &chargeRecord{
		ID:                 s.newChargeIDLocked(cp.ID),
		ChargePermissionID: cp.ID,
		SessionID:          sess.ID,
		Merchant:           sess.Merchant,
		Environment:        sess.Environment,
		ChargeAmount:       *sess.ChargeAmount,
		SoftDescriptor:     sess.SoftDescriptor,
		CaptureNow:         *sess.PaymentIntent == "AuthorizeWithCapture",
		CanHandlePending:   sess.CanHandlePendingAuthorization,
		MerchantMetadata:   sess.MerchantMetadata,
		PlatformID:         sess.PlatformID,
		ProviderRefID:      sess.ProviderReferenceID,
		State:              stateAuthorizationInitiated,
		LastUpdated:        c.now,
		Created:            c.now,
		Expires:            c.now.Add(authorizationLifetime),
	}
	s.charges[ch.ID] = ch
	s.linkLocked(sess.ID, ch.ID)
	s.changedLocked(sess.ID)
	sess.ChargeID = ch.ID
	cp.Used += ch.ChargeAmount.Minor
	cp.ChargeIDs = append(cp.ChargeIDs, ch.ID)
	return ch
}

// authorizeLocked moves a charge to Authorized, or on to Captured when it
// was requested with capture.
func (s *Simulator) authorizeLocked(ch *chargeRecord, now time.Time) {
	cp := s.perms[ch.ChargePermissionID]
	ch.State, ch.ReasonCode, ch.ReasonDescription = stateAuthorized, "", ""
	ch.LastUpdated = now
	ch.Authorized = now
	ch.Expires = now.Add(authorizationLifetime)
	ch.SettleAt, ch.SettleState, ch.SettleReason = time.Time{}, "", ""
	s.notifyStateChangeLocked(ObjectTypeCharge, ch.ID, ch.ChargePermissionID, ch.Merchant, now)
	if cp.State != stateClosed {
		s.setPermissionStateLocked(cp, stateChargeable, now)
	}
	if ch.CaptureNow {
		amt := ch.ChargeAmount
		s.captureLocked(ch, amt, now)
	}
	s.changedLocked(ch.SessionID)
}

// captureLocked captures amt of an authorized charge. The permission's used
// amount becomes the captured amount; a OneTime permission whose whole limit
// is captured is closed by Amazon.
func (s *Simulator) captureLocked(ch *chargeRecord, amt price, now time.Time) {
	cp := s.perms[ch.ChargePermissionID]
	ch.State, ch.ReasonCode, ch.ReasonDescription = stateCaptured, "", ""
	ch.CaptureAmount = &amt
	ch.LastUpdated = now
	ch.SettleAt, ch.SettleState, ch.SettleReason, ch.SettleAmount = time.Time{}, "", "", nil
	s.notifyStateChangeLocked(ObjectTypeCharge, ch.ID, ch.ChargePermissionID, ch.Merchant, now)
	cp.Used += amt.Minor - ch.ChargeAmount.Minor
	switch {
	case cp.State == stateClosed:
		// A capture of an authorization left open by Close Charge
		// Permission (cancelPendingCharges false) keeps it closed.
	case cp.ChargePermissionType == "OneTime" && cp.Used >= cp.AmountLimit.Minor:
		s.setPermissionStateLocked(cp, stateClosed, now, "AmazonClosed")
	case s.openChargesLocked(cp) > 0:
		// Another charge is still pending; its state decides.
	default:
		s.setPermissionStateLocked(cp, stateChargeable, now)
	}
	s.changedLocked(ch.SessionID)
}

// declineLocked declines a pending or authorized charge (or its pending
// capture) with reason and moves the permission as Amazon documents: a hard
// decline makes it NonChargeable/PaymentMethodInvalid, an Amazon rejection
// closes it, and a soft decline or another failure leaves it chargeable so
// the merchant can retry (docs/simulator.md, "SoftDeclined").
func (s *Simulator) declineLocked(ch *chargeRecord, reasonCode string, now time.Time) {
	cp := s.perms[ch.ChargePermissionID]
	ch.State, ch.ReasonCode = stateDeclined, reasonCode
	ch.ReasonDescription = declineDescriptions[reasonCode]
	ch.LastUpdated = now
	ch.SettleAt, ch.SettleState, ch.SettleReason, ch.SettleAmount = time.Time{}, "", "", nil
	s.notifyStateChangeLocked(ObjectTypeCharge, ch.ID, ch.ChargePermissionID, ch.Merchant, now)
	cp.Used -= ch.ChargeAmount.Minor
	switch {
	case cp.State == stateClosed:
	case reasonCode == "HardDeclined":
		s.setPermissionStateLocked(cp, stateNonChargeable, now, "PaymentMethodInvalid")
	case reasonCode == "AmazonRejected":
		s.setPermissionStateLocked(cp, stateClosed, now, "AmazonCanceled")
	case s.openChargesLocked(cp) > 0:
	default:
		s.setPermissionStateLocked(cp, stateChargeable, now)
	}
	s.changedLocked(ch.SessionID)
}

// openChargesLocked counts the permission's charges still pending
// authorization or capture.
func (s *Simulator) openChargesLocked(cp *chargePermissionRecord) int {
	n := 0
	for _, id := range cp.ChargeIDs {
		if ch := s.charges[id]; ch.State == stateAuthorizationInitiated || ch.State == stateCaptureInitiated {
			n++
		}
	}
	return n
}

var declineDescriptions = map[string]string{
	"SoftDeclined":        "The authorization was soft declined; a retry may succeed.",
	"HardDeclined":        "The authorization was declined; ask the buyer for another payment method.",
	"AmazonRejected":      "Amazon rejected the transaction.",
	"ProcessingFailure":   "Amazon could not process the transaction because of an internal processing error.",
	"TransactionTimedOut": "Amazon could not authorize the transaction in time.",
}

// cancelLocked cancels an open charge and releases its amount.
func (s *Simulator) cancelLocked(ch *chargeRecord, reasonCode, description string, now time.Time) {
	cp := s.perms[ch.ChargePermissionID]
	ch.State, ch.ReasonCode, ch.ReasonDescription = stateCanceled, reasonCode, description
	ch.LastUpdated = now
	ch.SettleAt, ch.SettleState, ch.SettleReason = time.Time{}, "", ""
	s.notifyStateChangeLocked(ObjectTypeCharge, ch.ID, ch.ChargePermissionID, ch.Merchant, now)
	cp.Used -= ch.ChargeAmount.Minor
	if cp.State != stateClosed && s.openChargesLocked(cp) == 0 {
		s.setPermissionStateLocked(cp, stateChargeable, now)
	}
	if t := s.timers[ch.ID]; t != nil {
		t.Stop()
		delete(s.timers, ch.ID)
	}
	s.changedLocked(ch.SessionID)
}

var permissionReasonDescriptions = map[string]string{
	"ChargeInProgress":     "A charge is in progress; no other charge can be created until it completes.",
	"PaymentMethodInvalid": "The previous charge was declined; the buyer must update the payment method.",
	"AmazonClosed":         "Amazon closed the Charge Permission because the full amount was charged.",
	"AmazonCanceled":       "Amazon canceled the Charge Permission.",
	"MerchantClosed":       "The merchant closed the Charge Permission.",
	"Expired":              "The Charge Permission expired.",
}

func (s *Simulator) setPermissionStateLocked(cp *chargePermissionRecord, state string, now time.Time, reasons ...string) {
	changed := cp.State != state || len(cp.Reasons) != len(reasons)
	for i := 0; !changed && i < len(reasons); i++ {
		changed = cp.Reasons[i].ReasonCode != reasons[i]
	}
	cp.State = state
	cp.Reasons = nil
	for _, r := range reasons {
		cp.Reasons = append(cp.Reasons, reason{ReasonCode: r, ReasonDescription: permissionReasonDescriptions[r]})
	}
	cp.LastUpdated = now
	if changed {
		s.notifyStateChangeLocked(ObjectTypeChargePermission, cp.ID, cp.ID, cp.Merchant, now)
	}
	s.changedLocked(cp.SessionID)
}

// chargeFor finds a charge of the caller's merchant and applies lazy
// expiry (Authorized for 30 days -> Canceled/ExpiredUnused).
func (s *Simulator) chargeFor(c *call) (*chargeRecord, *apiError) {
	ch := s.charges[c.id]
	if ch == nil || ch.Merchant != c.merchant {
		return nil, errorf(404, "ResourceNotFound", "The Charge %s does not exist.", c.id)
	}
	s.expireChargeLocked(ch, c.now)
	return ch, nil
}

// expireChargeLocked applies the 30-day expiry of an unused authorization.
func (s *Simulator) expireChargeLocked(ch *chargeRecord, now time.Time) {
	if ch.State == stateAuthorized && !now.Before(ch.Expires) {
		s.cancelLocked(ch, "ExpiredUnused", "The authorization expired unused after 30 days.", ch.Expires)
	}
}

// authorizedAt is when ch was authorized (charges persisted before the
// time was recorded: 30 days before their expiry).
func authorizedAt(ch *chargeRecord) time.Time {
	if ch.Authorized.IsZero() {
		return ch.Expires.Add(-authorizationLifetime)
	}
	return ch.Authorized
}

func (s *Simulator) getChargeLocked(c *call) (int, any, *apiError) {
	ch, e := s.chargeFor(c)
	if e != nil {
		return 0, nil, e
	}
	return 200, ch.json(), nil
}

type captureInput struct {
	CaptureAmount  *priceInput `json:"captureAmount"`
	SoftDescriptor *string     `json:"softDescriptor"`
}

func (s *Simulator) captureChargeLocked(c *call) (int, any, *apiError) {
	ch, e := s.chargeFor(c)
	if e != nil {
		return 0, nil, e
	}
	if e := checkSimulationCode(c.op, c.simulationCode); e != nil {
		return 0, nil, e
	}
	var in captureInput
	if e := decodeBody(c.body, &in); e != nil {
		return 0, nil, e
	}
	if in.CaptureAmount == nil {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter captureAmount is missing.")
	}
	amt, e := parsePrice("captureAmount", in.CaptureAmount)
	if e != nil {
		return 0, nil, e
	}
	if e := checkLen("softDescriptor", in.SoftDescriptor, 16); e != nil {
		return 0, nil, e
	}
	if ch.State != stateAuthorized {
		return 0, nil, errorf(422, "InvalidChargeStatus", "You tried to call an operation on a Charge that is in a state (%s) where that operation is not allowed.", ch.State)
	}
	if amt.Currency != ch.ChargeAmount.Currency {
		return 0, nil, errorf(400, "CurrencyMismatch", "The currency of captureAmount (%s) does not match the Charge (%s).", amt.Currency, ch.ChargeAmount.Currency)
	}
	if amt.Minor > ch.ChargeAmount.Minor {
		return 0, nil, errorf(400, "TransactionAmountExceeded", "captureAmount exceeds the authorized amount.")
	}
	if in.SoftDescriptor != nil {
		ch.SoftDescriptor = in.SoftDescriptor
	}
	switch {
	case c.simulationCode == "AmazonRejected":
		// The call succeeds; the capture is declined later (the
		// sandbox's own end-to-end tests wait for it).
		s.beginCaptureLocked(ch, amt, stateDeclined, "AmazonRejected", c.now)
	case c.simulationCode == "CaptureInitiated" || c.now.Sub(authorizedAt(ch)) > asyncCaptureAfter:
		s.beginCaptureLocked(ch, amt, stateCaptured, "", c.now)
	default:
		s.captureLocked(ch, amt, c.now)
	}
	return 200, ch.json(), nil
}

// asyncCaptureAfter is how long after authorization captures become
// asynchronous (CaptureInitiated first).
const asyncCaptureAfter = 7 * 24 * time.Hour

// beginCaptureLocked moves an authorized charge to CaptureInitiated; it
// settles to outcome (Captured, or Declined with reasonCode) after the
// pending delay.
func (s *Simulator) beginCaptureLocked(ch *chargeRecord, amt price, outcome, reasonCode string, now time.Time) {
	ch.State, ch.ReasonCode, ch.ReasonDescription = stateCaptureInitiated, "", ""
	ch.LastUpdated = now
	s.notifyStateChangeLocked(ObjectTypeCharge, ch.ID, ch.ChargePermissionID, ch.Merchant, now)
	ch.SettleAt, ch.SettleState, ch.SettleReason = now.Add(s.pendingDelay), outcome, reasonCode
	ch.SettleAmount = &amt
	s.scheduleSettlementLocked(ch)
	s.changedLocked(ch.SessionID)
}

type cancelInput struct {
	CancellationReason *string `json:"cancellationReason"`
}

func (s *Simulator) cancelChargeLocked(c *call) (int, any, *apiError) {
	ch, e := s.chargeFor(c)
	if e != nil {
		return 0, nil, e
	}
	var in cancelInput
	if e := decodeBody(c.body, &in); e != nil {
		return 0, nil, e
	}
	if e := checkLen("cancellationReason", in.CancellationReason, 64); e != nil {
		return 0, nil, e
	}
	if ch.State != stateAuthorized && ch.State != stateAuthorizationInitiated {
		return 0, nil, errorf(422, "InvalidChargeStatus", "You tried to call an operation on a Charge that is in a state (%s) where that operation is not allowed.", ch.State)
	}
	desc := "The merchant canceled the Charge."
	if in.CancellationReason != nil && *in.CancellationReason != "" {
		desc = *in.CancellationReason
	}
	s.cancelLocked(ch, "MerchantCanceled", desc, c.now)
	return 200, ch.json(), nil
}

func (s *Simulator) getChargePermissionLocked(c *call) (int, any, *apiError) {
	cp, e := s.permissionFor(c, c.id)
	if e != nil {
		return 0, nil, e
	}
	return 200, cp.json(), nil
}

// scheduleSettlementLocked arranges for a pending charge to settle at its
// SettleAt (immediately if that has passed, e.g. after a restart).
func (s *Simulator) scheduleSettlementLocked(ch *chargeRecord) {
	s.scheduleLocked(ch.ID, ch.SettleAt)
}

// scheduleLocked arranges for the pending charge or refund id to settle at
// at (immediately if that has passed).
func (s *Simulator) scheduleLocked(id string, at time.Time) {
	if s.closed {
		return
	}
	d := max(at.Sub(s.clock.Now()), 0)
	if old := s.timers[id]; old != nil {
		old.Stop()
	}
	s.timers[id] = s.clock.AfterFunc(d, func() { s.settle(id) })
}

// settle applies a pending authorization's outcome.
func (s *Simulator) settle(chargeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.timers, chargeID)
	if s.closed {
		return
	}
	if r := s.refunds[chargeID]; r != nil {
		s.settleRefundLocked(r)
		s.persistLocked()
		return
	}
	ch := s.charges[chargeID]
	if ch == nil || (ch.State != stateAuthorizationInitiated && ch.State != stateCaptureInitiated) {
		return
	}
	at := ch.SettleAt
	switch {
	case ch.SettleState == stateDeclined:
		s.declineLocked(ch, ch.SettleReason, at)
	case ch.State == stateCaptureInitiated:
		amt := ch.ChargeAmount
		if ch.SettleAmount != nil {
			amt = *ch.SettleAmount
		}
		s.captureLocked(ch, amt, at)
	default:
		s.authorizeLocked(ch, at)
	}
	s.log.Debug("pending charge settled", "chargeId", ch.ID, "state", ch.State)
	s.persistLocked()
}

// describe is used in messages about a session's buyer-side readiness.
func describe(cs []constraint) string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ConstraintID
	}
	return fmt.Sprintf("[%s]", strings.Join(ids, ", "))
}
