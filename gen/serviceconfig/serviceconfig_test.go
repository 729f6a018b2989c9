package serviceconfig_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/gen/serviceconfig"
)

// server fails the first failures calls of every method with the given
// code and records the deadline each call arrived with.
type server struct {
	pb.UnimplementedPaymentCompletionServiceServer
	failures int32
	code     codes.Code
	calls    atomic.Int32
	deadline atomic.Int64 // time until the deadline at the last call, 0: none
}

func (s *server) record(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok {
		s.deadline.Store(int64(time.Until(d)))
	} else {
		s.deadline.Store(0)
	}
	if s.calls.Add(1) <= s.failures {
		return status.Error(s.code, "try again")
	}
	return nil
}

func (s *server) CompleteCheckout(ctx context.Context, _ *pb.CompleteCheckoutRequest) (*pb.CompleteCheckoutResponse, error) {
	return &pb.CompleteCheckoutResponse{}, s.record(ctx)
}

func (s *server) GetPayment(ctx context.Context, _ *pb.GetPaymentRequest) (*pb.GetPaymentResponse, error) {
	return &pb.GetPaymentResponse{}, s.record(ctx)
}

func (s *server) GetCharge(ctx context.Context, _ *pb.GetChargeRequest) (*pb.GetChargeResponse, error) {
	return &pb.GetChargeResponse{}, s.record(ctx)
}

func (s *server) GetChargePermission(ctx context.Context, _ *pb.GetChargePermissionRequest) (*pb.GetChargePermissionResponse, error) {
	return &pb.GetChargePermissionResponse{}, s.record(ctx)
}

func (s *server) CaptureCharge(ctx context.Context, _ *pb.CaptureChargeRequest) (*pb.CaptureChargeResponse, error) {
	return &pb.CaptureChargeResponse{}, s.record(ctx)
}

func (s *server) CancelCharge(ctx context.Context, _ *pb.CancelChargeRequest) (*pb.CancelChargeResponse, error) {
	return &pb.CancelChargeResponse{}, s.record(ctx)
}

func (s *server) RefundCharge(ctx context.Context, _ *pb.RefundChargeRequest) (*pb.RefundChargeResponse, error) {
	return &pb.RefundChargeResponse{}, s.record(ctx)
}

func (s *server) CreateCharge(ctx context.Context, _ *pb.CreateChargeRequest) (*pb.CreateChargeResponse, error) {
	return &pb.CreateChargeResponse{}, s.record(ctx)
}

func (s *server) CloseChargePermission(ctx context.Context, _ *pb.CloseChargePermissionRequest) (*pb.CloseChargePermissionResponse, error) {
	return &pb.CloseChargePermissionResponse{}, s.record(ctx)
}

func (s *server) ListPayments(ctx context.Context, _ *pb.ListPaymentsRequest) (*pb.ListPaymentsResponse, error) {
	return &pb.ListPaymentsResponse{}, s.record(ctx)
}

func (s *server) WatchPayment(_ *pb.WatchPaymentRequest, stream grpc.ServerStreamingServer[pb.WatchPaymentResponse]) error {
	if err := s.record(stream.Context()); err != nil {
		return err
	}
	return stream.Send(&pb.WatchPaymentResponse{})
}

func start(t *testing.T, srv *server) pb.PaymentCompletionServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterPaymentCompletionServiceServer(g, srv)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceconfig.JSON))
	if err != nil {
		t.Fatalf("the service config is refused: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewPaymentCompletionServiceClient(conn)
}

func TestMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		call    func(context.Context, pb.PaymentCompletionServiceClient) error
		timeout time.Duration // 0: none
		retried bool
	}{
		{"CompleteCheckout", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{})
			return err
		}, 30 * time.Second, true},
		{"GetPayment", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.GetPayment(ctx, &pb.GetPaymentRequest{})
			return err
		}, 5 * time.Second, true},
		{"GetCharge", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.GetCharge(ctx, &pb.GetChargeRequest{})
			return err
		}, 10 * time.Second, true},
		{"GetChargePermission", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.GetChargePermission(ctx, &pb.GetChargePermissionRequest{})
			return err
		}, 10 * time.Second, true},
		{"CaptureCharge", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.CaptureCharge(ctx, &pb.CaptureChargeRequest{})
			return err
		}, 30 * time.Second, true},
		{"CancelCharge", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.CancelCharge(ctx, &pb.CancelChargeRequest{})
			return err
		}, 30 * time.Second, true},
		{"RefundCharge", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.RefundCharge(ctx, &pb.RefundChargeRequest{})
			return err
		}, 30 * time.Second, true},
		{"CreateCharge", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.CreateCharge(ctx, &pb.CreateChargeRequest{})
			return err
		}, 30 * time.Second, true},
		{"CloseChargePermission", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.CloseChargePermission(ctx, &pb.CloseChargePermissionRequest{})
			return err
		}, 30 * time.Second, true},
		{"ListPayments (service-wide entry)", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.ListPayments(ctx, &pb.ListPaymentsRequest{})
			return err
		}, 10 * time.Second, true},
		{"WatchPayment", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			s, err := c.WatchPayment(ctx, &pb.WatchPaymentRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/unavailable", func(t *testing.T) {
			t.Parallel()
			srv := &server{failures: 2, code: codes.Unavailable}
			err := tt.call(t.Context(), start(t, srv))
			if tt.retried && err != nil {
				t.Fatalf("call after two UNAVAILABLE answers: %v", err)
			}
			if !tt.retried && status.Code(err) != codes.Unavailable {
				t.Fatalf("call = %v, want UNAVAILABLE (the caller re-opens the stream)", err)
			}
			if want := map[bool]int32{true: 3, false: 1}[tt.retried]; srv.calls.Load() != want {
				t.Errorf("server saw %d attempts, want %d", srv.calls.Load(), want)
			}
			got := time.Duration(srv.deadline.Load())
			switch {
			case tt.timeout == 0 && got != 0:
				t.Errorf("call arrived with a deadline %v away, want none", got)
			case tt.timeout != 0 && (got <= tt.timeout-2*time.Second || got > tt.timeout):
				t.Errorf("call arrived with a deadline %v away, want about %v", got, tt.timeout)
			}
		})
		t.Run(tt.name+"/no_retry_of_other_codes", func(t *testing.T) {
			t.Parallel()
			srv := &server{failures: 1, code: codes.FailedPrecondition}
			if err := tt.call(t.Context(), start(t, srv)); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("call = %v, want FAILED_PRECONDITION", err)
			}
			if got := srv.calls.Load(); got != 1 {
				t.Errorf("server saw %d attempts, want 1", got)
			}
		})
	}
}
