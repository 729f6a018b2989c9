package grpcserver_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
	"github.com/paymentcompletion/paymentcompletion/internal/logtest"
)

// transports are the two ways tests reach the server: in memory and over a
// real loopback TCP port.
var transports = []string{"bufconn", "tcp"}

// forEachTransport runs f once per transport as parallel subtests.
func forEachTransport(t *testing.T, f func(t *testing.T, transport string)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			f(t, tr)
		})
	}
}

type harness struct {
	srv    *grpcserver.Server
	conn   *grpc.ClientConn
	client pb.PaymentCompletionServiceClient
	logs   *logtest.Buffer
	cancel context.CancelFunc
	done   chan error
}

// start serves svc with opts over the given transport until the test ends
// (or h.stop is called). The server is marked serving unless notServing.
func start(t *testing.T, transport string, svc pb.PaymentCompletionServiceServer, opts grpcserver.Options, notServing bool) *harness {
	t.Helper()
	logs := &logtest.Buffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := grpcserver.New(svc, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if !notServing {
		srv.SetServing(true)
	}

	var (
		lis    net.Listener
		target string
		dial   []grpc.DialOption
	)
	switch transport {
	case "bufconn":
		bl := bufconn.Listen(1 << 20)
		lis, target = bl, "passthrough:///bufnet"
		dial = append(dial, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return bl.DialContext(ctx)
		}))
	case "tcp":
		lis, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		target = lis.Addr().String()
	default:
		t.Fatalf("unknown transport %q", transport)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()

	conn, err := grpc.NewClient(target, append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		cancel()
		t.Fatalf("NewClient: %v", err)
	}
	h := &harness{srv: srv, conn: conn, client: pb.NewPaymentCompletionServiceClient(conn), logs: logs, cancel: cancel, done: done}
	t.Cleanup(func() {
		_ = h.stop()
		_ = conn.Close()
	})
	return h
}

// stop asks the server to shut down and returns Serve's result.
func (h *harness) stop() error {
	h.cancel()
	err, ok := <-h.done
	if !ok {
		return nil
	}
	close(h.done)
	return err
}

// errorInfo returns the ErrorInfo and BadRequest details of err.
func details(t *testing.T, err error) (*errdetails.ErrorInfo, *errdetails.BadRequest) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a status error: %v", err)
	}
	var (
		info *errdetails.ErrorInfo
		br   *errdetails.BadRequest
	)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			br = d
		case error:
			t.Fatalf("undecodable detail: %v", d)
		}
	}
	return info, br
}

// fakeService is a PaymentCompletionService whose behaviour is chosen by the
// request, so every test can drive it without shared state.
type fakeService struct {
	pb.UnimplementedPaymentCompletionServiceServer

	// watching receives one value per WatchPayment stream that has sent its
	// first message.
	watching chan struct{}
	// release unblocks GetPayment calls for orders "slow" and "stuck".
	release chan struct{}
	// entered receives the order of each "slow" or "stuck" GetPayment call
	// once it runs in the handler.
	entered chan string
	// deadlines receives what GetCharge saw: the time left, or -1 for none.
	deadlines chan time.Duration
}

func newFakeService() *fakeService {
	return &fakeService{
		watching:  make(chan struct{}, 16),
		release:   make(chan struct{}),
		entered:   make(chan string, 16),
		deadlines: make(chan time.Duration, 16),
	}
}

func (f *fakeService) CompleteCheckout(_ context.Context, req *pb.CompleteCheckoutRequest) (*pb.CompleteCheckoutResponse, error) {
	return &pb.CompleteCheckoutResponse{Payment: &pb.Payment{
		CheckoutSessionId: req.GetCheckoutSessionId(),
		OrderId:           req.GetOrderId(),
		ChargeAmount:      req.GetChargeAmount(),
		Outcome:           pb.Outcome_OUTCOME_COMPLETED,
	}}, nil
}

func (f *fakeService) GetPayment(ctx context.Context, req *pb.GetPaymentRequest) (*pb.GetPaymentResponse, error) {
	switch req.GetOrderId() {
	case "panic":
		panic("buyer jane@example.com broke it")
	case "slow":
		f.entered <- req.GetOrderId()
		// Finishes once released, honouring cancellation.
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	case "stuck":
		f.entered <- req.GetOrderId()
		// Ignores its context: only a forced stop gets rid of it.
		<-f.release
	}
	return &pb.GetPaymentResponse{Payment: &pb.Payment{OrderId: req.GetOrderId(), Outcome: pb.Outcome_OUTCOME_PENDING}}, nil
}

func (f *fakeService) GetCharge(ctx context.Context, req *pb.GetChargeRequest) (*pb.GetChargeResponse, error) {
	left := time.Duration(-1)
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	f.deadlines <- left
	return &pb.GetChargeResponse{Charge: &pb.Charge{ChargeId: req.GetChargeId()}}, nil
}

func (f *fakeService) WatchPayment(req *pb.WatchPaymentRequest, stream grpc.ServerStreamingServer[pb.WatchPaymentResponse]) error {
	if _, ok := stream.Context().Deadline(); ok {
		return status.Error(codes.Internal, "stream unexpectedly has a deadline")
	}
	if err := stream.Send(&pb.WatchPaymentResponse{Payment: &pb.Payment{
		CheckoutSessionId: req.GetCheckoutSessionId(),
		Outcome:           pb.Outcome_OUTCOME_PENDING,
	}}); err != nil {
		return err
	}
	f.watching <- struct{}{}
	<-stream.Context().Done()
	return status.FromContextError(stream.Context().Err()).Err()
}
