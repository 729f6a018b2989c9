package simulator

import (
	"encoding/json"
	"time"
)

// maxChargesPerPermission is how many charges Amazon allows on one Charge
// Permission (deferred transactions: "up to 25").
const maxChargesPerPermission = 25

// overchargeLimit is a permission's amountLimit with allowOvercharge: the
// greater of 900% of the order amount and 500 USD/GBP/EUR (70,000 JPY)
// (advanced one-time payment options).
func overchargeLimit(order price) int64 {
	floor := int64(500_00)
	if order.Currency == "JPY" {
		floor = 70_000
	}
	return max(order.Minor*9, floor)
}

// requireIdempotencyKey refuses a create request without
// x-amz-pay-idempotency-key: Amazon's reference marks it required on Create
// Charge and Create Refund, and the PHP SDK's interface says so.
func requireIdempotencyKey(c *call) *apiError {
	if c.idemKey == "" {
		return errorf(400, "MissingHeader", "The header x-amz-pay-idempotency-key is missing.")
	}
	return nil
}

// permissionFor finds a charge permission of the caller's merchant and
// applies its lazy expiry.
func (s *Simulator) permissionFor(c *call, id string) (*chargePermissionRecord, *apiError) {
	cp := s.perms[id]
	if cp == nil || cp.Merchant != c.merchant {
		return nil, errorf(404, "ResourceNotFound", "The Charge Permission %s does not exist.", id)
	}
	// Authorizations that expired unused release their amount (read or
	// not), so the balance and a re-authorization see them gone.
	for _, id := range cp.ChargeIDs {
		s.expireChargeLocked(s.charges[id], c.now)
	}
	if cp.State != stateClosed && !c.now.Before(cp.Expires) {
		s.closePermissionLocked(cp, "Expired", "", false, cp.Expires)
	}
	return cp, nil
}

func invalidPermissionStatus(cp *chargePermissionRecord) *apiError {
	return errorf(422, "InvalidChargePermissionStatus", "You tried to call an operation on a Charge Permission that is in a state (%s) where that operation is not allowed.", cp.State)
}

// createChargeInput is the body of Create Charge.
type createChargeInput struct {
	ChargePermissionID            *string                  `json:"chargePermissionId"`
	ChargeAmount                  *priceInput              `json:"chargeAmount"`
	CaptureNow                    *bool                    `json:"captureNow"`
	SoftDescriptor                *string                  `json:"softDescriptor"`
	CanHandlePendingAuthorization *bool                    `json:"canHandlePendingAuthorization"`
	MerchantMetadata              *merchantMetadata        `json:"merchantMetadata"`
	ProviderMetadata              *providerMetadataInput   `json:"providerMetadata"`
	PlatformID                    *string                  `json:"platformId"`
	ChargeInitiator               *string                  `json:"chargeInitiator"`
	Channel                       *string                  `json:"channel"`
	WebCheckoutDetails            *webCheckoutDetailsInput `json:"webCheckoutDetails"`
}

