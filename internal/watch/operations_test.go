package watch_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlite"
	"github.com/paymentcompletion/paymentcompletion/internal/watch"
)

// TestFollowAllSeesOperations: a watcher of a completed payment re-reads
// it when an operation on its charge permission is recorded, advanced,
// rescheduled or deleted through the wrapped store, without waiting for
// its periodic recheck (an hour here); Follow keeps skipping re-reads that
// find the same payment version.
func TestFollowAllSeesOperations(t *testing.T) {
	t.Parallel()
	raw, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	h := watch.NewHub()
	st, ops := h.Wrap(raw), h.WrapOperations(raw)

	const id, cp = "cs-ops", "S01-1111111-2222222"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ctx := t.Context()
	if _, _, err := st.CreateAttempt(ctx, payment.Payment{
		CheckoutSessionID: id, OrderID: "o-1", ChargeAmount: payment.Money{Amount: "10.00", CurrencyCode: "EUR"},
		Outcome: payment.Completing, CreateTime: now, UpdateTime: now, NextCheckTime: now.Add(time.Minute),
	}, "w"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Transition(ctx, id, payment.Transition{Outcome: payment.Completed, ChargePermissionID: cp,
		ChargeID: cp + "-C00001", ChargeState: payment.ChargeAuthorized, Time: now}); err != nil {
		t.Fatal(err)
	}

	// FollowAll and Follow side by side; both run until wctx ends.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	all, plain := make(chan payment.Payment, 16), make(chan payment.Payment, 16)
	errs := make(chan error, 2)
	go func() {
		errs <- watch.FollowAll(wctx, h, st, id, time.Hour, func(p payment.Payment) (bool, error) { all <- p; return true, nil })
	}()
	go func() {
		errs <- watch.Follow(wctx, h, st, id, time.Hour, func(p payment.Payment) (bool, error) { plain <- p; return true, nil })
	}()
	// The liveness bound of a read that must come, not a speed target.
	const wait = 30 * time.Second
	next := func(what string) {
		t.Helper()
		select {
		case <-all:
		case <-time.After(wait):
			t.Fatalf("%s: the watch did not re-read within %v", what, wait)
		}
	}
	next("first read")
	<-plain

	op := payment.Operation{
		ID: "op-1", Kind: payment.OpRefund, ObjectID: cp + "-C00001", IdempotencyKey: "k1",
		Request: "4.00 EUR", ChargePermissionID: cp, State: payment.OpSending,
		CreateTime: now, UpdateTime: now, NextCheckTime: now.Add(time.Minute),
	}
	if _, _, err := ops.CreateOperation(ctx, op, "w"); err != nil {
		t.Fatal(err)
	}
	next("refund recorded")
	if _, _, err := ops.AdvanceOperation(ctx, op.ID, payment.OpUpdate{State: payment.OpPending,
		Result: []byte(`{"refundId":"R1","statusDetails":{"state":"RefundInitiated"}}`), NextCheckTime: now.Add(time.Minute), Time: now}); err != nil {
		t.Fatal(err)
	}
	next("refund initiated")
	later := now.Add(2 * time.Minute)
	if claimed, err := ops.ClaimDueOperations(ctx, []payment.OpState{payment.OpPending}, later, 10, time.Minute, "w2"); err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimDueOperations = %d, %v; want 1", len(claimed), err)
	}
	if _, err := ops.RescheduleOperation(ctx, op.ID, "w2", later.Add(time.Hour), later); err != nil {
		t.Fatal(err)
	}
	next("refund check rescheduled")
	if _, _, err := ops.AdvanceOperation(ctx, op.ID, payment.OpUpdate{State: payment.OpDone,
		Result: []byte(`{"refundId":"R1","statusDetails":{"state":"Refunded"}}`), Time: now}); err != nil {
		t.Fatal(err)
	}
	next("refund settled")
	op2 := op
	op2.ID, op2.IdempotencyKey = "op-2", "k2"
	if _, _, err := ops.CreateOperation(ctx, op2, "w"); err != nil {
		t.Fatal(err)
	}
	next("second refund recorded")
	if err := ops.DeleteOperation(ctx, op2.ID, "w"); err != nil {
		t.Fatal(err)
	}
	next("second refund deleted")

	// Follow saw the payment once: its version never changed.
	select {
	case p := <-plain:
		t.Errorf("Follow called again with version %d, want only changes of the payment", p.Version)
	default:
	}
	cancel()
	for range 2 {
		if err := <-errs; err != context.Canceled {
			t.Errorf("watch ended with %v, want context.Canceled", err)
		}
	}
}
