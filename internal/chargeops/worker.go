package chargeops

import (
	"context"
	"encoding/json"

	otelattr "go.opentelemetry.io/otel/attribute"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/tracelink"
)

// batch bounds one pass of the worker; the pass repeats at once while full.
const batch = 50

// Run settles operations until ctx ends, then returns nil: those whose
// answer was lost (unknown), those left in flight by a process that died
// (their lease expired), asynchronous captures (pending), and Authorized
// charges whose authorization has expired (read back once), each leased
// to one replica at a time through the store, exactly as the reconciler
// and the tracker lease payments.
func (s *Service) Run(ctx context.Context) error {
	return checks.RunWoken(ctx, s.cfg.Idle, batch, s.CheckOnce, s.wake, s.log, "operations pass failed")
}

// CheckOnce runs one pass over due operations and returns how many it
// claimed.
func (s *Service) CheckOnce(ctx context.Context) (int, error) {
	owner := checks.Owner(s.cfg.Owner, "ops-worker")
	due, err := s.st.ClaimDueOperations(ctx, []payment.OpState{payment.OpSending, payment.OpUnknown, payment.OpPending},
		s.cfg.Now().UTC(), batch, s.cfg.Lease, owner)
	if err != nil {
		return 0, err
	}
	for _, op := range due {
		if ctx.Err() != nil {
			return len(due), nil // the leases expire by themselves
		}
		cctx, span := tracelink.Start(ctx, s.cfg.TracerProvider, "check operation", op.TraceParent,
			otelattr.String("paymentcompletion.operation.kind", string(op.Kind)),
			otelattr.String("paymentcompletion.operation.state", string(op.State)))
		s.check(cctx, op, owner)
		span.End()
	}
	return len(due), nil
}

func (s *Service) check(ctx context.Context, op payment.Operation, owner string) {
	stop := checks.Keep(ctx, extender{s.st}, op.ID, owner, s.cfg.Lease, s.cfg.Now, s.log)
	defer stop()
	uctx, cancel := context.WithTimeout(ctx, s.cfg.UpstreamTimeout)
	defer cancel()
	var (
		res Result
		err error
	)
	switch {
	case unchecked(op):
		// Its process died during the check before sending: an
		// operation is sent only once bound to its charge permission
		// (checkAndSend), so nothing reached Amazon. Sent from here, its
		// effect would be recorded on no payment, and without the check:
		// withdraw it; the caller's retry records it anew.
		if err := s.st.DeleteOperation(uctx, op.ID, owner); err != nil {
			s.log.WarnContext(ctx, "could not withdraw an operation left unchecked", "operation_id", op.ID, "error", err.Error())
			return
		}
		s.log.InfoContext(ctx, "operation left unchecked by a process that died; withdrawn, nothing was sent",
			"operation_id", op.ID, "kind", string(op.Kind))
		return
	case op.Kind == payment.OpExpiry:
		s.checkExpiry(uctx, op, owner)
		return
	case op.Kind == payment.OpRefund && op.State == payment.OpPending:
		s.pollRefund(uctx, op, owner)
		return
	case (op.Kind == payment.OpRefund || op.Kind == payment.OpCharge) && op.State != payment.OpPending &&
		s.cfg.Now().Sub(op.CreateTime) > UnknownBudget:
		// Amazon no longer knows the key: a resend could make a second
		// refund or charge. Nothing reads either back without its ID; the
		// operator is told (UnknownBudget) and decides.
		s.log.ErrorContext(ctx, "operation unknown past its budget; not sent again, an operator must settle it",
			"operation_id", op.ID, "kind", string(op.Kind), "object_id", op.ObjectID)
		now := s.cfg.Now().UTC()
		if _, err := s.st.RescheduleOperation(ctx, op.ID, owner, now.Add(s.cfg.MaxInterval), now); err != nil {
			s.log.WarnContext(ctx, "could not reschedule an operation", "operation_id", op.ID, "error", err.Error())
		}
		return
	case op.Kind == payment.OpRefund:
		// Unknown, or left in flight by a process that died: the same
		// key makes Amazon answer with the refund it created, or create
		// it now.
		res, err = s.sendRefund(uctx, op, owner, true, true)
	case op.Kind == payment.OpCharge && op.State != payment.OpPending:
		// Unknown, or left in flight: the same key makes Amazon answer
		// with the charge it created, or create it now.
		res, err = s.sendCharge(uctx, op, owner, true, true)
	case op.Kind == payment.OpReference:
		res, err = s.settleReference(uctx, op, owner)
	case op.Kind == payment.OpClose:
		res, err = s.readBackClose(uctx, op, owner, true, nil, amazonpay.Failure{}, true)
	case op.State == payment.OpPending:
		s.poll(uctx, op, owner)
		return
	default:
		res, err = s.readBack(uctx, op, owner, true, nil, amazonpay.Failure{}, true)
	}
	if err != nil {
		s.log.WarnContext(ctx, "operation check ended without a result", "operation_id", op.ID, "error", err.Error())
		return
	}
	s.log.InfoContext(ctx, "operation checked", "operation_id", op.ID, "kind", string(op.Kind), "outcome", string(res.Outcome))
}

// poll reads an asynchronous capture's charge and records its final state,
// or looks again later with backoff.
func (s *Service) poll(ctx context.Context, op payment.Operation, owner string) {
	chargeID := op.ObjectID
	if op.Kind == payment.OpCharge {
		var prev amazonpay.Charge
		if json.Unmarshal(op.Result, &prev) != nil || prev.ChargeID == "" {
			s.log.ErrorContext(ctx, "pending charge without its ID", "operation_id", op.ID)
			return
		}
		chargeID = prev.ChargeID
	}
	ch, info, err := s.az.GetCharge(ctx, chargeID)
	if err == nil && !pendingCharge(ch.StatusDetails.State) {
		if _, err := s.record(ctx, op, ch, true); err != nil {
			s.log.WarnContext(ctx, "could not record a settled capture", "operation_id", op.ID, "error", err.Error())
		}
		return
	}
	delay := checks.Backoff(s.cfg.PendingFirst, s.cfg.PendingMax, op.CheckAttempts+1, 0.1)
	if err != nil {
		s.log.WarnContext(ctx, "get charge failed; polling again later", "operation_id", op.ID,
			"amazon_request_id", info.RequestID, "error", err.Error())
		delay = max(delay, completion.RetryDelay(err))
	}
	now := s.cfg.Now().UTC()
	if _, err := s.st.RescheduleOperation(ctx, op.ID, owner, now.Add(delay), now); err != nil {
		s.log.WarnContext(ctx, "could not reschedule a poll", "operation_id", op.ID, "error", err.Error())
	}
}

// unchecked reports whether op is a caller's operation still in flight
// and not bound to its charge permission: its check did not finish, so
// it was never sent.
func unchecked(op payment.Operation) bool {
	switch op.Kind {
	case payment.OpCapture, payment.OpCancel, payment.OpRefund, payment.OpCharge, payment.OpClose:
		return op.State == payment.OpSending && op.ChargePermissionID == ""
	}
	return false
}
