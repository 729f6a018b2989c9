package completion

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/tracelink"
)

// reconcileBatch bounds one pass; the pass repeats at once while it is full.
const reconcileBatch = 50

// RunReconciler settles, until ctx ends, every attempt whose outcome is
// unknown and every attempt left in flight by a process that died: it leases
// due payments (so each is handled by one replica at a time), reads the
// checkout session from Amazon Pay, completes sessions that were never
// completed, and records what it learns or schedules the next look with
// backoff. It returns nil when ctx ends.
func (s *Service) RunReconciler(ctx context.Context) error {
	return checks.Run(ctx, s.cfg.ReconcileIdle, reconcileBatch, s.ReconcileOnce, s.log, "reconciliation pass failed")
}

// ReconcileOnce runs one pass over due payments and returns how many it
// handled.
func (s *Service) ReconcileOnce(ctx context.Context) (int, error) {
	owner := s.leaseOwner()
	due, err := s.store.ClaimDue(ctx, []payment.Outcome{payment.Completing, payment.Unknown},
		s.cfg.Now().UTC(), reconcileBatch, s.cfg.InflightLease, owner)
	if err != nil {
		return 0, err
	}
	for _, p := range due {
		if ctx.Err() != nil {
			// Leases expire by themselves; another replica (or this one after
			// a restart) takes the rest.
			return len(due), nil
		}
		// A trace of its own, linked to the call that recorded the
		// payment.
		rctx, span := tracelink.Start(ctx, s.cfg.TracerProvider, "reconcile payment", p.TraceParent,
			attribute.String("paymentcompletion.outcome", string(p.Outcome)))
		s.reconcile(rctx, p, holder{owner: owner, check: true})
		span.End()
	}
	return len(due), nil
}

func (s *Service) reconcile(ctx context.Context, p payment.Payment, h holder) {
	stop := s.keepLease(ctx, p.CheckoutSessionID, h.owner)
	defer stop()
	uctx, cancel := context.WithTimeout(ctx, s.cfg.UpstreamTimeout)
	defer cancel()
	got, err := s.settleFromSession(uctx, p, h, settleOpts{mayComplete: true})
	var e *Error
	span := trace.SpanFromContext(ctx)
	switch {
	case err == nil:
		span.SetAttributes(attribute.String("paymentcompletion.outcome.to", string(got.Outcome)))
		s.log.InfoContext(ctx, "reconciled payment", "checkout_session_id", p.CheckoutSessionID,
			"from", string(p.Outcome), "to", string(got.Outcome), "check_attempts", got.CheckAttempts)
	case errors.As(err, &e):
		// A withdrawn attempt (nobody was told about it) or a rejection.
		s.log.InfoContext(ctx, "reconciliation ended without an outcome", "checkout_session_id", p.CheckoutSessionID, "reason", e.Reason)
	default:
		span.SetStatus(codes.Error, "reconciliation failed")
		s.log.WarnContext(ctx, "reconciliation failed", "checkout_session_id", p.CheckoutSessionID, "error", err.Error())
	}
}