// createChargeLocked is Create Charge: a new authorization (captured at
// once with captureNow) on a Chargeable permission, within its amount limit
// and charge count.
func (s *Simulator) createChargeLocked(c *call) (int, any, *apiError) {
	if e := checkSimulationCode(c.op, c.simulationCode); e != nil {
		return 0, nil, e
	}
	var in createChargeInput
	if e := decodeBody(c.body, &in); e != nil {
		return 0, nil, e
	}
	if in.ChargePermissionID == nil || *in.ChargePermissionID == "" {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter chargePermissionId is missing.")
	}
	if in.ChargeAmount == nil {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter chargeAmount is missing.")
	}
	amt, e := parsePrice("chargeAmount", in.ChargeAmount)
	if e != nil {
		return 0, nil, e
	}
	for _, e := range []*apiError{
		checkLen("softDescriptor", in.SoftDescriptor, 16),
		checkEnum("chargeInitiator", in.ChargeInitiator, "CITU", "MITU", "MIT"),
		checkEnum("channel", in.Channel, "Web", "Voice", "Mobile", "Unknown"),
	} {
		if e != nil {
			return 0, nil, e
		}
	}
	if m := in.MerchantMetadata; m != nil {
		if e := checkMerchantMetadata(m); e != nil {
			return 0, nil, e
		}
	}
	if e := requireIdempotencyKey(c); e != nil {
		return 0, nil, e
	}
	cp, e := s.permissionFor(c, *in.ChargePermissionID)
	if e != nil {
		return 0, nil, e
	}
	captureNow := in.CaptureNow != nil && *in.CaptureNow
	canHandlePending := in.CanHandlePendingAuthorization != nil && *in.CanHandlePendingAuthorization
	switch c.simulationCode {
	case "CaptureInitiated":
		if !captureNow {
			return 0, nil, invalidSimulation(c.simulationCode, "it needs captureNow true")
		}
	case "AuthorizationInitiated":
		if !canHandlePending {
			return 0, nil, invalidSimulation(c.simulationCode, "it needs canHandlePendingAuthorization true")
		}
	}
	if cp.State != stateChargeable {
		return 0, nil, invalidPermissionStatus(cp)
	}
	if cur := cp.AmountLimit.Currency; cur != "" && amt.Currency != cur {
		return 0, nil, errorf(400, "CurrencyMismatch", "The currency of chargeAmount (%s) does not match the Charge Permission (%s).", amt.Currency, cur)
	}
	// The amount limit and the 25 charges are those of one-time payments;
	// Recurring and PaymentMethodOnFile permissions are charged again and
	// again.
	oneTime := cp.ChargePermissionType == "OneTime"
	if oneTime && len(cp.ChargeIDs) >= maxChargesPerPermission {
		return 0, nil, errorf(422, "TransactionCountExceeded", "The Charge Permission already has the maximum of %d charges.", maxChargesPerPermission)
	}
	if oneTime && amt.Minor > cp.AmountLimit.Minor-cp.Used {
		return 0, nil, errorf(400, "TransactionAmountExceeded", "chargeAmount exceeds the remaining balance of the Charge Permission (%s).",
			price{Minor: max(cp.AmountLimit.Minor-cp.Used, 0), Currency: amt.Currency}.text())
	}

	ch := &chargeRecord{
		ID:                 s.newChargeIDLocked(cp.ID),
		ChargePermissionID: cp.ID,
		SessionID:          cp.SessionID,
		Merchant:           cp.Merchant,
		Environment:        cp.Environment,
		ChargeAmount:       amt,
		SoftDescriptor:     in.SoftDescriptor,
		CaptureNow:         captureNow,
		CanHandlePending:   canHandlePending,
		MerchantMetadata:   cp.MerchantMetadata,
		PlatformID:         cp.PlatformID,
		ChargeInitiator:    in.ChargeInitiator,
		Channel:            in.Channel,
		State:              stateAuthorizationInitiated,
		LastUpdated:        c.now,
		Created:            c.now,
		Expires:            c.now.Add(authorizationLifetime),
	}
	if m := in.MerchantMetadata; m != nil {
		applyMerchantMetadata(&ch.MerchantMetadata, m)
	}
	if in.PlatformID != nil {
		ch.PlatformID = in.PlatformID
	}
	if w := in.WebCheckoutDetails; w != nil {
		if e := checkURL("webCheckoutDetails.checkoutResultReturnUrl", w.CheckoutResultReturnURL); e != nil {
			return 0, nil, e
		}
		ch.WebCheckoutDetails = &webCheckoutDetails{CheckoutResultReturnURL: w.CheckoutResultReturnURL}
	}
	if in.ProviderMetadata != nil {
		ch.ProviderRefID = in.ProviderMetadata.ProviderReferenceID
	}
	s.addChargeLocked(cp, ch)

	decline := ""
	switch {
	case c.simulationCode == "HardDeclined" || c.simulationCode == "SoftDeclined" ||
		c.simulationCode == "AmazonRejected" || c.simulationCode == "TransactionTimedOut":
		decline = c.simulationCode
	case cp.Scenario == scenarioPendingThenDeclined:
		decline = "HardDeclined"
	}
	pending := canHandlePending && (pendingScenario(cp.Scenario) || c.simulationCode == "AuthorizationInitiated")
	if pendingScenario(cp.Scenario) && !canHandlePending && decline == "" {
		// The sandbox's pending instruments need canHandlePendingAuthorization:
		// a synchronous authorization runs out of time.
		decline = "TransactionTimedOut"
	}
	switch {
	case pending:
		ch.SettleAt = c.now.Add(s.pendingDelay)
		ch.SettleState, ch.SettleReason = stateAuthorized, ""
		if decline != "" {
			ch.SettleState, ch.SettleReason = stateDeclined, decline
		}
		s.setPermissionStateLocked(cp, stateNonChargeable, c.now, "ChargeInProgress")
		s.scheduleSettlementLocked(ch)
	case decline != "":
		// The charge exists, Declined; the call answers the decline.
		s.declineLocked(ch, decline, c.now)
		return 0, nil, errorf(422, decline, "%s", declineDescriptions[decline])
	default:
		capture := ch.CaptureNow
		ch.CaptureNow = false
		s.authorizeLocked(ch, c.now)
		ch.CaptureNow = capture
		if capture {
			if c.simulationCode == "CaptureInitiated" {
				s.beginCaptureLocked(ch, amt, stateCaptured, "", c.now)
			} else {
				s.captureLocked(ch, amt, c.now)
			}
		}
	}
	return 201, ch.json(), nil
}

// addChargeLocked records a new charge (AuthorizationInitiated) of cp,
// holding its amount on the permission.
func (s *Simulator) addChargeLocked(cp *chargePermissionRecord, ch *chargeRecord) {
	s.charges[ch.ID] = ch
	cp.Used += ch.ChargeAmount.Minor
	cp.ChargeIDs = append(cp.ChargeIDs, ch.ID)
	s.linkLocked(cp.SessionID, ch.ID)
	s.changedLocked(cp.SessionID)
}

