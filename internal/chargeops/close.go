package chargeops

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// ReasonChargePermissionClosed: the permission is already closed.
const ReasonChargePermissionClosed = completion.ReasonChargePermissionClosed

// CloseRequest is one CloseChargePermission call.
type CloseRequest struct {
	ChargePermissionID   string
	Reason               string
	CancelPendingCharges bool
}

type closeArgs struct {
	Reason               string `json:"reason"`
	CancelPendingCharges bool   `json:"cancelPendingCharges,omitempty"`
}

// Close closes a charge permission once; repeats return the recorded
// closure.
func (s *Service) Close(ctx context.Context, r CloseRequest) (Result, error) {
	switch {
	case r.ChargePermissionID == "":
		return Result{}, invalid("charge_permission_id", "required")
	case r.Reason == "" || len(r.Reason) > 255:
		return Result{}, invalid("closure_reason", "1 to 255 characters required")
	}
	args, _ := json.Marshal(closeArgs{Reason: r.Reason, CancelPendingCharges: r.CancelPendingCharges})
	op := payment.Operation{
		ID: OperationID(payment.OpClose, r.ChargePermissionID, ""), Kind: payment.OpClose,
		ObjectID: r.ChargePermissionID, Request: string(args),
	}
	return s.runOn(ctx, op, func(ctx context.Context) (string, error) {
		cp, _, err := s.az.GetChargePermission(ctx, r.ChargePermissionID)
		if err != nil {
			return "", permissionReadError(err)
		}
		if cp.StatusDetails.State == amazonpay.ChargePermissionStateClosed {
			return "", alreadyClosed(cp, nil)
		}
		return r.ChargePermissionID, nil
	})
}

// alreadyClosed is the answer to a closure of a permission closed
// otherwise: nothing was changed by it.
func alreadyClosed(cp *amazonpay.ChargePermission, cause error) *completion.Error {
	md := map[string]string{"charge_permission_state": cp.StatusDetails.State}
	if len(cp.StatusDetails.Reasons) > 0 {
		md["reason_code"] = cp.StatusDetails.Reasons[0].ReasonCode
	}
	return completion.NewError(completion.KindFailedPrecondition, ReasonChargePermissionClosed,
		"the charge permission is already closed; nothing was changed", cause, md)
}

// closedByMerchant reports whether a Closed permission was closed by a
// Close Charge Permission call: the service makes one per permission (its
// ID is the permission's), so such a closure is the operation's. Amazon's
// own closures (AmazonClosed, Expired, ...) are not.
func closedByMerchant(cp *amazonpay.ChargePermission) bool {
	for _, r := range cp.StatusDetails.Reasons {
		if r.ReasonCode == "MerchantClosed" || r.ReasonCode == "MerchantCanceled" {
			return true
		}
	}
	return false
}

// permissionReadError is the answer to a failed read of a charge
// permission (the check before an operation).
func permissionReadError(err error) error {
	return completion.AmazonReadError(completion.CallGetChargePermission, err)
}

// withoutBuyer keeps what the service records of a charge permission: its
// state, limits and IDs, never the buyer's details or addresses.
func withoutBuyer(cp *amazonpay.ChargePermission) *amazonpay.ChargePermission {
	return &amazonpay.ChargePermission{
		ChargePermissionID:   cp.ChargePermissionID,
		ChargePermissionType: cp.ChargePermissionType,
		Limits:               cp.Limits,
		ReleaseEnvironment:   cp.ReleaseEnvironment,
		MerchantMetadata:     cp.MerchantMetadata,
		PresentmentCurrency:  cp.PresentmentCurrency,
		StatusDetails:        cp.StatusDetails,
		CreationTimestamp:    cp.CreationTimestamp,
		ExpirationTimestamp:  cp.ExpirationTimestamp,
	}
}

// sendClose calls Close Charge Permission for op.
func (s *Service) sendClose(ctx context.Context, op payment.Operation, owner string, check bool) (Result, error) {
	var a closeArgs
	if err := json.Unmarshal([]byte(op.Request), &a); err != nil {
		return Result{}, fmt.Errorf("chargeops: stored close arguments: %w", err)
	}
	cp, info, err := s.az.CloseChargePermission(ctx, op.ObjectID, amazonpay.CloseChargePermissionRequest{
		ClosureReason: a.Reason, CancelPendingCharges: a.CancelPendingCharges})
	s.log.InfoContext(ctx, "amazon pay close charge permission", "object_id", op.ObjectID, "operation_id", op.ID,
		"status", info.StatusCode, "amazon_request_id", info.RequestID, "attempts", info.Attempts, "error", errString(err))
	if err == nil {
		return s.recordClose(ctx, op, cp, check)
	}
	f := amazonpay.Classify(err)
	if d := completion.AmazonFailure(completion.CallClose, f, err); d.Step != completion.StepReadBack {
		return s.withdraw(ctx, op, owner, d.Err)
	}
	// Applied, by this closure's lost attempt or not: the permission tells.
	return s.readBackClose(ctx, op, owner, check, err, f, false)
}

// readBackClose reads the permission after a failed or lost closure; as
// readBack for charges.
func (s *Service) readBackClose(ctx context.Context, op payment.Operation, owner string, check bool, cause error, f amazonpay.Failure, resend bool) (Result, error) {
	cp, info, err := s.az.GetChargePermission(ctx, op.ObjectID)
	if err != nil {
		s.log.WarnContext(ctx, "charge permission unreadable after a closure; outcome unknown", "operation_id", op.ID,
			"amazon_request_id", info.RequestID, "error", err.Error())
		return s.markUnknown(ctx, op, owner, max(completion.RetryDelay(err), completion.RetryDelay(cause)))
	}
	if cp.StatusDetails.State == amazonpay.ChargePermissionStateClosed {
		if closedByMerchant(cp) {
			return s.recordClose(ctx, op, cp, check)
		}
		// Closed, but not by this closure (Amazon closed it after the
		// order total was captured, it expired, the buyer closed it):
		// that closure is not this operation's.
		return s.withdraw(ctx, op, owner, alreadyClosed(cp, cause))
	}
	switch {
	case resend:
		return s.sendClose(ctx, op, owner, check)
	case cause != nil && f.AfterReadBack(amazonpay.ReadBackNotApplied) == amazonpay.StepNotApplied:
		return s.withdraw(ctx, op, owner, unavailable(cause, f))
	default:
		return s.markUnknown(ctx, op, owner, completion.RetryDelay(cause))
	}
}

func (s *Service) recordClose(ctx context.Context, op payment.Operation, cp *amazonpay.ChargePermission, check bool) (Result, error) {
	body, err := json.Marshal(withoutBuyer(cp))
	if err != nil {
		return Result{}, err
	}
	if op.Kind == payment.OpClose {
		// The canceled charges are made due before the closure is
		// recorded, and it is not recorded unless they all are (the store
		// unavailable): a process killed between the writes, or a failed
		// write, leaves the closure unsettled, and its next check makes
		// them due again. The other way round, the charges Amazon canceled
		// would stay Authorized in the payment until their expiry.
		var a closeArgs
		if json.Unmarshal([]byte(op.Request), &a) == nil && a.CancelPendingCharges {
			if err := s.recheckCharges(ctx, op.ObjectID); err != nil {
				s.log.WarnContext(ctx, "closure not recorded: the charges it canceled could not all be made due; checked again later",
					"operation_id", op.ID, "error", err.Error())
				return Result{}, storeError(err)
			}
		}
	}
	return s.advance(ctx, op, payment.OpUpdate{State: payment.OpDone, Result: body, Time: s.cfg.Now().UTC(), Checked: check})
}
