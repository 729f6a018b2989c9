package grpcserver_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/callers"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
	"github.com/paymentcompletion/paymentcompletion/internal/rpcstatus"
)

const sessionID = "3f8c1b9e-5b2a-4c1d-9e7f-2a6b8c0d4e1f"

func usd(amount string) *pb.Money { return &pb.Money{Amount: amount, CurrencyCode: "USD"} }

// violation is one BadRequest field violation as the tests compare it.
type violation struct{ Field, Reason string }

func TestValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(context.Context, pb.PaymentCompletionServiceClient) error
		want []violation // nil: the request is valid
	}{
		{
			name: "valid_complete_checkout",
			call: func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: usd("14.00"), OrderId: "order-1"})
				return err
			},
		},
		{
			name: "usd_amount_with_one_decimal",
			call: func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: usd("14.0"), OrderId: "order-1"})
				return err
			},
			want: []violation{{"charge_amount", "money.amount_format"}},
		},
		{
			name: "jpy_amount_with_decimals",
			call: func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: &pb.Money{Amount: "1000.00", CurrencyCode: "JPY"}, OrderId: "order-1"})
				return err
			},
			want: []violation{{"charge_amount", "money.amount_format"}},
		},
		{
			name: "bad_uuid_and_order_and_missing_amount",
			call: func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: "not-a-uuid", OrderId: "-bad"})
				return err
			},
			want: []violation{
				{"charge_amount", "required"},
				{"checkout_session_id", "string.uuid"},
				{"order_id", "string.pattern"},
			},
		},
		{
			name: "total_in_other_currency",
			call: func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{
					CheckoutSessionId: sessionID, ChargeAmount: usd("14.00"), OrderId: "order-1",
					TotalOrderAmount: &pb.Money{Amount: "20.00", CurrencyCode: "EUR"},
				})
				return err
			},
			want: []violation{{"", "complete_checkout.total_currency"}},
		},
		{
			name: "get_payment_without_key",
			call: func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.GetPayment(ctx, &pb.GetPaymentRequest{})
				return err
			},
			want: []violation{{"key", "required"}},
		},
		{
			name: "get_charge_bad_id",
			call: func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.GetCharge(ctx, &pb.GetChargeRequest{ChargeId: "S01-123"})
				return err
			},
			want: []violation{{"charge_id", "string.pattern"}},
		},
		{
			name: "watch_payment_bad_uuid",
			call: func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				stream, err := c.WatchPayment(ctx, &pb.WatchPaymentRequest{CheckoutSessionId: "123"})
				if err != nil {
					return err
				}
				_, err = stream.Recv()
				return err
			},
			want: []violation{{"checkout_session_id", "string.uuid"}},
		},
	}
	forEachTransport(t, func(t *testing.T, transport string) {
		h := start(t, transport, newFakeService(), grpcserver.Options{}, false)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				err := tt.call(t.Context(), h.client)
				if tt.want == nil {
					if err != nil {
						t.Fatalf("valid request failed: %v", err)
					}
					return
				}
				if got := status.Code(err); got != codes.InvalidArgument {
					t.Fatalf("code = %v, want InvalidArgument (err %v)", got, err)
				}
				info, br := details(t, err)
				if info.GetReason() != "INVALID_REQUEST" || info.GetDomain() != rpcstatus.Domain {
					t.Errorf("ErrorInfo = %v, want reason INVALID_REQUEST domain %s", info, rpcstatus.Domain)
				}
				if br == nil {
					t.Fatal("no BadRequest detail")
				}
				var got []violation
				for _, v := range br.GetFieldViolations() {
					if v.GetDescription() == "" {
						t.Errorf("violation of %q has no description", v.GetField())
					}
					got = append(got, violation{v.GetField(), v.GetReason()})
				}
				slices.SortFunc(got, func(a, b violation) int { return strings.Compare(a.Field+a.Reason, b.Field+b.Reason) })
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("field violations (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	const token = "s3cr3t-token"
	withAuth := func(ctx context.Context, v string) context.Context {
		if v == "" {
			return ctx
		}
		return metadata.AppendToOutgoingContext(ctx, "authorization", v)
	}
	tests := []struct {
		name   string
		header string
		want   codes.Code
	}{
		{"missing", "", codes.Unauthenticated},
		{"wrong", "Bearer nope", codes.Unauthenticated},
		{"prefix_of_token", "Bearer s3cr3t", codes.Unauthenticated},
		{"wrong_scheme", "Basic " + token, codes.Unauthenticated},
		{"empty_token", "Bearer ", codes.Unauthenticated},
		{"right", "Bearer " + token, codes.OK},
		{"scheme_case_insensitive", "bearer " + token, codes.OK},
	}
	forEachTransport(t, func(t *testing.T, transport string) {
		// The set also holds a caller whose hash is that of the empty token
		// (a callers file refuses one; this checks the call path as well).
		empty := callers.TokenCaller("empty", "")
		h := start(t, transport, newFakeService(), grpcserver.Options{AuthToken: token, Callers: func() *callers.Set { return empty }}, false)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ctx := withAuth(t.Context(), tt.header)
				_, err := h.client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: usd("1.00"), OrderId: "o"})
				checkAuth(t, "unary", err, tt.want)

				stream, err := h.client.WatchPayment(ctx, &pb.WatchPaymentRequest{CheckoutSessionId: sessionID})
				if err == nil {
					_, err = stream.Recv()
				}
				checkAuth(t, "stream", err, tt.want)
			})
		}
		t.Run("health_and_reflection_exempt", func(t *testing.T) {
			t.Parallel()
			resp, err := healthpb.NewHealthClient(h.conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health without token = %v, %v; want SERVING", resp, err)
			}
			if got := listServices(t, h.conn); !slices.Contains(got, grpcserver.ServiceName) {
				t.Fatalf("reflection without token listed %v", got)
			}
		})
	})
}

