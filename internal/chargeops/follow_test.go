package chargeops_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

var errCrash = errors.New("the process died here")

// crashing is a store whose first transition dies before it commits and
// which can record no operation on its own: the write that used to follow
// a completion's (and was lost to a crash between the two) always fails.
type crashing struct {
	store.Store
	store.Operations
	crashes int
}

func (c *crashing) Transition(ctx context.Context, id string, t payment.Transition) (payment.Payment, bool, error) {
	if c.crashes > 0 {
		c.crashes--
		return payment.Payment{}, false, errCrash
	}
	return c.Store.Transition(ctx, id, t)
}

func (c *crashing) CreateOperation(context.Context, payment.Operation, string) (payment.Operation, bool, error) {
	return payment.Operation{}, false, errCrash
}

// TestFollowUpsSurviveACrash: the merchant reference that follows a
// completion is recorded with it. A crash before the completion commits
// leaves neither (the reconciler's completion records both); a restart
// after it commits finds the reference due; either way Amazon Pay's Update
// Charge Permission is called exactly once, and transitions repeated by
// the reconciler or the tracker add nothing.
func TestFollowUpsSurviveACrash(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		done := f.completed(t, "14.00", "Authorize")
		ps, ok := f.st.(store.Store)
		if !ok {
			t.Fatalf("%T keeps no payments", f.st)
		}
		now := f.clock.Now().UTC()
		if _, _, err := ps.CreateAttempt(ctx, payment.Payment{CheckoutSessionID: done.CheckoutSessionID, OrderID: "order-crash",
			ChargeAmount: usd("14.00"), Outcome: payment.Completing, CreateTime: now, UpdateTime: now, NextCheckTime: now.Add(time.Minute)}, "c1"); err != nil {
			t.Fatal(err)
		}
		cfg := chargeops.Config{Now: f.clock.Now, Logger: quiet, UpstreamTimeout: 10 * time.Second, SetMerchantReference: true}
		crash := &crashing{Store: ps, Operations: f.st, crashes: 1}
		followed := chargeops.New(crash, f.client, cfg).Follow(crash)
		tr := payment.Transition{Outcome: payment.Completed, ChargePermissionID: done.ChargePermissionID, ChargeID: done.ChargeID,
			ChargeState: payment.ChargeAuthorized, Time: now}

		// The completion's write dies: nothing is recorded, nothing is due.
		if _, _, err := followed.Transition(ctx, done.CheckoutSessionID, tr); !errors.Is(err, errCrash) {
			t.Fatalf("first Transition = %v, want the crash", err)
		}
		if ops, err := f.st.ListOperations(ctx, done.ChargePermissionID); err != nil || len(ops) != 0 {
			t.Fatalf("after the crash: %d operations, %v; want none", len(ops), err)
		}
		// The reconciler completes it: the reference commits with it,
		// although the store's own CreateOperation would fail.
		if p, changed, err := followed.Transition(ctx, done.CheckoutSessionID, tr); err != nil || !changed || p.Outcome != payment.Completed {
			t.Fatalf("reconciler's Transition = %s changed %v, %v; want completed", p.Outcome, changed, err)
		}
		// The tracker (or another replica) learns the same again.
		if _, changed, err := followed.Transition(ctx, done.CheckoutSessionID, tr); err != nil || changed {
			t.Fatalf("repeated Transition = changed %v, %v; want unchanged", changed, err)
		}
		// The process dies before its worker ran; the restarted one
		// finds the reference due and sets it.
		restarted := chargeops.New(f.st, f.client, cfg)
		if n, err := restarted.CheckOnce(ctx); err != nil || n != 1 {
			t.Fatalf("CheckOnce after the restart = %d, %v; want 1", n, err)
		}
		if n, err := restarted.CheckOnce(ctx); err != nil || n != 0 {
			t.Fatalf("second CheckOnce = %d, %v; want nothing due", n, err)
		}
		cp, _, err := f.client.GetChargePermission(ctx, done.ChargePermissionID)
		if err != nil {
			t.Fatal(err)
		}
		if cp.MerchantMetadata == nil || cp.MerchantMetadata.MerchantReferenceID != "order-crash" {
			t.Errorf("merchant metadata %+v, want merchantReferenceId order-crash", cp.MerchantMetadata)
		}
		if n := f.calls(t, done.CheckoutSessionID, "UpdateChargePermission"); n != 1 {
			t.Errorf("UpdateChargePermission called %d times, want 1", n)
		}
		// With the reference, the check of the Authorized charge after
		// its authorization's expiry, due then.
		ops, err := f.st.ListOperations(ctx, done.ChargePermissionID)
		kinds := map[payment.OpKind]payment.Operation{}
		for _, op := range ops {
			kinds[op.Kind] = op
		}
		if err != nil || len(ops) != 2 || kinds[payment.OpReference].State != payment.OpDone ||
			kinds[payment.OpExpiry].ObjectID != done.ChargeID || kinds[payment.OpExpiry].NextCheckTime.Before(now.Add(30*24*time.Hour)) {
			t.Errorf("operations %+v, %v; want the reference done and the charge's expiry check due after 30 days", ops, err)
		}
	})
}
