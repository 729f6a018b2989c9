package grpcserver_test

import (
	"context"
	"log/slog"
	"net"
	"testing"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/callers"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
)

// BenchmarkUnaryCall measures one CompleteCheckout round trip over bufconn
// through a bare grpc.Server and through the full chain (logging to a
// discarded JSON handler, auth, validation, recovery, default deadline), so
// the difference is the chain's cost per call.
func BenchmarkUnaryCall(b *testing.B) {
	req := &pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: usd("14.00"), OrderId: "order-1"}
	b.Run("bare_grpc", func(b *testing.B) {
		srv := grpc.NewServer()
		pb.RegisterPaymentCompletionServiceServer(srv, newFakeService())
		benchCalls(b, func(lis net.Listener) func() {
			go func() { _ = srv.Serve(lis) }()
			return srv.Stop
		}, context.Background(), req)
	})
	b.Run("full_chain", func(b *testing.B) {
		srv, err := grpcserver.New(newFakeService(), grpcserver.Options{
			Logger:    slog.New(slog.NewJSONHandler(discard{}, nil)),
			AuthToken: "bench-token",
		})
		if err != nil {
			b.Fatal(err)
		}
		srv.SetServing(true)
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer bench-token")
		benchCalls(b, func(lis net.Listener) func() {
			sctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(sctx, lis) }()
			return func() { cancel(); <-done }
		}, ctx, req)
	})
	b.Run("full_chain_observed", func(b *testing.B) {
		// What production adds with METRICS_ADDR and tracing (no
		// exporter): Prometheus interceptors, an otelgrpc span per call
		// whose IDs reach the log lines, and a callers set.
		set, err := callers.Parse([]byte(`{"callers": [{"name": "shop", "token_sha256": "`+sha256Hex("bench-token")+`", "methods": ["CompleteCheckout"]}]}`), grpcserver.MethodNames())
		if err != nil {
			b.Fatal(err)
		}
		srv, err := grpcserver.New(newFakeService(), grpcserver.Options{
			Logger:         slog.New(slog.NewJSONHandler(discard{}, nil)),
			Callers:        func() *callers.Set { return set },
			Metrics:        grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram()),
			TracerProvider: sdktrace.NewTracerProvider(),
		})
		if err != nil {
			b.Fatal(err)
		}
		srv.SetServing(true)
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer bench-token")
		benchCalls(b, func(lis net.Listener) func() {
			sctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(sctx, lis) }()
			return func() { cancel(); <-done }
		}, ctx, req)
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func benchCalls(b *testing.B, serve func(net.Listener) (stop func()), ctx context.Context, req *pb.CompleteCheckoutRequest) {
	b.Helper()
	lis := bufconn.Listen(1 << 20)
	stop := serve(lis)
	defer stop()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewPaymentCompletionServiceClient(conn)
	if _, err := client.CompleteCheckout(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := client.CompleteCheckout(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
