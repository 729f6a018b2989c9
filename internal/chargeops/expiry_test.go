package chargeops_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// TestExpiredAuthorizationIsReadFromAmazon: a charge Authorized by
// CreateCharge and never captured is read once after its authorization's
// expiry, and the state Amazon answers (Canceled, ExpiredUnused) is
// recorded; a charge captured through the service meanwhile is not read
// again (its capture recorded it Captured).
func TestExpiredAuthorizationIsReadFromAmazon(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		done := f.completed(t, "30.00", "Confirm")
		cp, sess := done.ChargePermissionID, done.CheckoutSessionID
		unused, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("10.00"), IdempotencyKey: "shipment-1"})
		if err != nil || unused.Charge.StatusDetails.State != payment.ChargeAuthorized {
			t.Fatalf("CreateCharge = %+v, %v; want Authorized", unused, err)
		}
		used, err := f.svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: cp, Amount: usd("20.00"), IdempotencyKey: "shipment-2"})
		if err != nil || used.Charge.StatusDetails.State != payment.ChargeAuthorized {
			t.Fatalf("CreateCharge = %+v, %v; want Authorized", used, err)
		}
		if res, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: used.Charge.ChargeID, Amount: usd("20.00"), IdempotencyKey: "ship"}); err != nil || res.Outcome != payment.Completed {
			t.Fatalf("Capture = %+v, %v", res, err)
		}

		// Before the expiry nothing is due and nothing is asked.
		reads := f.calls(t, sess, "GetCharge")
		f.clock.Advance(29 * 24 * time.Hour)
		if n, err := f.svc.CheckOnce(ctx); err != nil || n != 0 {
			t.Fatalf("CheckOnce before the expiry = %d, %v; want 0", n, err)
		}
		f.clock.Advance(24*time.Hour + 10*time.Minute)
		if n, err := f.svc.CheckOnce(ctx); err != nil || n != 1 {
			t.Fatalf("CheckOnce after the expiry = %d, %v; want 1", n, err)
		}
		if n := f.calls(t, sess, "GetCharge") - reads; n != 1 {
			t.Errorf("%d Get Charge calls after the expiry, want one, of the charge not captured", n)
		}
		v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: cp, ChargeAmount: usd("30.00")})
		if err != nil || len(v.Charges) != 2 || v.Outstanding != nil || v.Captured == nil || v.Captured.Amount != "20.00" {
			t.Fatalf("view = %+v, %v; want two charges, 20.00 captured, nothing outstanding", v, err)
		}
		for _, ch := range v.Charges {
			want := amazonpay.StatusDetails{State: payment.ChargeCaptured}
			if ch.ChargeID == unused.Charge.ChargeID {
				want = amazonpay.StatusDetails{State: payment.ChargeCanceled, ReasonCode: amazonpay.ReasonExpiredUnused}
			}
			if ch.StatusDetails.State != want.State || ch.StatusDetails.ReasonCode != want.ReasonCode {
				t.Errorf("charge %s: %s/%s, want %s/%s", ch.ChargeID, ch.StatusDetails.State, ch.StatusDetails.ReasonCode, want.State, want.ReasonCode)
			}
		}
		// Recorded once: nothing is due any more.
		f.clock.Advance(24 * time.Hour)
		if n, err := f.svc.CheckOnce(ctx); err != nil || n != 0 {
			t.Errorf("CheckOnce after recording = %d, %v; want 0", n, err)
		}
	})
}

// stillAuthorized answers the first Get Charge of a charge Authorized,
// as Amazon might shortly after the expiry, and then as the simulator.
type stillAuthorized struct {
	*amazonpay.Client
	left atomic.Int32
}

func (c *stillAuthorized) GetCharge(ctx context.Context, id string, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	ch, info, err := c.Client.GetCharge(ctx, id, opts...)
	if err == nil && c.left.Add(-1) >= 0 {
		ch.StatusDetails = amazonpay.StatusDetails{State: payment.ChargeAuthorized}
	}
	return ch, info, err
}