// checkMerchantMetadata applies Amazon's length limits to merchantMetadata.
func checkMerchantMetadata(m *merchantMetadata) *apiError {
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
	return nil
}

// applyMerchantMetadata copies the fields m sets onto dst.
func applyMerchantMetadata(dst, m *merchantMetadata) {
	if m.MerchantReferenceID != nil {
		dst.MerchantReferenceID = m.MerchantReferenceID
	}
	if m.MerchantStoreName != nil {
		dst.MerchantStoreName = m.MerchantStoreName
	}
	if m.NoteToBuyer != nil {
		dst.NoteToBuyer = m.NoteToBuyer
	}
	if m.CustomInformation != nil {
		dst.CustomInformation = m.CustomInformation
	}
}

// updatePermissionInput is the body of Update Charge Permission.
type updatePermissionInput struct {
	MerchantMetadata  *merchantMetadata `json:"merchantMetadata"`
	RecurringMetadata json.RawMessage   `json:"recurringMetadata"`
}

// updateChargePermissionLocked is Update Charge Permission: the merchant's
// bookkeeping (merchantMetadata, recurringMetadata), in any state.
func (s *Simulator) updateChargePermissionLocked(c *call) (int, any, *apiError) {
	cp, e := s.permissionFor(c, c.id)
	if e != nil {
		return 0, nil, e
	}
	var in updatePermissionInput
	if e := decodeBody(c.body, &in); e != nil {
		return 0, nil, e
	}
	if m := in.MerchantMetadata; m != nil {
		if e := checkMerchantMetadata(m); e != nil {
			return 0, nil, e
		}
	}
	if in.RecurringMetadata != nil && cp.ChargePermissionType != "Recurring" {
		return 0, nil, errorf(400, "InvalidParameterValue", "recurringMetadata can only be set on a Recurring Charge Permission.")
	}
	// Closed permissions are updated too: Amazon's Magento plugin sets
	// merchantReferenceId after a full capture has closed the permission.
	if m := in.MerchantMetadata; m != nil {
		applyMerchantMetadata(&cp.MerchantMetadata, m)
	}
	if in.RecurringMetadata != nil {
		cp.RecurringMetadata = in.RecurringMetadata
	}
	cp.LastUpdated = c.now
	s.changedLocked(cp.SessionID)
	return 200, cp.json(), nil
}

// closePermissionInput is the body of Close Charge Permission.
type closePermissionInput struct {
	ClosureReason        *string `json:"closureReason"`
	CancelPendingCharges *bool   `json:"cancelPendingCharges"`
}

// closeChargePermissionLocked is Close Charge Permission: no further
// charges; with cancelPendingCharges the open authorizations are canceled
// too (ChargePermissionCanceled), otherwise they may still be captured.
func (s *Simulator) closeChargePermissionLocked(c *call) (int, any, *apiError) {
	if e := checkSimulationCode(c.op, c.simulationCode); e != nil {
		return 0, nil, e
	}
	cp, e := s.permissionFor(c, c.id)
	if e != nil {
		return 0, nil, e
	}
	var in closePermissionInput
	if e := decodeBody(c.body, &in); e != nil {
		return 0, nil, e
	}
	if in.ClosureReason == nil || *in.ClosureReason == "" {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter closureReason is missing.")
	}
	if e := checkLen("closureReason", in.ClosureReason, 255); e != nil {
		return 0, nil, e
	}
	if cp.State == stateClosed {
		return 0, nil, invalidPermissionStatus(cp)
	}
	reasonCode := "MerchantClosed"
	if c.simulationCode == "AmazonClosed" {
		reasonCode = "AmazonClosed"
	}
	s.closePermissionLocked(cp, reasonCode, *in.ClosureReason, in.CancelPendingCharges != nil && *in.CancelPendingCharges, c.now)
	return 200, cp.json(), nil
}

// closePermissionLocked closes cp with reasonCode (description overrides
// the standard one when set), canceling its open charges when asked.
func (s *Simulator) closePermissionLocked(cp *chargePermissionRecord, reasonCode, description string, cancelPending bool, now time.Time) {
	s.setPermissionStateLocked(cp, stateClosed, now, reasonCode)
	if description != "" {
		cp.Reasons[0].ReasonDescription = description
		cp.ClosureReason = description
	}
	if cancelPending {
		for _, id := range cp.ChargeIDs {
			ch := s.charges[id]
			if ch.State == stateAuthorizationInitiated || ch.State == stateAuthorized {
				s.cancelLocked(ch, "ChargePermissionCanceled", "The Charge Permission was closed and its pending charges canceled.", now)
			}
		}
	}
	s.changedLocked(cp.SessionID)
}
