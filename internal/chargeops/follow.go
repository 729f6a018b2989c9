package chargeops

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// AutoCaptureKey is the idempotency key of the capture the service makes
// by itself with Config.AutoCapture (CaptureCharge with this key answers
// it from the store).
const AutoCaptureKey = "auto-capture"

type referenceArgs struct {
	MerchantReferenceID string `json:"merchantReferenceId"`
}

// Follow wraps the store the completion, the reconciler and the tracker
// record outcomes in: once a payment's outcome becomes completed, the work
// that follows a completion is recorded as due operations, which the
// worker carries out in the background and retries with backoff until
// Amazon Pay has applied them (a failure never undoes the completion):
// the order ID as the charge permission's merchantReferenceId
// (Config.SetMerchantReference) and, with Config.AutoCapture, the capture
// of an Authorized charge in full; otherwise, the read of an Authorized
// charge after its authorization's expiry (see checkExpiry), due then.
// They are recorded in the transaction of the transition to completed
// (payment.Transition.Then), so a crash keeps all or none; with none, the
// payment is still not completed and the reconciler's completion records
// them. Their IDs are derived
// from the object, so each is made once per payment.
func (s *Service) Follow(st store.Store) store.Store {
	return following{Store: st, s: s}
}

type following struct {
	store.Store
	s *Service
}

func (f following) Transition(ctx context.Context, id string, t payment.Transition) (payment.Payment, bool, error) {
	if t.Outcome == payment.Completed && t.Then == nil {
		t.Then = f.s.afterCompletion
	}
	p, changed, err := f.Store.Transition(ctx, id, t)
	if err == nil && changed && p.Outcome == payment.Completed {
		f.s.Wake()
	}
	return p, changed, err
}

// afterCompletion returns the operations that follow p's completion, due
// at once: in flight with a lease that has already expired, so that the
// worker reads the object back before it sends anything.
func (s *Service) afterCompletion(p payment.Payment) []payment.Operation {
	var ops []payment.Operation
	if s.cfg.SetMerchantReference && p.ChargePermissionID != "" && p.OrderID != "" {
		args, _ := json.Marshal(referenceArgs{MerchantReferenceID: p.OrderID})
		ops = append(ops, payment.Operation{ID: OperationID(payment.OpReference, p.ChargePermissionID, ""), Kind: payment.OpReference,
			ObjectID: p.ChargePermissionID, Request: string(args), ChargePermissionID: p.ChargePermissionID})
	}
	if s.cfg.AutoCapture && p.ChargeID != "" && p.ChargeState == payment.ChargeAuthorized {
		args, _ := json.Marshal(amountArgs{Amount: p.ChargeAmount.Amount, Currency: p.ChargeAmount.CurrencyCode})
		ops = append(ops, payment.Operation{ID: OperationID(payment.OpCapture, p.ChargeID, AutoCaptureKey), Kind: payment.OpCapture,
			ObjectID: p.ChargeID, IdempotencyKey: AutoCaptureKey, Request: string(args), ChargePermissionID: p.ChargePermissionID})
	}
	now := s.cfg.Now().UTC()
	for i := range ops {
		ops[i].State = payment.OpSending
		ops[i].CreateTime, ops[i].UpdateTime, ops[i].NextCheckTime = now, now, now
		ops[i].LeaseOwner = checks.Owner(s.cfg.Owner, "follow")
	}
	if !s.cfg.AutoCapture && p.ChargeID != "" && p.ChargeState == payment.ChargeAuthorized {
		// The payment does not keep the charge's expirationTimestamp:
		// the first read reschedules to it.
		ops = append(ops, s.expiryWatch(p.ChargeID, p.ChargePermissionID, time.Time{}))
	}
	for i := range ops {
		// Work on the payment: linked to the call that recorded it.
		ops[i].TraceParent = p.TraceParent
	}
	return ops
}

// settleReference reads the permission and sets the merchantReferenceId if
// it is not set yet.
func (s *Service) settleReference(ctx context.Context, op payment.Operation, owner string) (Result, error) {
	var a referenceArgs
	if err := json.Unmarshal([]byte(op.Request), &a); err != nil {
		return Result{}, fmt.Errorf("chargeops: stored reference arguments: %w", err)
	}
	cp, _, err := s.az.GetChargePermission(ctx, op.ObjectID)
	if err == nil && cp.MerchantMetadata != nil && cp.MerchantMetadata.MerchantReferenceID == a.MerchantReferenceID {
		return s.recordClose(ctx, op, cp, true)
	}
	if err == nil {
		cp, _, err = s.az.UpdateChargePermission(ctx, op.ObjectID, amazonpay.UpdateChargePermissionRequest{
			MerchantMetadata: &amazonpay.MerchantMetadata{MerchantReferenceID: a.MerchantReferenceID}})
	}
	if err != nil {
		s.log.WarnContext(ctx, "could not set the merchant reference; retrying later", "operation_id", op.ID, "error", err.Error())
		return s.markUnknown(ctx, op, owner, completion.RetryDelay(err))
	}
	return s.recordClose(ctx, op, cp, true)
}