func checkAuth(t *testing.T, kind string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: code = %v, want %v (err %v)", kind, got, want, err)
	}
	if want == codes.OK {
		return
	}
	info, _ := details(t, err)
	if info.GetReason() != "UNAUTHENTICATED" || info.GetDomain() != rpcstatus.Domain {
		t.Errorf("%s: ErrorInfo = %v, want reason UNAUTHENTICATED", kind, info)
	}
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		h := start(t, transport, newFakeService(), grpcserver.Options{}, false)
		_, err := h.client.GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "panic"}})
		if status.Code(err) != codes.Internal {
			t.Fatalf("panicking handler: %v, want Internal", err)
		}
		if msg := status.Convert(err).Message(); strings.Contains(msg, "jane") || strings.Contains(msg, "panic") {
			t.Errorf("error message leaks the panic: %q", msg)
		}
		// The server keeps serving.
		if _, err := h.client.GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "fine"}}); err != nil {
			t.Fatalf("call after panic: %v", err)
		}
		var logged bool
		for _, l := range h.logs.Lines(t) {
			if l["msg"] == "panic in handler" {
				logged = strings.Contains(l["stack"].(string), "GetPayment")
			}
		}
		if !logged {
			t.Error("panic stack not logged")
		}
	})
}

func TestDefaultDeadline(t *testing.T) {
	t.Parallel()
	const def = time.Hour
	tests := []struct {
		name     string
		deadline time.Duration // 0: none set by the caller
		min, max time.Duration // bounds of the time left the handler sees
	}{
		{"applied_when_missing", 0, def - 10*time.Minute, def},
		{"caller_deadline_kept", 3 * time.Hour, 2 * time.Hour, 3 * time.Hour},
		{"shorter_caller_deadline_kept", 10 * time.Minute, time.Minute, 10 * time.Minute},
	}
	forEachTransport(t, func(t *testing.T, transport string) {
		svc := newFakeService()
		h := start(t, transport, svc, grpcserver.Options{DefaultCallTimeout: def}, false)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				if _, err := h.client.GetCharge(ctx, &pb.GetChargeRequest{ChargeId: "S01-5105180-3221187-C056351"}); err != nil {
					t.Fatal(err)
				}
				left := <-svc.deadlines
				if left < tt.min || left > tt.max {
					t.Errorf("handler saw %v left, want within [%v, %v]", left, tt.min, tt.max)
				}
			})
		}
		t.Run("not_on_streams", func(t *testing.T) {
			stream, err := h.client.WatchPayment(t.Context(), &pb.WatchPaymentRequest{CheckoutSessionId: sessionID})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
			// The fake fails the stream instead of answering when its
			// context has a deadline.
			<-svc.watching
		})
	})
}

func listServices(t *testing.T, conn *grpc.ClientConn) []string {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatalf("reflection send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection recv: %v", err)
	}
	_ = stream.CloseSend()
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	slices.Sort(names)
	return names
}

func TestReflection(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		h := start(t, transport, newFakeService(), grpcserver.Options{}, false)
		want := []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", grpcserver.ServiceName}
		if diff := cmp.Diff(want, listServices(t, h.conn)); diff != "" {
			t.Errorf("services (-want +got):\n%s", diff)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		h := start(t, transport, newFakeService(), grpcserver.Options{}, true)
		hc := healthpb.NewHealthClient(h.conn)
		check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
			t.Helper()
			resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
			if err != nil {
				t.Fatalf("Check(%q): %v", service, err)
			}
			return resp.GetStatus()
		}
		for _, svc := range []string{"", grpcserver.ServiceName} {
			if got := check(svc); got != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Errorf("before ready: Check(%q) = %v, want NOT_SERVING", svc, got)
			}
		}
		h.srv.SetServing(true)
		for _, svc := range []string{"", grpcserver.ServiceName} {
			if got := check(svc); got != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("after ready: Check(%q) = %v, want SERVING", svc, got)
			}
		}

		// A watcher sees NOT_SERVING when the drain starts, then its stream
		// ends telling it to go elsewhere.
		watch, err := hc.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: grpcserver.ServiceName})
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("first watch update = %v, %v; want SERVING", resp, err)
		}
		stopped := make(chan error, 1)
		go func() { stopped <- h.stop() }()
		if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("watch update during drain = %v, %v; want NOT_SERVING", resp, err)
		}
		_, err = watch.Recv()
		checkShuttingDown(t, err)
		if err := <-stopped; err != nil {
			t.Fatalf("Serve: %v", err)
		}
	})
}

