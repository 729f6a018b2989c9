package grpcapi

import (
	"context"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// Operator captures and cancels charges and shows a payment's money.
type Operator interface {
	Capture(ctx context.Context, r chargeops.CaptureRequest) (chargeops.Result, error)
	Cancel(ctx context.Context, r chargeops.CancelRequest) (chargeops.Result, error)
	ViewOf(ctx context.Context, p payment.Payment) (chargeops.View, error)
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
	out := paymentToProto(p)
	if s.d.Operator == nil {
		return out, nil
	}
	v, err := s.d.Operator.ViewOf(ctx, p)
	if err != nil {
		return nil, err
	}
	for i := range v.Charges {
		out.Charges = append(out.Charges, chargeToProto(&v.Charges[i]))
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
	return out, nil
}
