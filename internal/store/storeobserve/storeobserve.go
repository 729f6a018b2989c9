// Package storeobserve wraps a store.Store so that each operation is traced
// (one span per operation, named "store.<Method>") and timed for metrics.
// Spans and measurements name the operation only: no payment IDs, amounts
// or other row data.
package storeobserve

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// Observer is told how long each store operation took and whether it
// failed. Write operations (CreateAttempt, Transition, ...) each end in a
// commit, so their durations are the store's commit latency.
type Observer interface {
	StoreOperation(op string, d time.Duration, err error)
}

// Wrap returns st with every operation traced with tp (nil: not traced) as
// a child of the caller's span, and reported to obs (nil: not reported). Optional interfaces of st (such as
// a change listener) are not carried over: check them on st itself.
func Wrap(st store.Store, tp trace.TracerProvider, obs Observer) store.Store {
	w := &observed{Store: st, obs: obs}
	if tp != nil {
		w.tracer = tp.Tracer("github.com/paymentcompletion/paymentcompletion/internal/store")
	}
	return w
}

type observed struct {
	store.Store
	tracer trace.Tracer
	obs    Observer
}

// start begins an operation; the returned function ends it with its error.
func (o *observed) start(ctx context.Context, op string) (context.Context, func(error)) {
	begin := time.Now()
	var span trace.Span
	// Only inside a trace: the background workers' polls (a claim every
	// second) would otherwise each start a trace of their own.
	if o.tracer != nil && trace.SpanContextFromContext(ctx).IsValid() {
		ctx, span = o.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.operation.name", op)))
	}
	return ctx, func(err error) {
		if o.obs != nil {
			o.obs.StoreOperation(op, time.Since(begin), err)
		}
		if span != nil {
			if err != nil && Failed(err) {
				span.SetStatus(codes.Error, errorSummary(err))
			}
			span.End()
		}
	}
}

// Failed reports whether err is a failure of the store rather than one of
// its documented answers (not found, lease not held).
func Failed(err error) bool {
	return err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrLeaseLost)
}

func errorSummary(err error) string {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

func (o *observed) CreateAttempt(ctx context.Context, p payment.Payment, leaseOwner string) (payment.Payment, bool, error) {
	ctx, end := o.start(ctx, "CreateAttempt")
	stored, created, err := o.Store.CreateAttempt(ctx, p, leaseOwner)
	end(err)
	return stored, created, err
}

func (o *observed) Get(ctx context.Context, id string) (payment.Payment, error) {
	ctx, end := o.start(ctx, "Get")
	p, err := o.Store.Get(ctx, id)
	end(err)
	return p, err
}

func (o *observed) GetLatestByOrder(ctx context.Context, orderID string) (payment.Payment, error) {
	ctx, end := o.start(ctx, "GetLatestByOrder")
	p, err := o.Store.GetLatestByOrder(ctx, orderID)
	end(err)
	return p, err
}

func (o *observed) DeleteAttempt(ctx context.Context, id, leaseOwner string) error {
	ctx, end := o.start(ctx, "DeleteAttempt")
	err := o.Store.DeleteAttempt(ctx, id, leaseOwner)
	end(err)
	return err
}

func (o *observed) Transition(ctx context.Context, id string, t payment.Transition) (payment.Payment, bool, error) {
	ctx, end := o.start(ctx, "Transition")
	p, changed, err := o.Store.Transition(ctx, id, t)
	end(err)
	return p, changed, err
}

func (o *observed) ClaimDue(ctx context.Context, outcomes []payment.Outcome, now time.Time, limit int, lease time.Duration, owner string) ([]payment.Payment, error) {
	ctx, end := o.start(ctx, "ClaimDue")
	ps, err := o.Store.ClaimDue(ctx, outcomes, now, limit, lease, owner)
	end(err)
	return ps, err
}

func (o *observed) Reschedule(ctx context.Context, id, owner string, next, now time.Time) (payment.Payment, error) {
	ctx, end := o.start(ctx, "Reschedule")
	p, err := o.Store.Reschedule(ctx, id, owner, next, now)
	end(err)
	return p, err
}

func (o *observed) List(ctx context.Context, q store.ListQuery) ([]payment.Payment, error) {
	ctx, end := o.start(ctx, "List")
	ps, err := o.Store.List(ctx, q)
	end(err)
	return ps, err
}

func (o *observed) ExtendLease(ctx context.Context, id, owner string, until time.Time) error {
	ctx, end := o.start(ctx, "ExtendLease")
	err := o.Store.ExtendLease(ctx, id, owner, until)
	end(err)
	return err
}

func (o *observed) Nudge(ctx context.Context, ref store.ObjectRef, now time.Time) (int, error) {
	ctx, end := o.start(ctx, "Nudge")
	n, err := o.Store.Nudge(ctx, ref, now)
	end(err)
	return n, err
}
