package simulator

import (
	"time"
)

// Refund states.
const (
	stateRefundInitiated = "RefundInitiated"
	stateRefunded        = "Refunded"
)

// refundRecord is a Refund as the simulator keeps it.
type refundRecord struct {
	ID                 string    `json:"id"`
	ChargeID           string    `json:"chargeId"`
	ChargePermissionID string    `json:"chargePermissionId"`
	SessionID          string    `json:"sessionId"`
	Merchant           string    `json:"merchant"`
	Environment        string    `json:"environment"`
	Amount             price     `json:"amount"`
	SoftDescriptor     *string   `json:"softDescriptor"`
	State              string    `json:"state"`
	ReasonCode         string    `json:"reasonCode"`
	ReasonDescription  string    `json:"reasonDescription"`
	LastUpdated        time.Time `json:"lastUpdated"`
	Created            time.Time `json:"created"`
	// SettleAt is when a RefundInitiated refund settles, to SettleState
	// (Refunded, or Declined with SettleReason).
	SettleAt     time.Time `json:"settleAt"`
	SettleState  string    `json:"settleState"`
	SettleReason string    `json:"settleReason"`
}

// refundJSON is the Refund object of the API, with the keys in the order
// the official Node.js SDK's integration test lists them.
type refundJSON struct {
	RefundID           string        `json:"refundId"`
	ChargeID           string        `json:"chargeId"`
	CreationTimestamp  string        `json:"creationTimestamp"`
	RefundAmount       *priceJSON    `json:"refundAmount"`
	StatusDetails      statusDetails `json:"statusDetails"`
	SoftDescriptor     *string       `json:"softDescriptor"`
	ReleaseEnvironment string        `json:"releaseEnvironment"`
}

func (r *refundRecord) json() refundJSON {
	return refundJSON{
		RefundID:          r.ID,
		ChargeID:          r.ChargeID,
		CreationTimestamp: stamp(r.Created),
		RefundAmount:      r.Amount.json(),
		StatusDetails: statusDetails{
			State:                r.State,
			ReasonCode:           strPtr(r.ReasonCode),
			ReasonDescription:    strPtr(r.ReasonDescription),
			LastUpdatedTimestamp: stamp(r.LastUpdated),
		},
		SoftDescriptor:     r.SoftDescriptor,
		ReleaseEnvironment: releaseEnvironment(r.Environment),
	}
}

// refundDeclineReasons are the reason codes a Declined refund carries.
var refundDeclineReasons = map[string]string{
	"AmazonRejected":    "Amazon rejected the refund.",
	"ProcessingFailure": "Amazon could not process the refund because of an internal processing error.",
}

// overcompensation is how much more than the captured amount Amazon lets a
// merchant refund: 15% or 75 USD/GBP/EUR (8,400 JPY), whichever is less.
func overcompensation(captured price) int64 {
	ceiling := int64(75_00)
	if captured.Currency == "JPY" {
		ceiling = 8_400
	}
	return min(captured.Minor*15/100, ceiling)
}

// newRefundIDLocked returns a refund id: the permission id, "-R" and six
// digits.
func (s *Simulator) newRefundIDLocked(cpID string) string {
	for {
		id := cpID + "-R" + randomDigits(6)
		if s.refunds[id] == nil {
			return id
		}
	}
}

type createRefundInput struct {
	ChargeID       *string     `json:"chargeId"`
	RefundAmount   *priceInput `json:"refundAmount"`
	SoftDescriptor *string     `json:"softDescriptor"`
}

// refundedOrPendingLocked is the amount of ch's refunds that are not
// Declined.
func (s *Simulator) refundedOrPendingLocked(ch *chargeRecord) int64 {
	var n int64
	for _, id := range ch.RefundIDs {
		if r := s.refunds[id]; r.State != stateDeclined {
			n += r.Amount.Minor
		}
	}
	return n
}

// createRefundLocked is Create Refund: an asynchronous refund of a captured
// charge, within the captured amount plus Amazon's overcompensation
// allowance. It answers 201 RefundInitiated; the refund settles after the
// pending delay.
func (s *Simulator) createRefundLocked(c *call) (int, any, *apiError) {
	if e := checkSimulationCode(c.op, c.simulationCode); e != nil {
		return 0, nil, e
	}
	var in createRefundInput
	if e := decodeBody(c.body, &in); e != nil {
		return 0, nil, e
	}
	if in.ChargeID == nil || *in.ChargeID == "" {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter chargeId is missing.")
	}
	if in.RefundAmount == nil {
		return 0, nil, errorf(400, "MissingParameterValue", "The mandatory parameter refundAmount is missing.")
	}
	amt, e := parsePrice("refundAmount", in.RefundAmount)
	if e != nil {
		return 0, nil, e
	}
	if e := checkLen("softDescriptor", in.SoftDescriptor, 16); e != nil {
		return 0, nil, e
	}
	if e := requireIdempotencyKey(c); e != nil {
		return 0, nil, e
	}
	c.id = *in.ChargeID
	ch, e := s.chargeFor(c)
	if e != nil {
		return 0, nil, e
	}
	if ch.State != stateCaptured || ch.CaptureAmount == nil {
		return 0, nil, errorf(422, "InvalidChargeStatus", "You tried to call an operation on a Charge that is in a state (%s) where that operation is not allowed.", ch.State)
	}
	if amt.Currency != ch.CaptureAmount.Currency {
		return 0, nil, errorf(400, "CurrencyMismatch", "The currency of refundAmount (%s) does not match the Charge (%s).", amt.Currency, ch.CaptureAmount.Currency)
	}
	allowed := ch.CaptureAmount.Minor + overcompensation(*ch.CaptureAmount)
	if s.refundedOrPendingLocked(ch)+amt.Minor > allowed {
		return 0, nil, errorf(400, "TransactionAmountExceeded", "The refunds of this Charge would exceed the captured amount plus the allowed overcompensation (%s in all).",
			price{Minor: allowed, Currency: amt.Currency}.text())
	}
	r := &refundRecord{
		ID:                 s.newRefundIDLocked(ch.ChargePermissionID),
		ChargeID:           ch.ID,
		ChargePermissionID: ch.ChargePermissionID,
		SessionID:          ch.SessionID,
		Merchant:           ch.Merchant,
		Environment:        ch.Environment,
		Amount:             amt,
		SoftDescriptor:     in.SoftDescriptor,
		State:              stateRefundInitiated,
		LastUpdated:        c.now,
		Created:            c.now,
		SettleAt:           c.now.Add(s.pendingDelay),
		SettleState:        stateRefunded,
	}
	s.addRefundLocked(ch, r)
	return 201, r.json(), nil
}

