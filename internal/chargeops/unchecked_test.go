package chargeops_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// TestUncheckedOperationIsWithdrawn: a process that recorded a refund and
// died during the check before sending (SIGKILL while reading the charge)
// leaves it in flight and bound to no charge permission. The worker that
// takes it over must not send it: its refund would be shown on no payment
// (found by the money chaos test). It withdraws it, Amazon gets no call,
// and the storefront's retry records and sends it, shown on the payment.
func TestUncheckedOperationIsWithdrawn(t *testing.T) {
	t.Parallel()
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			ctx := t.Context()
			done := f.completed(t, "20.00", "AuthorizeWithCapture")
			args, _ := json.Marshal(map[string]string{"amount": "5.00", "currency": "USD"})
			now := f.clock.Now().UTC()
			op := payment.Operation{
				ID: chargeops.OperationID(payment.OpRefund, done.ChargeID, "cm-1"), Kind: payment.OpRefund,
				ObjectID: done.ChargeID, IdempotencyKey: "cm-1", Request: string(args), State: payment.OpSending,
				CreateTime: now, UpdateTime: now, NextCheckTime: now.Add(time.Second),
			}
			if _, created, err := f.st.CreateOperation(ctx, op, "dead-process"); err != nil || !created {
				t.Fatalf("CreateOperation = %v, %v", created, err)
			}
			f.clock.Advance(time.Minute) // the dead process's lease expires
			if n, err := f.svc.CheckOnce(ctx); err != nil || n != 1 {
				t.Fatalf("CheckOnce = %d, %v; want 1", n, err)
			}
			if got, err := f.st.GetOperation(ctx, op.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the unchecked refund is still recorded: %+v, %v; want it withdrawn", got, err)
			}
			if n := f.calls(t, done.CheckoutSessionID, "CreateRefund"); n != 0 {
				t.Errorf("the worker sent the unchecked refund: %d CreateRefund calls, want 0", n)
			}

			res, err := f.svc.Refund(ctx, chargeops.RefundRequest{ChargeID: done.ChargeID, Amount: usd("5.00"), IdempotencyKey: "cm-1"})
			if err != nil || res.Outcome != payment.Pending {
				t.Fatalf("the storefront's retry = %+v, %v; want the refund pending", res, err)
			}
			ops, err := f.st.ListOperations(ctx, done.ChargePermissionID)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, o := range ops {
				found = found || o.ID == op.ID
			}
			if !found {
				t.Errorf("the retried refund is not among the payment's operations: %+v", ops)
			}
			if n := f.calls(t, done.CheckoutSessionID, "CreateRefund"); n != 1 {
				t.Errorf("%d CreateRefund calls after the retry, want 1", n)
			}
		})
	}
}
