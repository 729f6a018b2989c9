package grpcserver_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
)

// openWatch opens a WatchPayment stream and waits for its first message,
// so the stream is counted by the server. It returns the stream's cancel
// and, when the server refused it, the error.
func openWatch(t *testing.T, c pb.PaymentCompletionServiceClient) (context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	s, err := c.WatchPayment(ctx, &pb.WatchPaymentRequest{CheckoutSessionId: sessionID})
	if err != nil {
		return cancel, err
	}
	_, err = s.Recv()
	return cancel, err
}

// newConn opens a second connection to the harness's server (a real TCP
// port).
func newConn(t *testing.T, h *harness) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(h.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func wantLimitError(t *testing.T, err error, reason, limit string) {
	t.Helper()
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("err = %v, want RESOURCE_EXHAUSTED", err)
	}
	info, _ := details(t, err)
	if info.GetReason() != reason || info.GetMetadata()["limit"] != limit {
		t.Errorf("ErrorInfo = %v, want reason %s with limit %s", info, reason, limit)
	}
}

func TestStreamsPerConnectionLimit(t *testing.T) {
	t.Parallel()
	svc := newFakeService()
	svc.watching = make(chan struct{}, 64)
	h := start(t, "tcp", svc, grpcserver.Options{MaxStreamsPerConnection: 3}, false)
	var first context.CancelFunc
	for i := range 2 {
		cancel, err := openWatch(t, h.client)
		if err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
		if i == 0 {
			first = cancel
		}
	}
	// Health watches count too: they are the cheapest streams to open
	// without credentials.
	hw, err := healthpb.NewHealthClient(h.conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hw.Recv(); err != nil {
		t.Fatalf("health watch: %v", err)
	}
	_, err = openWatch(t, h.client)
	wantLimitError(t, err, "TOO_MANY_STREAMS_ON_CONNECTION", "3")
	hw2, err := healthpb.NewHealthClient(h.conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = hw2.Recv()
	}
	wantLimitError(t, err, "TOO_MANY_STREAMS_ON_CONNECTION", "3")

	// Unary calls on the full connection are not limited.
	if _, err := h.client.GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "order-1"}}); err != nil {
		t.Errorf("unary call on a full connection: %v", err)
	}
	// Another connection has its own limit.
	if _, err := openWatch(t, pb.NewPaymentCompletionServiceClient(newConn(t, h))); err != nil {
		t.Errorf("watch on another connection: %v", err)
	}
	// A closed stream frees its place.
	first()
	for {
		_, err := openWatch(t, h.client)
		if err == nil {
			break
		}
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("watch after closing one: %v", err)
		}
		// The server has not seen the cancellation yet.
		select {
		case <-t.Context().Done():
			t.Fatal("the closed stream's place was never freed")
		default:
		}
	}
}

func TestWatchLimit(t *testing.T) {
	t.Parallel()
	svc := newFakeService()
	svc.watching = make(chan struct{}, 64)
	h := start(t, "tcp", svc, grpcserver.Options{MaxWatches: 2}, false)
	for i := range 2 {
		// One connection each: the total limit is across connections.
		if _, err := openWatch(t, pb.NewPaymentCompletionServiceClient(newConn(t, h))); err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
	}
	_, err := openWatch(t, pb.NewPaymentCompletionServiceClient(newConn(t, h)))
	wantLimitError(t, err, "TOO_MANY_WATCHES", "2")
	_, err = openWatch(t, h.client)
	wantLimitError(t, err, "TOO_MANY_WATCHES", "2")
	// Other streams are not watches.
	hw, err := healthpb.NewHealthClient(h.conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = hw.Recv()
	}
	if err != nil {
		t.Errorf("health watch beside the full watch limit: %v", err)
	}
}
