package chargeops

import (
	"context"
	"encoding/json"

	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// failure is the Result of an operation that ended failed: a caller was
// told it was unknown, and Amazon Pay then refused its resend (sent with
// the same idempotency key, so a change already applied would have been
// answered with its result instead). The operation is done with this
// Result; a repeat of the call answers the refusal as the error it would
// have been on the first call, and nothing resends it again.
type failure struct {
	Failure struct {
		NotFound bool              `json:"notFound,omitempty"`
		Reason   string            `json:"reason"`
		Message  string            `json:"message"`
		Metadata map[string]string `json:"metadata,omitempty"`
	} `json:"serviceFailure"`
}

// refusal reports whether e is Amazon's refusal of the operation itself
// (its state, its rules, an object it does not know): final, unlike the
// service's credentials or Amazon's availability, which may change.
func refusal(e *completion.Error) bool {
	return e.Kind == completion.KindFailedPrecondition || e.Kind == completion.KindNotFound
}

// fail records op, which a caller already saw as unknown, as failed with
// Amazon's refusal e, and returns e.
func (s *Service) fail(ctx context.Context, op payment.Operation, e *completion.Error) (Result, error) {
	var f failure
	f.Failure.NotFound = e.Kind == completion.KindNotFound
	f.Failure.Reason, f.Failure.Message, f.Failure.Metadata = e.Reason, e.Message+"; the operation ended failed, nothing was applied", e.Metadata
	body, err := json.Marshal(f)
	if err != nil {
		return Result{}, err
	}
	s.log.WarnContext(ctx, "amazon pay refused the resend of an unknown operation; it ended failed",
		"kind", string(op.Kind), "operation_id", op.ID, "reason", e.Reason, "amazon_reason_code", e.Metadata["amazon_reason_code"])
	if _, err := s.advance(ctx, op, payment.OpUpdate{State: payment.OpDone, Result: body,
		ReasonCode: e.Metadata["amazon_reason_code"], Time: s.cfg.Now().UTC(), Checked: true}); err != nil {
		return Result{}, err
	}
	return Result{}, e
}

// failureOf returns the refusal an operation ended failed with, if it did.
func failureOf(op payment.Operation) (*completion.Error, bool) {
	if op.State != payment.OpDone || len(op.Result) == 0 {
		return nil, false
	}
	var f failure
	if json.Unmarshal(op.Result, &f) != nil || f.Failure.Reason == "" {
		return nil, false
	}
	kind := completion.KindFailedPrecondition
	if f.Failure.NotFound {
		kind = completion.KindNotFound
	}
	return completion.NewError(kind, f.Failure.Reason, f.Failure.Message, nil, f.Failure.Metadata), true
}
