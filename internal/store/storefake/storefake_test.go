package storefake_test

import (
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storefake"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) store.Store { return storefake.New() })
}

// TestTransitionRefusesFollowUps: the fake keeps no operations, so a
// transition that operations must follow fails and changes nothing rather
// than dropping them.
func TestTransitionRefusesFollowUps(t *testing.T) {
	t.Parallel()
	f := storefake.New()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Put(payment.Payment{CheckoutSessionID: "cs-1", OrderID: "o-1", Outcome: payment.Completing, CreateTime: now, UpdateTime: now, NextCheckTime: now.Add(time.Minute), Version: 1})
	tr := payment.Transition{Outcome: payment.Completed, Time: now,
		Then: func(payment.Payment) []payment.Operation { return []payment.Operation{{ID: "op-1"}} }}
	if _, _, err := f.Transition(t.Context(), "cs-1", tr); err == nil {
		t.Fatal("Transition with operations to follow succeeded")
	}
	if p, _ := f.Row("cs-1"); p.Outcome != payment.Completing {
		t.Errorf("outcome %s, want %s (unchanged)", p.Outcome, payment.Completing)
	}
	tr.Then = func(payment.Payment) []payment.Operation { return nil }
	if p, changed, err := f.Transition(t.Context(), "cs-1", tr); err != nil || !changed || p.Outcome != payment.Completed {
		t.Errorf("Transition with nothing to follow = %s changed %v, %v; want completed", p.Outcome, changed, err)
	}
}