func checkShuttingDown(t *testing.T, err error) {
	t.Helper()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stream ended with %v, want Unavailable", err)
	}
	info, _ := details(t, err)
	if info.GetReason() != "SHUTTING_DOWN" || info.GetDomain() != rpcstatus.Domain {
		t.Errorf("ErrorInfo = %v, want reason SHUTTING_DOWN", info)
	}
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry.GetRetryDelay().AsDuration() != rpcstatus.DefaultRetryDelay {
		t.Errorf("RetryInfo = %v, want a delay of %v", retry, rpcstatus.DefaultRetryDelay)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	t.Run("streams_end_and_unary_calls_finish", func(t *testing.T) {
		t.Parallel()
		forEachTransport(t, func(t *testing.T, transport string) {
			svc := newFakeService()
			// A grace period no test run reaches: shutdown must finish
			// because the streams end, not because the grace ran out.
			h := start(t, transport, svc, grpcserver.Options{ShutdownGrace: 10 * time.Minute}, false)

			var streams []grpc.ServerStreamingClient[pb.WatchPaymentResponse]
			for range 3 {
				stream, err := h.client.WatchPayment(t.Context(), &pb.WatchPaymentRequest{CheckoutSessionId: sessionID})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := stream.Recv(); err != nil {
					t.Fatal(err)
				}
				<-svc.watching
				streams = append(streams, stream)
			}
			// A unary call in flight when the drain starts completes.
			slow := make(chan error, 1)
			go func() {
				_, err := h.client.GetPayment(context.Background(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "slow"}})
				slow <- err
			}()
			<-svc.entered
			stopped := make(chan error, 1)
			go func() { stopped <- h.stop() }()
			for _, s := range streams {
				_, err := s.Recv()
				checkShuttingDown(t, err)
			}
			h.logs.WaitFor(t, "shutting down")
			close(svc.release)
			if err := <-slow; err != nil {
				t.Errorf("unary call in flight during drain: %v", err)
			}
			if err := <-stopped; err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if strings.Contains(h.logs.String(), "grace period over") {
				t.Error("shutdown needed the forced stop")
			}
		})
	})
	t.Run("grace_period_bounds_stuck_calls", func(t *testing.T) {
		t.Parallel()
		forEachTransport(t, func(t *testing.T, transport string) {
			svc := newFakeService()
			defer close(svc.release)
			h := start(t, transport, svc, grpcserver.Options{ShutdownGrace: 100 * time.Millisecond}, false)
			stuck := make(chan error, 1)
			go func() {
				_, err := h.client.GetPayment(context.Background(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "stuck"}})
				stuck <- err
			}()
			<-svc.entered
			if err := h.stop(); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if err := <-stuck; status.Code(err) != codes.Unavailable {
				t.Errorf("stuck call ended with %v, want Unavailable", err)
			}
			if !strings.Contains(h.logs.String(), "grace period over") {
				t.Error("forced stop not logged")
			}
		})
	})
}

func TestLogging(t *testing.T) {
	t.Parallel()
	const (
		orderID = "ORDER-PII-7781"
		amount  = "123.45"
	)
	forEachTransport(t, func(t *testing.T, transport string) {
		h := start(t, transport, newFakeService(), grpcserver.Options{}, false)
		ctx := t.Context()
		if _, err := h.client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: usd(amount), OrderId: orderID}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: usd("1.0"), OrderId: orderID}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("invalid call: %v", err)
		}
		if _, err := healthpb.NewHealthClient(h.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		listServices(t, h.conn)
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}

		var codesSeen []string
		for _, l := range h.logs.Lines(t) {
			raw, _ := json.Marshal(l)
			for _, secret := range []string{orderID, sessionID, amount} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("log line carries request data %q: %s", secret, raw)
				}
			}
			for k := range l {
				if strings.Contains(k, "content") {
					t.Errorf("log line has payload field %q: %s", k, raw)
				}
			}
			if l["msg"] != "finished call" {
				continue
			}
			if l["grpc.service"] != grpcserver.ServiceName {
				t.Errorf("logged a call to %v; health and reflection must not be logged", l["grpc.service"])
				continue
			}
			if l["grpc.method"] != "CompleteCheckout" {
				t.Errorf("grpc.method = %v", l["grpc.method"])
			}
			if _, ok := l["grpc.duration_ms"].(float64); !ok {
				t.Errorf("no numeric grpc.duration_ms: %s", raw)
			}
			codesSeen = append(codesSeen, l["grpc.code"].(string))
		}
		if diff := cmp.Diff([]string{"OK", "InvalidArgument"}, codesSeen); diff != "" {
			t.Errorf("logged codes (-want +got):\n%s", diff)
		}
	})
}