// TestExpiryCheckWhileStillAuthorized: a charge still answered Authorized
// after its expiry is looked at again later, not guessed.
func TestExpiryCheckWhileStillAuthorized(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stores()["sqlite"])
	ctx := t.Context()
	az := &stillAuthorized{Client: f.client}
	svc := chargeops.New(f.st, az, chargeops.Config{Now: f.clock.Now, Logger: quiet, PendingFirst: time.Minute, PendingMax: time.Hour})
	done := f.completed(t, "10.00", "Confirm")
	res, err := svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: done.ChargePermissionID, Amount: usd("10.00"), IdempotencyKey: "k"})
	if err != nil || res.Charge.StatusDetails.State != payment.ChargeAuthorized {
		t.Fatalf("CreateCharge = %+v, %v", res, err)
	}
	id := chargeops.OperationID(payment.OpExpiry, res.Charge.ChargeID, "")
	f.clock.Advance(30*24*time.Hour + 10*time.Minute)
	az.left.Store(1)
	if n, err := svc.CheckOnce(ctx); err != nil || n != 1 {
		t.Fatalf("CheckOnce = %d, %v; want 1", n, err)
	}
	op, err := f.st.GetOperation(ctx, id)
	if err != nil || op.State == payment.OpDone || !op.NextCheckTime.After(f.clock.Now()) || op.CheckAttempts != 1 {
		t.Fatalf("after an Authorized answer: %+v, %v; want rescheduled, not recorded", op, err)
	}
	if n, err := svc.CheckOnce(ctx); err != nil || n != 0 {
		t.Fatalf("CheckOnce before the backoff = %d, %v; want 0", n, err)
	}
	f.clock.Advance(time.Hour)
	if n, err := svc.CheckOnce(ctx); err != nil || n != 1 {
		t.Fatalf("CheckOnce after the backoff = %d, %v; want 1", n, err)
	}
	if op, err := f.st.GetOperation(ctx, id); err != nil || op.State != payment.OpDone || !strings.Contains(string(op.Result), amazonpay.ReasonExpiredUnused) {
		t.Errorf("after Amazon's answer: %+v, %v; want done with ExpiredUnused", op, err)
	}
}

// noAdvance is an operations store whose process dies before it can
// record an operation's result.
type noAdvance struct{ store.Operations }

func (noAdvance) AdvanceOperation(context.Context, string, payment.OpUpdate) (payment.Operation, bool, error) {
	return payment.Operation{}, false, errCrash
}

// TestExpiryCheckSurvivesACrash: the expiry check of a new charge is
// recorded before the charge, so a process that dies between Amazon's
// answer and the charge's write loses neither.
func TestExpiryCheckSurvivesACrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stores()["sqlite"])
	ctx := t.Context()
	done := f.completed(t, "10.00", "Confirm")
	dying := chargeops.New(noAdvance{f.st}, f.client, chargeops.Config{Now: f.clock.Now, Logger: quiet})
	if _, err := dying.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: done.ChargePermissionID, Amount: usd("10.00"), IdempotencyKey: "k"}); err == nil {
		t.Fatal("CreateCharge without a store to write its result succeeded")
	}
	var chargeID string
	ops, err := f.st.ListOperations(ctx, done.ChargePermissionID)
	for _, op := range ops {
		if op.Kind == payment.OpExpiry {
			chargeID = op.ObjectID
		}
	}
	if err != nil || chargeID == "" {
		t.Fatalf("operations after the crash %+v, %v; want the expiry check recorded", ops, err)
	}
	// The restarted process takes the charge over once its lease expires,
	// and the check still comes after the expiry.
	f.clock.Advance(chargeops.DefaultLease + time.Second)
	if n, err := f.svc.CheckOnce(ctx); err != nil || n != 1 {
		t.Fatalf("CheckOnce after the restart = %d, %v; want the charge", n, err)
	}
	f.clock.Advance(30*24*time.Hour + 10*time.Minute)
	if n, err := f.svc.CheckOnce(ctx); err != nil || n != 1 {
		t.Fatalf("CheckOnce after the expiry = %d, %v; want the expiry check", n, err)
	}
	v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: done.ChargePermissionID, ChargeAmount: usd("10.00")})
	if err != nil || len(v.Charges) != 1 || v.Charges[0].ChargeID != chargeID || v.Charges[0].StatusDetails.ReasonCode != amazonpay.ReasonExpiredUnused {
		t.Errorf("view = %+v, %v; want the charge Canceled with ExpiredUnused", v, err)
	}
}
