package chargeops_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// refusingClient is the simulator's client, except that every change is
// refused by the client before sending (amazonpay.ErrInvalidRequest).
type refusingClient struct{ chargeops.Amazon }

func refusedBeforeSending(op string) error {
	return fmt.Errorf("%w: %s: bad input", amazonpay.ErrInvalidRequest, op)
}

func (refusingClient) CaptureCharge(context.Context, string, amazonpay.CaptureChargeRequest, ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	return nil, amazonpay.CallInfo{}, refusedBeforeSending("CaptureCharge")
}

func (refusingClient) CancelCharge(context.Context, string, amazonpay.CancelChargeRequest, ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	return nil, amazonpay.CallInfo{}, refusedBeforeSending("CancelCharge")
}

func (refusingClient) CreateRefund(context.Context, amazonpay.CreateRefundRequest, ...amazonpay.CallOption) (*amazonpay.Refund, amazonpay.CallInfo, error) {
	return nil, amazonpay.CallInfo{}, refusedBeforeSending("CreateRefund")
}

func (refusingClient) CreateCharge(context.Context, amazonpay.CreateChargeRequest, ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	return nil, amazonpay.CallInfo{}, refusedBeforeSending("CreateCharge")
}

func (refusingClient) CloseChargePermission(context.Context, string, amazonpay.CloseChargePermissionRequest, ...amazonpay.CallOption) (*amazonpay.ChargePermission, amazonpay.CallInfo, error) {
	return nil, amazonpay.CallInfo{}, refusedBeforeSending("CloseChargePermission")
}

// TestRefusedBeforeSendingIsInvalidArgument: a change the Amazon Pay
// client refuses before sending (a caller mistake, nothing sent) answers
// INVALID_ARGUMENT INVALID_REQUEST in every operation, as in the
// completion (the one failure policy), not INTERNAL AMAZON_PAY_TLS_FAILED,
// which pages an operator about TLS; nothing stays recorded.
func TestRefusedBeforeSendingIsInvalidArgument(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stores()["sqlite"])
	svc := chargeops.New(f.st, refusingClient{f.client}, chargeops.Config{Now: f.clock.Now, Logger: quiet})
	ctx := t.Context()
	auth := f.completed(t, "10.00", "Authorize")
	captured := f.completed(t, "10.00", "AuthorizeWithCapture")
	confirmed := f.completed(t, "10.00", "Confirm")
	for _, tc := range []struct {
		name string
		kind payment.OpKind
		id   string
		call func() error
	}{
		{"capture", payment.OpCapture, chargeops.OperationID(payment.OpCapture, auth.ChargeID, "k"), func() error {
			_, err := svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: auth.ChargeID, Amount: usd("10.00"), IdempotencyKey: "k"})
			return err
		}},
		{"cancel", payment.OpCancel, chargeops.OperationID(payment.OpCancel, auth.ChargeID, ""), func() error {
			_, err := svc.Cancel(ctx, chargeops.CancelRequest{ChargeID: auth.ChargeID})
			return err
		}},
		{"refund", payment.OpRefund, chargeops.OperationID(payment.OpRefund, captured.ChargeID, "k"), func() error {
			_, err := svc.Refund(ctx, chargeops.RefundRequest{ChargeID: captured.ChargeID, Amount: usd("1.00"), IdempotencyKey: "k"})
			return err
		}},
		{"create_charge", payment.OpCharge, chargeops.OperationID(payment.OpCharge, confirmed.ChargePermissionID, "k"), func() error {
			_, err := svc.CreateCharge(ctx, chargeops.ChargeRequest{ChargePermissionID: confirmed.ChargePermissionID, Amount: usd("1.00"), IdempotencyKey: "k"})
			return err
		}},
		{"close", payment.OpClose, chargeops.OperationID(payment.OpClose, auth.ChargePermissionID, ""), func() error {
			_, err := svc.Close(ctx, chargeops.CloseRequest{ChargePermissionID: auth.ChargePermissionID, Reason: "x"})
			return err
		}},
	} {
		err := tc.call()
		if e, ok := completion.AsError(err); !ok || e.Kind != completion.KindInvalid || e.Reason != completion.ReasonInvalidRequest {
			t.Errorf("%s refused before sending: %v; want INVALID_ARGUMENT %s", tc.name, err, completion.ReasonInvalidRequest)
		}
		if _, err := f.st.GetOperation(ctx, tc.id); err == nil {
			t.Errorf("%s refused before sending stays recorded", tc.name)
		}
	}
}
