// Package grpcapi implements paymentcompletion.v1.PaymentCompletionService:
// it translates between the proto contract and the domain, and decides the
// gRPC status of every domain error in one place (status.go).
package grpcapi

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/listing"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// Completer completes checkouts and reads stored payments.
type Completer interface {
	Complete(ctx context.Context, req completion.Request) (payment.Payment, error)
	Get(ctx context.Context, checkoutSessionID string) (payment.Payment, error)
	GetByOrder(ctx context.Context, orderID string) (payment.Payment, error)
	// Watch calls fn with the stored payment, then after each change, until
	// fn returns false or fails (its error is returned as is).
	Watch(ctx context.Context, checkoutSessionID string, fn func(payment.Payment) (more bool, err error)) error
}

// AmazonReader reads live objects from Amazon Pay.
type AmazonReader interface {
	GetCharge(ctx context.Context, chargeID string, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error)
	GetChargePermission(ctx context.Context, chargePermissionID string, opts ...amazonpay.CallOption) (*amazonpay.ChargePermission, amazonpay.CallInfo, error)
}

// Lister lists stored payments.
type Lister interface {
	List(ctx context.Context, q listing.Query) (listing.Page, error)
}

// Deps are the server's collaborators.
type Deps struct {
	Completer Completer
	Amazon    AmazonReader
	Lister    Lister
	// Operator serves CaptureCharge and CancelCharge and the money shown
	// on payments.
	Operator Operator
	Logger   *slog.Logger
	// Mode is the Amazon Pay environment set on every Payment answered,
	// so a storefront can refuse to ship what was not paid for real.
	Mode pb.AmazonPayMode
}

// Server implements pb.PaymentCompletionServiceServer.
type Server struct {
	pb.UnimplementedPaymentCompletionServiceServer
	d Deps
}

var _ pb.PaymentCompletionServiceServer = (*Server)(nil)

// NewServer returns the service implementation.
func NewServer(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Server{d: d}
}

// CompleteCheckout implements the RPC.
func (s *Server) CompleteCheckout(ctx context.Context, req *pb.CompleteCheckoutRequest) (*pb.CompleteCheckoutResponse, error) {
	r := completion.Request{
		CheckoutSessionID: req.GetCheckoutSessionId(),
		OrderID:           req.GetOrderId(),
		ChargeAmount:      moneyFromProto(req.GetChargeAmount()),
	}
	if req.TotalOrderAmount != nil {
		m := moneyFromProto(req.GetTotalOrderAmount())
		r.TotalOrderAmount = &m
	}
	p, err := s.d.Completer.Complete(ctx, r)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	out, err := s.paymentWithMoney(ctx, p)
	if err != nil {
		// The completion is recorded; its money view can be read later.
		out = paymentToProto(p, s.d.Mode)
	}
	return &pb.CompleteCheckoutResponse{Payment: out}, nil
}

// GetPayment implements the RPC.
func (s *Server) GetPayment(ctx context.Context, req *pb.GetPaymentRequest) (*pb.GetPaymentResponse, error) {
	var (
		p   payment.Payment
		err error
	)
	switch key := req.GetKey().(type) {
	case *pb.GetPaymentRequest_CheckoutSessionId:
		p, err = s.d.Completer.Get(ctx, key.CheckoutSessionId)
	case *pb.GetPaymentRequest_OrderId:
		p, err = s.d.Completer.GetByOrder(ctx, key.OrderId)
	default:
		err = completion.NewError(completion.KindInvalid, completion.ReasonInvalidRequest, "checkout_session_id or order_id is required", nil, nil)
	}
	if err != nil {
		return nil, s.status(ctx, err)
	}
	out, err := s.paymentWithMoney(ctx, p)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.GetPaymentResponse{Payment: out}, nil
}

