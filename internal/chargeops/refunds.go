package chargeops

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// Refund reasons.
const (
	ReasonChargeNotRefundable  = completion.ReasonChargeNotRefundable
	ReasonRefundAmountExceeded = completion.ReasonRefundAmountExceeded
	ReasonRefundNotFound       = completion.ReasonRefundNotFound
)

// RefundRequest is one RefundCharge call.
type RefundRequest struct {
	ChargeID       string
	Amount         payment.Money
	IdempotencyKey string
	SoftDescriptor string
}

// overRefundCap is Amazon's cap on what may be refunded beyond the
// captured amount, per currency (the smaller of 15% and this).
var overRefundCap = map[string]string{"USD": "75.00", "EUR": "75.00", "GBP": "75.00", "JPY": "8400"}

// Refund refunds (part of) a captured charge exactly once per idempotency
// key (for example the storefront's credit memo ID).
func (s *Service) Refund(ctx context.Context, r RefundRequest) (Result, error) {
	op, err := moneyOperation(payment.OpRefund, "refund_amount", r.ChargeID, r.IdempotencyKey, r.SoftDescriptor, r.Amount)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, op, func(ch *amazonpay.Charge) error { return refundable(ch, r.Amount) })
}

// refundable applies Amazon's refund rules to the charge as read: it must
// be Captured, in the refund's currency, and what is refunded (the
// charge's refundedAmount plus this refund) may exceed the captured amount
// by at most 15% of it or the currency's cap, whichever is less.
func refundable(ch *amazonpay.Charge, amount payment.Money) error {
	state := ch.StatusDetails.State
	if state != payment.ChargeCaptured {
		return completion.NewError(completion.KindFailedPrecondition, ReasonChargeNotRefundable,
			"the charge is "+state+"; only a Captured charge can be refunded; nothing was sent", nil,
			map[string]string{"charge_state": state})
	}
	if ch.CaptureAmount == nil {
		return nil // Amazon decides
	}
	captured := money(ch.CaptureAmount)
	if captured.CurrencyCode != amount.CurrencyCode {
		return completion.NewError(completion.KindFailedPrecondition, completion.ReasonCurrencyMismatch,
			"the refund's currency differs from the charge's ("+captured.CurrencyCode+"); nothing was sent", nil,
			map[string]string{"charge_currency": captured.CurrencyCode})
	}
	extra, ok := payment.Fraction(captured, 15, 100)
	if c, known := overRefundCap[captured.CurrencyCode]; ok && known {
		capped := payment.Money{Amount: c, CurrencyCode: captured.CurrencyCode}
		if cmp, ok := payment.Compare(capped, extra); ok && cmp < 0 {
			extra = capped
		}
	}
	limit, ok2 := payment.Sum(captured.CurrencyCode, captured, extra)
	asked := []payment.Money{amount}
	if ch.RefundedAmount != nil && ch.RefundedAmount.Amount != "" {
		asked = append(asked, money(ch.RefundedAmount))
	}
	total, ok3 := payment.Sum(captured.CurrencyCode, asked...)
	if ok && ok2 && ok3 {
		if c, ok := payment.Compare(total, limit); ok && c > 0 {
			return completion.NewError(completion.KindFailedPrecondition, ReasonRefundAmountExceeded,
				"the refunds of the charge would exceed what Amazon Pay allows ("+limit.Amount+" "+limit.CurrencyCode+"); nothing was sent", nil,
				map[string]string{"refundable_amount": limit.Amount})
		}
	}
	return nil
}

