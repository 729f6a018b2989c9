package chargeops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/tracelink"
)

// Authorizations expire 30 days after they are made unless captured or
// canceled; Amazon then answers the charge Canceled with ExpiredUnused.
const (
	authorizationLifetime = 30 * 24 * time.Hour
	// expiryMargin: the check comes this long after the expiry, so that
	// Amazon has moved the charge on.
	expiryMargin = 5 * time.Minute
)

// expiryWatch returns the operation that reads the Authorized charge back
// after its authorization's expiry: recorded in flight with its lease
// running out then, so that the worker claims it at that time. expires is
// the charge's expirationTimestamp, or zero when it is not known (then 30
// days from now; the first read reschedules to the real expiry).
func (s *Service) expiryWatch(chargeID, chargePermissionID string, expires time.Time) payment.Operation {
	now := s.cfg.Now().UTC()
	if expires.IsZero() {
		expires = now.Add(authorizationLifetime)
	}
	return payment.Operation{
		ID: OperationID(payment.OpExpiry, chargeID, ""), Kind: payment.OpExpiry, ObjectID: chargeID,
		ChargePermissionID: chargePermissionID, State: payment.OpSending,
		CreateTime: now, UpdateTime: now, NextCheckTime: expires.UTC().Add(expiryMargin),
		LeaseOwner: checks.Owner(s.cfg.Owner, "expiry"),
	}
}

// watchExpiry records the expiry check of a charge Amazon answered
// Authorized; one already recorded is kept.
func (s *Service) watchExpiry(ctx context.Context, ch *amazonpay.Charge) error {
	op := s.expiryWatch(ch.ChargeID, ch.ChargePermissionID, ch.ExpirationTimestamp.Time)
	op.TraceParent = tracelink.Parent(ctx)
	_, _, err := s.st.CreateOperation(ctx, op, op.LeaseOwner)
	return err
}

// checkExpiry reads the charge and records the state Amazon answers once
// it is no longer Authorized; while it is, it looks again at its expiry,
// or later with backoff.
func (s *Service) checkExpiry(ctx context.Context, op payment.Operation, owner string) {
	ch, info, err := s.az.GetCharge(ctx, op.ObjectID)
	if err == nil && ch.StatusDetails.State != payment.ChargeAuthorized && !pendingCharge(ch.StatusDetails.State) {
		if _, err := s.record(ctx, op, ch, true); err != nil {
			s.log.WarnContext(ctx, "could not record an expired charge", "operation_id", op.ID, "error", err.Error())
		}
		return
	}
	now := s.cfg.Now().UTC()
	next := now.Add(checks.Backoff(s.cfg.PendingFirst, s.cfg.PendingMax, op.CheckAttempts+1, 0.1))
	if err != nil {
		s.log.WarnContext(ctx, "get charge failed; checking its expiry again later", "operation_id", op.ID,
			"amazon_request_id", info.RequestID, "error", err.Error())
		next = now.Add(max(next.Sub(now), completion.RetryDelay(err)))
	} else if at := ch.ExpirationTimestamp.Time.Add(expiryMargin); at.After(next) {
		next = at.UTC()
	}
	if _, err := s.st.RescheduleOperation(ctx, op.ID, owner, next, now); err != nil {
		s.log.WarnContext(ctx, "could not reschedule an expiry check", "operation_id", op.ID, "error", err.Error())
	}
}

// retireExpiry ends the expiry watch of the charge op captured or
// canceled (or found final): Amazon's answer to op is the charge's last
// change, and the capture's own polls follow one in progress, so the read
// at the expiry would only find it as recorded. A charge without a watch
// is left alone.
func (s *Service) retireExpiry(ctx context.Context, op payment.Operation) {
	if op.Kind != payment.OpCapture && op.Kind != payment.OpCancel {
		return
	}
	id := OperationID(payment.OpExpiry, op.ObjectID, "")
	// A read first: a charge without a watch (under automatic capture)
	// or one already retired costs no durable commit.
	if w, err := s.st.GetOperation(ctx, id); err != nil || w.State == payment.OpDone {
		return
	}
	if _, _, err := s.st.AdvanceOperation(ctx, id, payment.OpUpdate{State: payment.OpDone, Time: s.cfg.Now().UTC()}); err != nil &&
		!errors.Is(err, store.ErrNotFound) {
		// Harmless: the watch reads the charge once at its expiry.
		s.log.WarnContext(ctx, "could not retire an expiry watch", "operation_id", id, "error", err.Error())
	}
}

// recheckCharges makes the expiry watches of a permission's charges due
// now: Amazon canceled its open charges with the closure
// (cancelPendingCharges), and only a read of each charge tells the
// payment. Marked unknown (the charge's state is, until read), so that a
// failed read is retried with backoff by the worker. An error means some
// may not be due: the closure must not be recorded done yet (its check
// comes again).
func (s *Service) recheckCharges(ctx context.Context, chargePermissionID string) error {
	defer s.Wake()
	ops, err := s.st.ListOperations(ctx, chargePermissionID)
	if err != nil {
		return fmt.Errorf("list the charges a closure canceled: %w", err)
	}
	now := s.cfg.Now().UTC()
	for _, op := range ops {
		if op.Kind != payment.OpExpiry || op.State != payment.OpSending {
			continue
		}
		if _, _, err := s.st.AdvanceOperation(ctx, op.ID, payment.OpUpdate{State: payment.OpUnknown, NextCheckTime: now, Time: now}); err != nil {
			return fmt.Errorf("make the expiry watch %s due: %w", op.ID, err)
		}
	}
	return nil
}
