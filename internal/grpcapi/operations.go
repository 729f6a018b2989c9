package grpcapi

import (
	"context"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// Operator captures and cancels charges and shows a payment's money.
type Operator interface {
	Capture(ctx context.Context, r chargeops.CaptureRequest) (chargeops.Result, error)
	Cancel(ctx context.Context, r chargeops.CancelRequest) (chargeops.Result, error)
	Refund(ctx context.Context, r chargeops.RefundRequest) (chargeops.Result, error)
	CreateCharge(ctx context.Context, r chargeops.ChargeRequest) (chargeops.Result, error)
	Close(ctx context.Context, r chargeops.CloseRequest) (chargeops.Result, error)
	GetRefund(ctx context.Context, refundID string) (*amazonpay.Refund, error)
	ViewOf(ctx context.Context, p payment.Payment) (chargeops.View, error)
}

// CreateCharge implements the RPC.
func (s *Server) CreateCharge(ctx context.Context, req *pb.CreateChargeRequest) (*pb.CreateChargeResponse, error) {
	res, err := s.d.Operator.CreateCharge(ctx, chargeops.ChargeRequest{
		ChargePermissionID: req.GetChargePermissionId(),
		Amount:             moneyFromProto(req.GetChargeAmount()),
		CaptureNow:         req.GetCaptureNow(),
		IdempotencyKey:     req.GetIdempotencyKey(),
		SoftDescriptor:     req.GetSoftDescriptor(),
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	out := &pb.CreateChargeResponse{Outcome: outcomes[res.Outcome]}
	if res.Charge != nil {
		out.Charge = chargeToProto(res.Charge)
		if res.Outcome == payment.Declined {
			out.ReasonCode = res.Charge.StatusDetails.ReasonCode
		}
	}
	return out, nil
}

// CloseChargePermission implements the RPC.
func (s *Server) CloseChargePermission(ctx context.Context, req *pb.CloseChargePermissionRequest) (*pb.CloseChargePermissionResponse, error) {
	res, err := s.d.Operator.Close(ctx, chargeops.CloseRequest{
		ChargePermissionID:   req.GetChargePermissionId(),
		Reason:               req.GetClosureReason(),
		CancelPendingCharges: req.GetCancelPendingCharges(),
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	out := &pb.CloseChargePermissionResponse{Outcome: outcomes[res.Outcome]}
	if res.ChargePermission != nil {
		out.ChargePermission = chargePermissionToProto(res.ChargePermission)
	}
	return out, nil
}

// RefundCharge implements the RPC.
func (s *Server) RefundCharge(ctx context.Context, req *pb.RefundChargeRequest) (*pb.RefundChargeResponse, error) {
	res, err := s.d.Operator.Refund(ctx, chargeops.RefundRequest{
		ChargeID:       req.GetChargeId(),
		Amount:         moneyFromProto(req.GetRefundAmount()),
		IdempotencyKey: req.GetIdempotencyKey(),
		SoftDescriptor: req.GetSoftDescriptor(),
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	out := &pb.RefundChargeResponse{Outcome: outcomes[res.Outcome]}
	if res.Refund != nil {
		out.Refund = refundToProto(res.Refund)
	}
	return out, nil
}

// GetRefund implements the RPC.
func (s *Server) GetRefund(ctx context.Context, req *pb.GetRefundRequest) (*pb.GetRefundResponse, error) {
	rf, err := s.d.Operator.GetRefund(ctx, req.GetRefundId())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.GetRefundResponse{Refund: refundToProto(rf)}, nil
}

var refundStates = map[string]pb.RefundState{
	amazonpay.RefundStateInitiated: pb.RefundState_REFUND_STATE_REFUND_INITIATED,
	amazonpay.RefundStateRefunded:  pb.RefundState_REFUND_STATE_REFUNDED,
	amazonpay.RefundStateDeclined:  pb.RefundState_REFUND_STATE_DECLINED,
}

func refundToProto(r *amazonpay.Refund) *pb.Refund {
	return &pb.Refund{
		RefundId:          r.RefundID,
		ChargeId:          r.ChargeID,
		RefundAmount:      priceToProto(r.RefundAmount),
		State:             refundStates[r.StatusDetails.State],
		ReasonCode:        r.StatusDetails.ReasonCode,
		ReasonDescription: r.StatusDetails.ReasonDescription,
		SoftDescriptor:    r.SoftDescriptor,
		CreateTime:        timeToProto(r.CreationTimestamp.Time),
		StateUpdateTime:   timeToProto(r.StatusDetails.LastUpdatedTimestamp.Time),
	}
}

// CaptureCharge implements the RPC.
func (s *Server) CaptureCharge(ctx context.Context, req *pb.CaptureChargeRequest) (*pb.CaptureChargeResponse, error) {
	res, err := s.d.Operator.Capture(ctx, chargeops.CaptureRequest{
		ChargeID:       req.GetChargeId(),
		Amount:         moneyFromProto(req.GetCaptureAmount()),
		IdempotencyKey: req.GetIdempotencyKey(),
		SoftDescriptor: req.GetSoftDescriptor(),
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	out := &pb.CaptureChargeResponse{Outcome: outcomes[res.Outcome]}
	if res.Charge != nil {
		out.Charge = chargeToProto(res.Charge)
	}
	return out, nil
}

// CancelCharge implements the RPC.
func (s *Server) CancelCharge(ctx context.Context, req *pb.CancelChargeRequest) (*pb.CancelChargeResponse, error) {
	res, err := s.d.Operator.Cancel(ctx, chargeops.CancelRequest{ChargeID: req.GetChargeId(), Reason: req.GetCancellationReason()})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	out := &pb.CancelChargeResponse{Outcome: outcomes[res.Outcome]}
	if res.Charge != nil {
		out.Charge = chargeToProto(res.Charge)
	}
	return out, nil
}

// paymentWithMoney is paymentToProto with the payment's charges and
// amounts.
func (s *Server) paymentWithMoney(ctx context.Context, p payment.Payment) (*pb.Payment, error) {
	out, _, err := s.paymentView(ctx, p)
	return out, err
}

// paymentView is paymentWithMoney, and how many operations on the payment
// are still unsettled.
func (s *Server) paymentView(ctx context.Context, p payment.Payment) (*pb.Payment, int, error) {
	out := paymentToProto(p, s.d.Mode)
	if s.d.Operator == nil {
		return out, 0, nil
	}
	v, err := s.d.Operator.ViewOf(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	for i := range v.Charges {
		ch := chargeToProto(&v.Charges[i])
		out.Charges = append(out.Charges, ch)
		// charge_state is the last state learned, also from a capture or
		// cancellation of the completion's charge made afterwards.
		if ch.GetChargeId() == out.GetChargeId() && ch.GetState() != pb.ChargeState_CHARGE_STATE_UNSPECIFIED {
			out.ChargeState = ch.GetState()
		}
	}
	for i := range v.Refunds {
		out.Refunds = append(out.Refunds, refundToProto(&v.Refunds[i]))
	}
	if v.Captured != nil {
		out.CapturedAmount = moneyToProto(*v.Captured)
	}
	if v.Refunded != nil {
		out.RefundedAmount = moneyToProto(*v.Refunded)
	}
	if v.Outstanding != nil {
		out.OutstandingAmount = moneyToProto(*v.Outstanding)
	}
	return out, v.Unsettled, nil
}