// WatchPayment implements the RPC: the current payment first, then each
// change of it or of its operations, ending once nothing on it can change
// by itself (a final outcome and every operation settled).
func (s *Server) WatchPayment(req *pb.WatchPaymentRequest, stream pb.PaymentCompletionService_WatchPaymentServer) error {
	ctx := stream.Context()
	var last *pb.Payment
	err := s.d.Completer.Watch(ctx, req.GetCheckoutSessionId(), func(p payment.Payment) (bool, error) {
		out, unsettled, err := s.paymentView(ctx, p)
		if err != nil {
			return false, err
		}
		more := !p.Outcome.Final() || unsettled > 0
		// Watch re-reads on every notification and recheck; only what
		// the caller can tell apart is sent. A view equal to the last one
		// sent has been seen already, also when it is the final one.
		if last != nil && proto.Equal(last, out) {
			return more, nil
		}
		last = out
		if err := stream.Send(&pb.WatchPaymentResponse{Payment: out}); err != nil {
			return false, err
		}
		return more, nil
	})
	if err != nil {
		return s.status(ctx, err)
	}
	return nil
}

// GetCharge implements the RPC.
func (s *Server) GetCharge(ctx context.Context, req *pb.GetChargeRequest) (*pb.GetChargeResponse, error) {
	c, info, err := s.d.Amazon.GetCharge(ctx, req.GetChargeId())
	if err != nil {
		return nil, s.status(ctx, amazonReadError(err, completion.CallGetCharge))
	}
	s.d.Logger.DebugContext(ctx, "amazon pay get charge", "charge_id", c.ChargeID, "amazon_request_id", info.RequestID, "attempts", info.Attempts)
	return &pb.GetChargeResponse{Charge: chargeToProto(c)}, nil
}

// GetChargePermission implements the RPC. The response carries buyer PII
// to the caller; nothing of it is logged.
func (s *Server) GetChargePermission(ctx context.Context, req *pb.GetChargePermissionRequest) (*pb.GetChargePermissionResponse, error) {
	cp, info, err := s.d.Amazon.GetChargePermission(ctx, req.GetChargePermissionId())
	if err != nil {
		return nil, s.status(ctx, amazonReadError(err, completion.CallGetChargePermission))
	}
	s.d.Logger.DebugContext(ctx, "amazon pay get charge permission", "charge_permission_id", cp.ChargePermissionID, "amazon_request_id", info.RequestID, "attempts", info.Attempts)
	return &pb.GetChargePermissionResponse{ChargePermission: chargePermissionToProto(cp)}, nil
}

// ListPayments implements the RPC.
func (s *Server) ListPayments(ctx context.Context, req *pb.ListPaymentsRequest) (*pb.ListPaymentsResponse, error) {
	q := listing.Query{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}
	for _, o := range req.GetOutcomes() {
		ds, ok := outcomesFromProto[o]
		if !ok {
			return nil, s.status(ctx, &completion.Error{Kind: completion.KindInvalid, Reason: completion.ReasonInvalidRequest,
				Message: "outcomes: " + o.String() + " is not an outcome to list by", Field: "outcomes"})
		}
		q.Outcomes = append(q.Outcomes, ds...)
	}
	for _, b := range []struct {
		field string
		ts    *timestamppb.Timestamp
		to    *time.Time
	}{
		{"create_time_start", req.GetCreateTimeStart(), &q.CreatedFrom},
		{"create_time_end", req.GetCreateTimeEnd(), &q.CreatedBefore},
	} {
		if b.ts == nil {
			continue
		}
		// Outside years 1 to 9999 (or with nanos out of range) a
		// timestamp is no time the store can compare.
		if err := b.ts.CheckValid(); err != nil {
			return nil, s.status(ctx, &completion.Error{Kind: completion.KindInvalid, Reason: completion.ReasonInvalidRequest,
				Message: b.field + " is not a valid timestamp (years 1 to 9999, nanos 0 to 999999999)", Field: b.field, Err: err})
		}
		*b.to = b.ts.AsTime()
	}
	if req.GetOperationsNeedAttention() {
		q.UnknownOperationsBefore = time.Now().Add(-chargeops.UnknownBudget)
	}
	page, err := s.d.Lister.List(ctx, q)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	resp := &pb.ListPaymentsResponse{Payments: make([]*pb.Payment, len(page.Payments)), NextPageToken: page.NextPageToken}
	for i, p := range page.Payments {
		resp.Payments[i] = paymentToProto(p, s.d.Mode)
	}
	return resp, nil
}
