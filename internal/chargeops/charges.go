package chargeops

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// Create Charge reasons.
const (
	ReasonChargePermissionNotChargeable = completion.ReasonChargePermissionNotChargeable
	ReasonChargeAmountExceeded          = completion.ReasonChargeAmountExceeded
	ReasonChargeCountExceeded           = completion.ReasonChargeCountExceeded
)

// ChargeRequest is one CreateCharge call.
type ChargeRequest struct {
	ChargePermissionID string
	Amount             payment.Money
	CaptureNow         bool
	IdempotencyKey     string
	SoftDescriptor     string
}

type chargeArgs struct {
	Amount         string `json:"amount"`
	Currency       string `json:"currency"`
	CaptureNow     bool   `json:"captureNow,omitempty"`
	SoftDescriptor string `json:"softDescriptor,omitempty"`
}

// CreateCharge authorizes (and with CaptureNow captures) a new charge on a
// charge permission exactly once per idempotency key. A declined
// authorization is a result (Outcome Declined, the charge's reason code
// SoftDeclined, HardDeclined, ...), not an error.
func (s *Service) CreateCharge(ctx context.Context, r ChargeRequest) (Result, error) {
	switch {
	case r.ChargePermissionID == "":
		return Result{}, invalid("charge_permission_id", "required")
	case !validKey(r.IdempotencyKey):
		return Result{}, invalid("idempotency_key", "1 to 64 printable ASCII characters required")
	case len(r.SoftDescriptor) > 16:
		return Result{}, invalid("soft_descriptor", "at most 16 characters")
	}
	if err := r.Amount.Validate(); err != nil {
		return Result{}, invalid("charge_amount", err.Error())
	}
	args, _ := json.Marshal(chargeArgs{Amount: r.Amount.Amount, Currency: r.Amount.CurrencyCode, CaptureNow: r.CaptureNow, SoftDescriptor: r.SoftDescriptor})
	op := payment.Operation{
		ID: OperationID(payment.OpCharge, r.ChargePermissionID, r.IdempotencyKey), Kind: payment.OpCharge,
		ObjectID: r.ChargePermissionID, IdempotencyKey: r.IdempotencyKey, Request: string(args),
	}
	return s.runOn(ctx, op, func(ctx context.Context) (string, error) {
		cp, _, err := s.az.GetChargePermission(ctx, r.ChargePermissionID)
		if err != nil {
			return "", permissionReadError(err)
		}
		return r.ChargePermissionID, chargeable(cp, r.Amount)
	})
}

// chargeable applies Amazon's rules for a new charge to the permission as
// read: Chargeable, in its currency, within its balance.
func chargeable(cp *amazonpay.ChargePermission, amount payment.Money) error {
	if st := cp.StatusDetails.State; st != amazonpay.ChargePermissionStateChargeable {
		md := map[string]string{"charge_permission_state": st}
		if len(cp.StatusDetails.Reasons) > 0 {
			md["reason_code"] = cp.StatusDetails.Reasons[0].ReasonCode
		}
		return completion.NewError(completion.KindFailedPrecondition, ReasonChargePermissionNotChargeable,
			"the charge permission is "+st+"; no charge can be created on it; nothing was sent", nil, md)
	}
	if l := cp.Limits; l != nil && l.AmountBalance != nil && l.AmountBalance.Amount != "" {
		balance := money(l.AmountBalance)
		if balance.CurrencyCode != amount.CurrencyCode {
			return completion.NewError(completion.KindFailedPrecondition, completion.ReasonCurrencyMismatch,
				"the charge's currency differs from the charge permission's ("+balance.CurrencyCode+"); nothing was sent", nil,
				map[string]string{"charge_permission_currency": balance.CurrencyCode})
		}
		if c, ok := payment.Compare(amount, balance); ok && c > 0 {
			return completion.NewError(completion.KindFailedPrecondition, ReasonChargeAmountExceeded,
				"the amount is above what the charge permission has left ("+balance.Amount+" "+balance.CurrencyCode+"); nothing was sent", nil,
				map[string]string{"amount_balance": balance.Amount})
		}
	}
	return nil
}

// sendCharge calls Create Charge for op with its key; retry as in
// sendRefund: the same key makes Amazon answer with what it did before.
func (s *Service) sendCharge(ctx context.Context, op payment.Operation, owner string, check, retry bool) (Result, error) {
	var a chargeArgs
	if err := json.Unmarshal([]byte(op.Request), &a); err != nil {
		return Result{}, fmt.Errorf("chargeops: stored charge arguments: %w", err)
	}
	ch, info, err := s.az.CreateCharge(ctx, amazonpay.CreateChargeRequest{
		ChargePermissionID: op.ObjectID, ChargeAmount: amazonpay.Price{Amount: a.Amount, CurrencyCode: a.Currency},
		CaptureNow: a.CaptureNow, SoftDescriptor: a.SoftDescriptor, CanHandlePendingAuthorization: true,
	}, amazonpay.WithIdempotencyKey(op.ID))
	s.log.InfoContext(ctx, "amazon pay create charge", "object_id", op.ObjectID, "operation_id", op.ID,
		"status", info.StatusCode, "amazon_request_id", info.RequestID, "attempts", info.Attempts, "error", errString(err))
	if err == nil {
		return s.record(ctx, op, ch, check)
	}
	f := amazonpay.Classify(err)
	switch d := completion.AmazonFailure(completion.CallCreateCharge, f, err); {
	case d.Step == completion.StepDeclined:
		// Amazon created the charge and declined it: a result.
		declined := &amazonpay.Charge{ChargePermissionID: op.ObjectID,
			ChargeAmount: &amazonpay.Price{Amount: a.Amount, CurrencyCode: a.Currency}}
		declined.StatusDetails.State = payment.ChargeDeclined
		declined.StatusDetails.ReasonCode = f.ReasonCode
		return s.record(ctx, op, declined, check)
	case d.Step == completion.StepRefused:
		return s.withdraw(ctx, op, owner, d.Err)
	case d.Step == completion.StepNotApplied && !retry:
		return s.withdraw(ctx, op, owner, d.Err)
	}
	if !retry {
		return s.sendCharge(ctx, op, owner, check, true)
	}
	s.log.WarnContext(ctx, "create charge outcome unknown", "operation_id", op.ID, "error", err.Error())
	return s.markUnknown(ctx, op, owner, completion.RetryDelay(err))
}

// pendingCharge reports whether a charge state is one the service tracks
// until Amazon settles it.
func pendingCharge(state string) bool {
	return state == payment.ChargeCaptureInitiated || state == payment.ChargeAuthorizationInitiated
}
