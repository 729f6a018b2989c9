package chargeops_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// diesAfterClosure is the store as seen by a process that dies right
// after it recorded a closure done: the write is made, and none after it.
type diesAfterClosure struct {
	opStore
	died atomic.Bool
}

var errKilled = errors.New("the process was killed")

func (d *diesAfterClosure) AdvanceOperation(ctx context.Context, id string, u payment.OpUpdate) (payment.Operation, bool, error) {
	if d.died.Load() {
		return payment.Operation{}, false, errKilled
	}
	op, changed, err := d.opStore.AdvanceOperation(ctx, id, u)
	if err == nil && op.Kind == payment.OpClose && u.State == payment.OpDone {
		d.died.Store(true)
		return payment.Operation{}, false, errKilled
	}
	return op, changed, err
}

func (d *diesAfterClosure) ListOperations(ctx context.Context, chargePermissionID string) ([]payment.Operation, error) {
	if d.died.Load() {
		return nil, errKilled
	}
	return d.opStore.ListOperations(ctx, chargePermissionID)
}

// TestCloseKilledAfterRecording: a process killed right after it recorded
// a closure with cancel_pending_charges done (found by the money chaos
// test, SIGKILL in a loop): the charges Amazon canceled are still read
// back by the worker, so the payment does not keep them Authorized until
// their expiry.
func TestCloseKilledAfterRecording(t *testing.T) {
	t.Parallel()
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := open(t)
			f := newFixture(t, func(t *testing.T) opStore { return &diesAfterClosure{opStore: base} })
			// The next process, on the same database.
			next := chargeops.New(base, f.client, chargeops.Config{Now: f.clock.Now, Logger: quiet, UpstreamTimeout: 10 * time.Second, WaitRecheck: 10 * time.Millisecond})
			ctx := t.Context()
			done := f.completed(t, "30.00", "Confirm")
			cp := done.ChargePermissionID
			res, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("30.00"), IdempotencyKey: "ship"})
			if err != nil || res.Outcome != payment.Completed {
				t.Fatalf("CreateCharge = %+v, %v", res, err)
			}
			if _, err := f.svc.Close(ctx, chargeops.CloseRequest{ChargePermissionID: cp, Reason: "order canceled", CancelPendingCharges: true}); err == nil {
				t.Fatal("the closure's process was killed, yet Close answered")
			}
			for range 2 {
				f.clock.Advance(time.Minute)
				if _, err := next.CheckOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
			v, err := next.ViewOf(ctx, payment.Payment{ChargePermissionID: cp, ChargeAmount: usd("30.00")})
			if err != nil || len(v.Charges) != 1 || v.Charges[0].StatusDetails.State != payment.ChargeCanceled || v.Unsettled != 0 {
				t.Fatalf("view after the worker = %+v, %v; want the charge Canceled, nothing unsettled", v, err)
			}
			f.sameAsAmazon(t, v)
		})
	}
}

// cutDuringClosure is a store that cannot be reached once, when the
// closure lists the charges it canceled.
type cutDuringClosure struct {
	opStore
	armed atomic.Bool
}

func (c *cutDuringClosure) ListOperations(ctx context.Context, chargePermissionID string) ([]payment.Operation, error) {
	if c.armed.CompareAndSwap(true, false) {
		return nil, errors.New("store: unavailable: connection refused")
	}
	return c.opStore.ListOperations(ctx, chargePermissionID)
}

// TestCloseWithStoreCutAfterAmazon: the store cannot be reached when a
// closure with cancel_pending_charges, applied by Amazon, lists the
// charges it canceled (found by the money chaos test, PostgreSQL cut
// under two replicas). The closure is not recorded done as if they were
// followed: its next check makes them due, and the payment shows them
// canceled, as Amazon does.
func TestCloseWithStoreCutAfterAmazon(t *testing.T) {
	t.Parallel()
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cut := &cutDuringClosure{}
			f := newFixture(t, func(t *testing.T) opStore { cut.opStore = open(t); return cut })
			ctx := t.Context()
			done := f.completed(t, "30.00", "Confirm")
			cp := done.ChargePermissionID
			res, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("30.00"), IdempotencyKey: "ship"})
			if err != nil || res.Outcome != payment.Completed {
				t.Fatalf("CreateCharge = %+v, %v", res, err)
			}
			cut.armed.Store(true)
			_, _ = f.svc.Close(ctx, chargeops.CloseRequest{ChargePermissionID: cp, Reason: "order canceled", CancelPendingCharges: true})
			f.settle(t, chargeops.DefaultLease, 2) // the caller's lease expires, then the closure and the charge are checked
			v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: cp, ChargeAmount: usd("30.00")})
			if err != nil || len(v.Charges) != 1 || v.Charges[0].StatusDetails.State != payment.ChargeCanceled || v.Unsettled != 0 {
				ops, _ := f.st.ListOperations(ctx, cp)
				for _, o := range ops {
					t.Logf("op %s %s next %v", o.Kind, o.State, o.NextCheckTime.Sub(f.clock.Now()))
				}
				t.Fatalf("view after the worker = %+v, %v; want the charge Canceled, nothing unsettled", v, err)
			}
			f.sameAsAmazon(t, v)
			if res, err := f.svc.Close(ctx, chargeops.CloseRequest{ChargePermissionID: cp, Reason: "order canceled", CancelPendingCharges: true}); err != nil || res.Outcome != payment.Completed {
				t.Errorf("the storefront's retry of the closure = %+v, %v; want it completed", res, err)
			}
		})
	}
}