// addRefundLocked records a new RefundInitiated refund of ch and schedules
// its settlement.
func (s *Simulator) addRefundLocked(ch *chargeRecord, r *refundRecord) {
	s.refunds[r.ID] = r
	ch.RefundIDs = append(ch.RefundIDs, r.ID)
	s.linkLocked(r.SessionID, r.ID)
	s.scheduleLocked(r.ID, r.SettleAt)
	s.changedLocked(r.SessionID)
}

// refundFor finds a refund of the caller's merchant.
func (s *Simulator) refundFor(c *call) (*refundRecord, *apiError) {
	r := s.refunds[c.id]
	if r == nil || r.Merchant != c.merchant {
		return nil, errorf(404, "ResourceNotFound", "The Refund %s does not exist.", c.id)
	}
	return r, nil
}

func (s *Simulator) getRefundLocked(c *call) (int, any, *apiError) {
	r, e := s.refundFor(c)
	if e != nil {
		return 0, nil, e
	}
	return 200, r.json(), nil
}

// settleRefundLocked applies a pending refund's outcome at its due time.
func (s *Simulator) settleRefundLocked(r *refundRecord) {
	if r.State != stateRefundInitiated {
		return
	}
	if r.SettleState == stateDeclined {
		s.declineRefundLocked(r, r.SettleReason, r.SettleAt)
	} else {
		s.completeRefundLocked(r, r.SettleAt)
	}
	s.log.Debug("refund settled", "refundId", r.ID, "state", r.State)
}

// completeRefundLocked moves a refund to Refunded and adds it to the
// charge's refundedAmount.
func (s *Simulator) completeRefundLocked(r *refundRecord, now time.Time) {
	r.State, r.ReasonCode, r.ReasonDescription = stateRefunded, "", ""
	r.LastUpdated = now
	s.notifyStateChangeLocked(ObjectTypeRefund, r.ID, r.ChargePermissionID, r.Merchant, now)
	r.SettleAt, r.SettleState, r.SettleReason = time.Time{}, "", ""
	if ch := s.charges[r.ChargeID]; ch != nil {
		ch.RefundedMinor += r.Amount.Minor
	}
	s.changedLocked(r.SessionID)
}

// declineRefundLocked moves a refund to Declined with reasonCode.
func (s *Simulator) declineRefundLocked(r *refundRecord, reasonCode string, now time.Time) {
	r.State, r.ReasonCode, r.ReasonDescription = stateDeclined, reasonCode, refundDeclineReasons[reasonCode]
	r.LastUpdated = now
	s.notifyStateChangeLocked(ObjectTypeRefund, r.ID, r.ChargePermissionID, r.Merchant, now)
	r.SettleAt, r.SettleState, r.SettleReason = time.Time{}, "", ""
	s.changedLocked(r.SessionID)
}

type refundOutcomeInput struct {
	State      string `json:"state"`
	ReasonCode string `json:"reasonCode"`
}

// controlRefundOutcome decides how a RefundInitiated refund settles
// (Refunded, or Declined with AmazonRejected or ProcessingFailure). Amazon
// documents no simulation code for refunds, so tests choose the outcome
// here; the refund still settles at its due time.
func (s *Simulator) controlRefundOutcome(id string, body []byte) (int, any, *apiError) {
	var in refundOutcomeInput
	if e := decodeBody(body, &in); e != nil {
		return 0, nil, e
	}
	switch {
	case in.State == stateRefunded && in.ReasonCode == "":
	case in.State == stateDeclined && refundDeclineReasons[in.ReasonCode] != "":
	default:
		return 0, nil, errorf(400, "InvalidParameterValue", "state must be Refunded, or Declined with reasonCode AmazonRejected or ProcessingFailure.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.persistLocked()
	r := s.refunds[id]
	if r == nil {
		return 0, nil, errorf(404, "ResourceNotFound", "The Refund %s does not exist.", id)
	}
	if r.State != stateRefundInitiated {
		return 0, nil, errorf(422, "InvalidRefundStatus", "The Refund is %s; only a RefundInitiated refund can be given an outcome.", r.State)
	}
	r.SettleState, r.SettleReason = in.State, in.ReasonCode
	s.changedLocked(r.SessionID)
	return 200, r.json(), nil
}