// sendRefund calls Create Refund for op with its key. retry: an earlier
// call with this key may have been applied (a lost answer, or the worker
// settling an operation), so no failure proves it was not; Amazon answers
// a repeat with the same key with the refund it created.
func (s *Service) sendRefund(ctx context.Context, op payment.Operation, owner string, check, retry bool) (Result, error) {
	var a amountArgs
	if err := json.Unmarshal([]byte(op.Request), &a); err != nil {
		return Result{}, fmt.Errorf("chargeops: stored refund arguments: %w", err)
	}
	rf, info, err := s.az.CreateRefund(ctx, amazonpay.CreateRefundRequest{
		ChargeID: op.ObjectID, RefundAmount: amazonpay.Price{Amount: a.Amount, CurrencyCode: a.Currency}, SoftDescriptor: a.SoftDescriptor,
	}, amazonpay.WithIdempotencyKey(op.ID))
	s.log.InfoContext(ctx, "amazon pay refund", "object_id", op.ObjectID, "operation_id", op.ID,
		"status", info.StatusCode, "amazon_request_id", info.RequestID, "attempts", info.Attempts, "error", errString(err))
	if err == nil {
		return s.recordRefund(ctx, op, rf, check)
	}
	f := amazonpay.Classify(err)
	switch d := completion.AmazonFailure(completion.CallRefund, f, err); {
	case d.Step == completion.StepRefused:
		return s.withdraw(ctx, op, owner, d.Err)
	case d.Step == completion.StepNotApplied && !retry:
		return s.withdraw(ctx, op, owner, d.Err)
	}
	if !retry {
		// The refund has no object to read back before its ID is known:
		// the same key makes Amazon answer with the refund it created, if
		// it created one.
		return s.sendRefund(ctx, op, owner, check, true)
	}
	s.log.WarnContext(ctx, "refund outcome unknown", "operation_id", op.ID, "error", err.Error())
	return s.markUnknown(ctx, op, owner, completion.RetryDelay(err))
}

// recordRefund stores Amazon's refund as op's result: pending while
// RefundInitiated, else done.
func (s *Service) recordRefund(ctx context.Context, op payment.Operation, rf *amazonpay.Refund, check bool) (Result, error) {
	body, err := json.Marshal(rf)
	if err != nil {
		return Result{}, err
	}
	now := s.cfg.Now().UTC()
	u := payment.OpUpdate{State: payment.OpDone, Result: body, ReasonCode: rf.StatusDetails.ReasonCode, Time: now, Checked: check}
	if rf.StatusDetails.State == amazonpay.RefundStateInitiated {
		u.State = payment.OpPending
		u.NextCheckTime = now.Add(checks.Backoff(s.cfg.PendingFirst, s.cfg.PendingMax, 0, 0.1))
	}
	return s.advance(ctx, op, u)
}

// pollRefund reads a pending refund and records its final state, or looks
// again later with backoff.
func (s *Service) pollRefund(ctx context.Context, op payment.Operation, owner string) {
	var prev amazonpay.Refund
	if err := json.Unmarshal(op.Result, &prev); err != nil || prev.RefundID == "" {
		s.log.ErrorContext(ctx, "pending refund without its ID", "operation_id", op.ID)
		return
	}
	rf, info, err := s.az.GetRefund(ctx, prev.RefundID)
	if err == nil && rf.StatusDetails.State != amazonpay.RefundStateInitiated {
		if _, err := s.recordRefund(ctx, op, rf, true); err != nil {
			s.log.WarnContext(ctx, "could not record a settled refund", "operation_id", op.ID, "error", err.Error())
		}
		return
	}
	delay := checks.Backoff(s.cfg.PendingFirst, s.cfg.PendingMax, op.CheckAttempts+1, 0.1)
	if err != nil {
		s.log.WarnContext(ctx, "get refund failed; polling again later", "operation_id", op.ID,
			"amazon_request_id", info.RequestID, "error", err.Error())
		delay = max(delay, completion.RetryDelay(err))
	}
	now := s.cfg.Now().UTC()
	if _, err := s.st.RescheduleOperation(ctx, op.ID, owner, now.Add(delay), now); err != nil {
		s.log.WarnContext(ctx, "could not reschedule a poll", "operation_id", op.ID, "error", err.Error())
	}
}

// GetRefund reads a refund live from Amazon Pay.
func (s *Service) GetRefund(ctx context.Context, refundID string) (*amazonpay.Refund, error) {
	if refundID == "" {
		return nil, invalid("refund_id", "required")
	}
	rf, _, err := s.az.GetRefund(ctx, refundID)
	if err != nil {
		return nil, completion.AmazonReadError(completion.CallGetRefund, err)
	}
	return rf, nil
}

func refundOutcome(state string) payment.Outcome {
	switch state {
	case amazonpay.RefundStateInitiated:
		return payment.Pending
	case amazonpay.RefundStateRefunded:
		return payment.Completed
	case amazonpay.RefundStateDeclined:
		return payment.Declined
	}
	return payment.Unknown
}
