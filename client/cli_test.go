package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/gen/serviceconfig"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
)

const session = "3f8c1b9e-5b2a-4c1d-9e7f-2a6b8c0d4e1f"

func noEnv(string) (string, bool) { return "", false }

func TestRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want any // the request the command sends
	}{
		{
			name: "complete",
			args: []string{"complete", "-session", session, "-order", "order-1", "-amount", "14.00", "-currency", "usd"},
			want: &pb.CompleteCheckoutRequest{CheckoutSessionId: session, OrderId: "order-1", ChargeAmount: &pb.Money{Amount: "14.00", CurrencyCode: "USD"}},
		},
		{
			name: "complete_with_total",
			args: []string{"complete", "-session", session, "-order", "o", "-amount", "1000", "-currency", "JPY", "-total-amount", "3000"},
			want: &pb.CompleteCheckoutRequest{
				CheckoutSessionId: session, OrderId: "o",
				ChargeAmount:     &pb.Money{Amount: "1000", CurrencyCode: "JPY"},
				TotalOrderAmount: &pb.Money{Amount: "3000", CurrencyCode: "JPY"},
			},
		},
		{
			name: "payment_by_session",
			args: []string{"payment", "-session", session},
			want: &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: session}},
		},
		{
			name: "payment_by_order",
			args: []string{"payment", "-order", "order-1"},
			want: &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "order-1"}},
		},
		{
			name: "watch",
			args: []string{"watch", "-session", session},
			want: &pb.WatchPaymentRequest{CheckoutSessionId: session},
		},
		{
			name: "charge",
			args: []string{"charge", "-id", "S01-5105180-3221187-C056351"},
			want: &pb.GetChargeRequest{ChargeId: "S01-5105180-3221187-C056351"},
		},
		{
			name: "list",
			args: []string{"list", "-outcome", "unknown, OUTCOME_PENDING", "-since", "2026-11-30T00:00:00Z", "-until", "2026-12-01T00:00:00.5Z", "-page-size", "20", "-page-token", "p2"},
			want: &pb.ListPaymentsRequest{
				Outcomes:        []pb.Outcome{pb.Outcome_OUTCOME_UNKNOWN, pb.Outcome_OUTCOME_PENDING},
				CreateTimeStart: timestamppb.New(time.Date(2026, time.November, 30, 0, 0, 0, 0, time.UTC)),
				CreateTimeEnd:   timestamppb.New(time.Date(2026, time.December, 1, 0, 0, 0, 5e8, time.UTC)),
				PageSize:        20,
				PageToken:       "p2",
			},
		},
		{
			name: "capture",
			args: []string{"capture", "-id", "S01-5105180-3221187-C056351", "-amount", "9.00", "-currency", "usd", "-key", "shipment-1", "-soft-descriptor", "SHOP"},
			want: &pb.CaptureChargeRequest{ChargeId: "S01-5105180-3221187-C056351", CaptureAmount: &pb.Money{Amount: "9.00", CurrencyCode: "USD"},
				IdempotencyKey: "shipment-1", SoftDescriptor: "SHOP"},
		},
		{
			name: "refund",
			args: []string{"refund", "-id", "S01-5105180-3221187-C056351", "-amount", "5.00", "-currency", "usd", "-key", "cm-1"},
			want: &pb.RefundChargeRequest{ChargeId: "S01-5105180-3221187-C056351", RefundAmount: &pb.Money{Amount: "5.00", CurrencyCode: "USD"}, IdempotencyKey: "cm-1"},
		},
		{
			name: "charge_create",
			args: []string{"charge-create", "-permission", "S01-5105180-3221187", "-amount", "10.00", "-currency", "usd", "-key", "shipment-2", "-capture-now"},
			want: &pb.CreateChargeRequest{ChargePermissionId: "S01-5105180-3221187", ChargeAmount: &pb.Money{Amount: "10.00", CurrencyCode: "USD"}, CaptureNow: true, IdempotencyKey: "shipment-2"},
		},
		{
			name: "close",
			args: []string{"close", "-permission", "S01-5105180-3221187", "-reason", "order canceled", "-cancel-pending-charges"},
			want: &pb.CloseChargePermissionRequest{ChargePermissionId: "S01-5105180-3221187", ClosureReason: "order canceled", CancelPendingCharges: true},
		},
		{
			name: "refund_get",
			args: []string{"refund-get", "-id", "S01-5105180-3221187-R000001"},
			want: &pb.GetRefundRequest{RefundId: "S01-5105180-3221187-R000001"},
		},
		{
			name: "cancel",
			args: []string{"cancel", "-id", "S01-5105180-3221187-C056351", "-reason", "out of stock"},
			want: &pb.CancelChargeRequest{ChargeId: "S01-5105180-3221187-C056351", CancellationReason: "out of stock"},
		},
		{
			name: "charge_permission",
			args: []string{"charge-permission", "-id", "S01-5105180-3221187"},
			want: &pb.GetChargePermissionRequest{ChargePermissionId: "S01-5105180-3221187"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, cmd, err := parseArgs(tt.args, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			h := startServer(t, rec, grpcserver.Options{})
			if _, err := cmd.call(t.Context(), h, &printer{w: &bytes.Buffer{}}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, rec.lastRequest(), protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantErr  string // "" for success
		wantAddr string
		wantJSON bool
	}{
		{name: "default_addr", args: []string{"watch", "-session", "s"}, wantAddr: "127.0.0.1:50051"},
		{name: "env_addr", args: []string{"watch", "-session", "s"}, env: map[string]string{envAddr: "10.0.0.1:9"}, wantAddr: "10.0.0.1:9"},
		{name: "flag_beats_env", args: []string{"-addr", "h:1", "watch", "-session", "s"}, env: map[string]string{envAddr: "10.0.0.1:9"}, wantAddr: "h:1"},
		{name: "globals_after_command", args: []string{"watch", "-session", "s", "-json", "-addr", "h:2"}, wantAddr: "h:2", wantJSON: true},
		{name: "no_command", args: nil, wantErr: "no command"},
		{name: "unknown_command", args: []string{"reimburse"}, wantErr: `unknown command "reimburse"`},
		{name: "unknown_flag", args: []string{"charge", "-charge", "x"}, wantErr: "-charge"},
		{name: "complete_missing", args: []string{"complete", "-session", session}, wantErr: "-order, -amount, -currency required"},
		{name: "payment_both_keys", args: []string{"payment", "-session", "s", "-order", "o"}, wantErr: "not both"},
		{name: "payment_no_key", args: []string{"payment"}, wantErr: "-session or -order"},
		{name: "watch_no_session", args: []string{"watch"}, wantErr: "-session is required"},
		{name: "charge_no_id", args: []string{"charge"}, wantErr: "-id is required"},
		{name: "extra_argument", args: []string{"charge", "-id", "x", "y"}, wantErr: `unexpected argument "y"`},
		{name: "bad_timeout", args: []string{"-timeout", "-1s", "charge", "-id", "x"}, wantErr: "-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			g, _, err := parseArgs(tt.args, env)
			if tt.wantErr != "" {
				if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want usage error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.addr != tt.wantAddr || g.json != tt.wantJSON {
				t.Errorf("globals = %+v, want addr %q json %v", g, tt.wantAddr, tt.wantJSON)
			}
		})
	}
	if _, _, err := parseArgs([]string{"-help"}, noEnv); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	outcomes := map[pb.Outcome]int{
		pb.Outcome_OUTCOME_COMPLETED: 0, pb.Outcome_OUTCOME_PENDING: 10, pb.Outcome_OUTCOME_UNKNOWN: 11,
		pb.Outcome_OUTCOME_UNSPECIFIED: 11, pb.Outcome_OUTCOME_DECLINED: 12, pb.Outcome_OUTCOME_CANCELED: 13,
	}
	for o, want := range outcomes {
		if got := outcomeExit(o); got != want {
			t.Errorf("outcomeExit(%v) = %d, want %d", o, got, want)
		}
	}
	errs := map[codes.Code]int{
		codes.InvalidArgument: 3, codes.NotFound: 4, codes.FailedPrecondition: 5, codes.Unavailable: 6,
		codes.DeadlineExceeded: 6, codes.Unauthenticated: 7, codes.Internal: 1, codes.Unimplemented: 1, codes.Unknown: 1,
	}
	for c, want := range errs {
		if got := errorExit(c); got != want {
			t.Errorf("errorExit(%v) = %d, want %d", c, got, want)
		}
	}
}

func TestPrintError(t *testing.T) {
	t.Parallel()
	st, err := status.New(codes.FailedPrecondition, "checkout session already recorded for another order").WithDetails(
		&errdetails.ErrorInfo{Reason: "SESSION_BOUND_TO_OTHER_REQUEST", Domain: "paymentcompletion", Metadata: map[string]string{"order_id": "order-9"}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "charge_amount", Description: "bad amount"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	var human, js bytes.Buffer
	if code := printError(&human, st.Err(), false); code != exitFailedPrecondition {
		t.Errorf("exit = %d, want %d", code, exitFailedPrecondition)
	}
	want := "error: FAILED_PRECONDITION: checkout session already recorded for another order\n" +
		"  reason: SESSION_BOUND_TO_OTHER_REQUEST (domain paymentcompletion)\n" +
		"  order_id: order-9\n" +
		"  field charge_amount: bad amount\n"
	if diff := cmp.Diff(want, human.String()); diff != "" {
		t.Errorf("human error (-want +got):\n%s", diff)
	}
	printError(&js, st.Err(), true)
	var sp spb.Status
	if err := protojson.Unmarshal(js.Bytes(), &sp); err != nil {
		t.Fatalf("JSON error does not parse as google.rpc.Status: %v\n%s", err, js.String())
	}
	if diff := cmp.Diff(st.Proto(), &sp, protocmp.Transform()); diff != "" {
		t.Errorf("JSON error round trip (-want +got):\n%s", diff)
	}
}

func TestPrintPayment(t *testing.T) {
	t.Parallel()
	p := &pb.Payment{
		CheckoutSessionId: session, OrderId: "order-1", Outcome: pb.Outcome_OUTCOME_DECLINED, ReasonCode: "HardDeclined",
		ChargeAmount: &pb.Money{Amount: "14.00", CurrencyCode: "USD"}, ChargeState: pb.ChargeState_CHARGE_STATE_DECLINED,
		CreateTime: timestamppb.New(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)),
	}
	var human bytes.Buffer
	(&printer{w: &human}).payment(p)
	want := "outcome:               DECLINED\n" +
		"reason_code:           HardDeclined\n" +
		"checkout_session_id:   " + session + "\n" +
		"order_id:              order-1\n" +
		"charge_amount:         14.00 USD\n" +
		"charge_state:          DECLINED\n" +
		"create_time:           2026-11-27T10:00:00Z\n"
	if diff := cmp.Diff(want, human.String()); diff != "" {
		t.Errorf("human output (-want +got):\n%s", diff)
	}
	var js bytes.Buffer
	(&printer{w: &js, json: true}).payment(p)
	got := &pb.Payment{}
	if err := protojson.Unmarshal(js.Bytes(), got); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, js.String())
	}
	if diff := cmp.Diff(p, got, protocmp.Transform()); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

// recorder is a PaymentCompletionService whose answers depend on the
// request, and which keeps the last request it received.
type recorder struct {
	pb.UnimplementedPaymentCompletionServiceServer
	mu   sync.Mutex // guards last
	last any
}

func (r *recorder) record(req any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = req
}

func (r *recorder) lastRequest() any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *recorder) CompleteCheckout(_ context.Context, req *pb.CompleteCheckoutRequest) (*pb.CompleteCheckoutResponse, error) {
	r.record(req)
	outcome := pb.Outcome_OUTCOME_COMPLETED
	switch req.GetOrderId() {
	case "order-pending":
		outcome = pb.Outcome_OUTCOME_PENDING
	case "order-declined":
		outcome = pb.Outcome_OUTCOME_DECLINED
	case "order-bound":
		st, _ := status.New(codes.FailedPrecondition, "session recorded for another order").WithDetails(
			&errdetails.ErrorInfo{Reason: "SESSION_BOUND_TO_OTHER_REQUEST", Domain: "paymentcompletion", Metadata: map[string]string{"order_id": "order-0"}})
		return nil, st.Err()
	}
	return &pb.CompleteCheckoutResponse{Payment: &pb.Payment{
		CheckoutSessionId: req.GetCheckoutSessionId(), OrderId: req.GetOrderId(), Outcome: outcome,
		ChargeAmount: req.GetChargeAmount(), ChargeId: "S01-5105180-3221187-C056351",
	}}, nil
}

// ListPayments serves two pages: "" then "p2".
func (r *recorder) ListPayments(_ context.Context, req *pb.ListPaymentsRequest) (*pb.ListPaymentsResponse, error) {
	r.record(req)
	created := timestamppb.New(time.Date(2026, time.December, 1, 9, 0, 0, 0, time.UTC))
	switch req.GetPageToken() {
	case "":
		return &pb.ListPaymentsResponse{NextPageToken: "p2", Payments: []*pb.Payment{{
			CheckoutSessionId: session, OrderId: "order-2", Outcome: pb.Outcome_OUTCOME_UNKNOWN,
			ChargeAmount: &pb.Money{Amount: "14.00", CurrencyCode: "USD"}, CreateTime: created,
			NextCheckTime: timestamppb.New(created.AsTime().Add(time.Minute)),
		}}}, nil
	case "p2":
		return &pb.ListPaymentsResponse{Payments: []*pb.Payment{{
			CheckoutSessionId: session, OrderId: "order-1", Outcome: pb.Outcome_OUTCOME_DECLINED, ReasonCode: "HardDeclined",
			ChargeAmount: &pb.Money{Amount: "1000", CurrencyCode: "JPY"}, CreateTime: created,
		}}}, nil
	default:
		return nil, status.Error(codes.InvalidArgument, "bad token")
	}
}

func (r *recorder) CaptureCharge(_ context.Context, req *pb.CaptureChargeRequest) (*pb.CaptureChargeResponse, error) {
	r.record(req)
	switch req.GetChargeId() {
	case "S01-0000001-0000001-C000002":
		return &pb.CaptureChargeResponse{Outcome: pb.Outcome_OUTCOME_PENDING, Charge: &pb.Charge{ChargeId: "S01-0000001-0000001-C000002", State: pb.ChargeState_CHARGE_STATE_CAPTURE_INITIATED}}, nil
	case "S01-0000001-0000001-C000003":
		st, _ := status.New(codes.FailedPrecondition, "key reused").WithDetails(
			&errdetails.ErrorInfo{Reason: "IDEMPOTENCY_KEY_REUSED", Domain: "paymentcompletion"})
		return nil, st.Err()
	}
	return &pb.CaptureChargeResponse{Outcome: pb.Outcome_OUTCOME_COMPLETED, Charge: &pb.Charge{ChargeId: req.GetChargeId(),
		State: pb.ChargeState_CHARGE_STATE_CAPTURED, CaptureAmount: req.GetCaptureAmount()}}, nil
}

func (r *recorder) CreateCharge(_ context.Context, req *pb.CreateChargeRequest) (*pb.CreateChargeResponse, error) {
	r.record(req)
	if req.GetChargePermissionId() == "S01-0000001-0000002" {
		return &pb.CreateChargeResponse{Outcome: pb.Outcome_OUTCOME_DECLINED, ReasonCode: "SoftDeclined",
			Charge: &pb.Charge{State: pb.ChargeState_CHARGE_STATE_DECLINED, ReasonCode: "SoftDeclined"}}, nil
	}
	return &pb.CreateChargeResponse{Outcome: pb.Outcome_OUTCOME_COMPLETED, Charge: &pb.Charge{ChargeId: "C2", State: pb.ChargeState_CHARGE_STATE_AUTHORIZED}}, nil
}

func (r *recorder) CloseChargePermission(_ context.Context, req *pb.CloseChargePermissionRequest) (*pb.CloseChargePermissionResponse, error) {
	r.record(req)
	return &pb.CloseChargePermissionResponse{Outcome: pb.Outcome_OUTCOME_COMPLETED, ChargePermission: &pb.ChargePermission{
		ChargePermissionId: req.GetChargePermissionId(), State: pb.ChargePermissionState_CHARGE_PERMISSION_STATE_CLOSED}}, nil
}

func (r *recorder) RefundCharge(_ context.Context, req *pb.RefundChargeRequest) (*pb.RefundChargeResponse, error) {
	r.record(req)
	return &pb.RefundChargeResponse{Outcome: pb.Outcome_OUTCOME_PENDING, Refund: &pb.Refund{RefundId: "R1", ChargeId: req.GetChargeId(),
		RefundAmount: req.GetRefundAmount(), State: pb.RefundState_REFUND_STATE_REFUND_INITIATED}}, nil
}

func (r *recorder) GetRefund(_ context.Context, req *pb.GetRefundRequest) (*pb.GetRefundResponse, error) {
	r.record(req)
	if req.GetRefundId() == "S01-0000001-0000001-R000002" {
		return &pb.GetRefundResponse{Refund: &pb.Refund{RefundId: "S01-0000001-0000001-R000002", State: pb.RefundState_REFUND_STATE_DECLINED, ReasonCode: "AmazonRejected"}}, nil
	}
	return &pb.GetRefundResponse{Refund: &pb.Refund{RefundId: req.GetRefundId(), State: pb.RefundState_REFUND_STATE_REFUNDED}}, nil
}

func (r *recorder) CancelCharge(_ context.Context, req *pb.CancelChargeRequest) (*pb.CancelChargeResponse, error) {
	r.record(req)
	if req.GetChargeId() == "S01-0000001-0000001-C000004" {
		return &pb.CancelChargeResponse{Outcome: pb.Outcome_OUTCOME_UNKNOWN}, nil
	}
	return &pb.CancelChargeResponse{Outcome: pb.Outcome_OUTCOME_CANCELED, Charge: &pb.Charge{ChargeId: req.GetChargeId(), State: pb.ChargeState_CHARGE_STATE_CANCELED}}, nil
}

func (r *recorder) GetPayment(_ context.Context, req *pb.GetPaymentRequest) (*pb.GetPaymentResponse, error) {
	r.record(req)
	if req.GetOrderId() == "missing" {
		return nil, status.Error(codes.NotFound, "no payment")
	}
	return &pb.GetPaymentResponse{Payment: &pb.Payment{OrderId: req.GetOrderId(), Outcome: pb.Outcome_OUTCOME_UNKNOWN}}, nil
}

func (r *recorder) WatchPayment(req *pb.WatchPaymentRequest, stream grpc.ServerStreamingServer[pb.WatchPaymentResponse]) error {
	r.record(req)
	for _, o := range []pb.Outcome{pb.Outcome_OUTCOME_PENDING, pb.Outcome_OUTCOME_PENDING, pb.Outcome_OUTCOME_CANCELED} {
		if err := stream.Send(&pb.WatchPaymentResponse{Payment: &pb.Payment{CheckoutSessionId: req.GetCheckoutSessionId(), Outcome: o}}); err != nil {
			return err
		}
	}
	return nil
}

func (r *recorder) GetCharge(_ context.Context, req *pb.GetChargeRequest) (*pb.GetChargeResponse, error) {
	r.record(req)
	return &pb.GetChargeResponse{Charge: &pb.Charge{ChargeId: req.GetChargeId(), State: pb.ChargeState_CHARGE_STATE_AUTHORIZED, ChargeAmount: &pb.Money{Amount: "14.00", CurrencyCode: "USD"}}}, nil
}

func (r *recorder) GetChargePermission(_ context.Context, req *pb.GetChargePermissionRequest) (*pb.GetChargePermissionResponse, error) {
	r.record(req)
	return &pb.GetChargePermissionResponse{ChargePermission: &pb.ChargePermission{
		ChargePermissionId: req.GetChargePermissionId(), State: pb.ChargePermissionState_CHARGE_PERMISSION_STATE_CHARGEABLE,
		Buyer: &pb.Buyer{Name: "Jane Doe", Email: "jane@example.com"},
	}}, nil
}

// startServer serves svc through the real grpcserver chain over bufconn and
// returns a client of it.
func startServer(t *testing.T, svc pb.PaymentCompletionServiceServer, opts grpcserver.Options) pb.PaymentCompletionServiceClient {
	t.Helper()
	conn, err := bufDial(startBuf(t, svc, opts))("", insecure.NewCredentials())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return pb.NewPaymentCompletionServiceClient(conn)
}

// startBuf serves svc over an in-memory listener until the test ends.
func startBuf(t *testing.T, svc pb.PaymentCompletionServiceServer, opts grpcserver.Options) *bufconn.Listener {
	t.Helper()
	srv, err := grpcserver.New(svc, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis
}

// bufDial is a dialFunc connecting to lis whatever the address.
func bufDial(lis *bufconn.Listener) dialFunc {
	return func(_ string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
		return grpc.NewClient("passthrough:///bufnet",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultServiceConfig(serviceconfig.JSON))
	}
}

// TestDial checks that the production dial accepts the service config
// (grpc.NewClient refuses an invalid one).
func TestDial(t *testing.T) {
	t.Parallel()
	conn, err := dial("127.0.0.1:1", insecure.NewCredentials())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// TestCLI runs whole invocations against a real server.
func TestCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lis := startBuf(t, &recorder{}, grpcserver.Options{AuthToken: "tok"})
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string
		wantErrOut []string
	}{
		{"completed", []string{"complete", "-session", session, "-order", "order-1", "-amount", "14.00", "-currency", "USD"}, 0,
			[]string{"outcome:               COMPLETED", "charge_amount:         14.00 USD", "charge_id:             S01-5105180-3221187-C056351"}, nil},
		{"pending", []string{"complete", "-session", session, "-order", "order-pending", "-amount", "14.00", "-currency", "USD"}, 10, []string{"PENDING"}, nil},
		{"declined", []string{"complete", "-session", session, "-order", "order-declined", "-amount", "14.00", "-currency", "USD"}, 12, []string{"DECLINED"}, nil},
		{"invalid_amount", []string{"complete", "-session", session, "-order", "order-1", "-amount", "14.0", "-currency", "USD"}, 3, nil,
			[]string{"error: INVALID_ARGUMENT", "reason: INVALID_REQUEST", "field charge_amount: amount must be"}},
		{"jpy_with_decimals", []string{"complete", "-session", session, "-order", "order-1", "-amount", "1000.00", "-currency", "JPY"}, 3, nil,
			[]string{"field charge_amount:"}},
		{"bad_session", []string{"complete", "-session", "abc", "-order", "order-1", "-amount", "1.00", "-currency", "USD"}, 3, nil,
			[]string{"field checkout_session_id:"}},
		{"bound_to_other_order", []string{"complete", "-session", session, "-order", "order-bound", "-amount", "1.00", "-currency", "USD"}, 5, nil,
			[]string{"error: FAILED_PRECONDITION", "reason: SESSION_BOUND_TO_OTHER_REQUEST", "order_id: order-0"}},
		{"payment_unknown", []string{"payment", "-order", "order-1"}, 11, []string{"outcome:               UNKNOWN"}, nil},
		{"payment_not_found", []string{"payment", "-order", "missing"}, 4, nil, []string{"error: NOT_FOUND"}},
		{"watch_until_final", []string{"watch", "-session", session}, 13, []string{"outcome=PENDING\noutcome=PENDING\noutcome=CANCELED\n"}, nil},
		{"charge", []string{"charge", "-id", "S01-5105180-3221187-C056351"}, 0, []string{"state:                 AUTHORIZED"}, nil},
		{"capture", []string{"capture", "-id", "S01-0000001-0000001-C000001", "-amount", "9.00", "-currency", "USD", "-key", "k"}, 0,
			[]string{"outcome:               COMPLETED", "state:                 CAPTURED", "capture_amount:        9.00 USD"}, nil},
		{"capture_pending", []string{"capture", "-id", "S01-0000001-0000001-C000002", "-amount", "9.00", "-currency", "USD", "-key", "k"}, 10, []string{"PENDING"}, nil},
		{"capture_key_reused", []string{"capture", "-id", "S01-0000001-0000001-C000003", "-amount", "9.00", "-currency", "USD", "-key", "k"}, 5, nil,
			[]string{"error: FAILED_PRECONDITION", "reason: IDEMPOTENCY_KEY_REUSED"}},
		{"capture_missing_key", []string{"capture", "-id", "S01-0000001-0000001-C000001", "-amount", "9.00", "-currency", "USD"}, 2, nil, []string{"capture: -key required"}},
		{"refund", []string{"refund", "-id", "S01-0000001-0000001-C000001", "-amount", "5.00", "-currency", "USD", "-key", "cm"}, 10,
			[]string{"outcome:               PENDING", "state:                 REFUND_INITIATED", "refund_amount:         5.00 USD"}, nil},
		{"charge_create", []string{"charge-create", "-permission", "S01-0000001-0000001", "-amount", "10.00", "-currency", "USD", "-key", "k"}, 0, []string{"state:                 AUTHORIZED"}, nil},
		{"charge_create_soft_declined", []string{"charge-create", "-permission", "S01-0000001-0000002", "-amount", "10.00", "-currency", "USD", "-key", "k"}, 12,
			[]string{"outcome:               DECLINED", "reason_code:           SoftDeclined"}, nil},
		{"close", []string{"close", "-permission", "S01-0000001-0000001", "-reason", "done"}, 0, []string{"outcome:               COMPLETED", "CLOSED"}, nil},
		{"close_missing_reason", []string{"close", "-permission", "S01-0000001-0000001"}, 2, nil, []string{"close: -permission and -reason are required"}},
		{"refund_get_refunded", []string{"refund-get", "-id", "S01-0000001-0000001-R000001"}, 0, []string{"state:                 REFUNDED"}, nil},
		{"refund_get_declined", []string{"refund-get", "-id", "S01-0000001-0000001-R000002"}, 12, []string{"reason_code:           AmazonRejected"}, nil},
		{"refund_missing_amount", []string{"refund", "-id", "S01-0000001-0000001-C000001", "-currency", "USD", "-key", "k"}, 2, nil, []string{"refund: -amount required"}},
		{"cancel", []string{"cancel", "-id", "S01-0000001-0000001-C000001"}, 0, []string{"outcome:               CANCELED", "state:                 CANCELED"}, nil},
		{"cancel_unknown", []string{"cancel", "-id", "S01-0000001-0000001-C000004"}, 11, []string{"outcome:               UNKNOWN"}, nil},
		{"charge_permission", []string{"charge-permission", "-id", "S01-5105180-3221187"}, 0, []string{"buyer:                 Jane Doe <jane@example.com>", "CHARGEABLE"}, nil},
		{"list_every_page", []string{"list", "-outcome", "UNKNOWN,DECLINED", "-since", "24h"}, 0,
			[]string{"2026-12-01T09:00:00Z UNKNOWN   " + session + " order-2 14.00 USD next_check_time=2026-12-01T09:01:00Z\n" +
				"2026-12-01T09:00:00Z DECLINED  " + session + " order-1 1000 JPY reason_code=HardDeclined\n"}, nil},
		{"list_first_page", []string{"list", "-page-token", ""}, 0, []string{"order-2"}, []string{"client: next page: list -page-token p2"}},
		{"list_bad_outcome", []string{"list", "-outcome", "SETTLED"}, 2, nil, []string{`unknown outcome "SETTLED"`}},
		{"list_bad_since", []string{"list", "-since", "yesterday"}, 2, nil, []string{"-since: want a duration"}},
		{"usage", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`, "Run 'client -help'"}},
		{"help", []string{"-help"}, 0, []string{"Exit status:", "10  pending"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			args := append([]string{"-token-file", tokenFile}, tt.args...)
			code := runCLI(t.Context(), args, noEnv, &out, &errOut, bufDial(lis))
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out.String(), errOut.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantErrOut {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
		})
	}
	t.Run("watch_json_lines", func(t *testing.T) {
		t.Parallel()
		var out, errOut bytes.Buffer
		code := runCLI(t.Context(), []string{"-token-file", tokenFile, "-json", "watch", "-session", session}, noEnv, &out, &errOut, bufDial(lis))
		if code != exitCanceled {
			t.Fatalf("exit = %d, want %d; stderr %s", code, exitCanceled, errOut.String())
		}
		var got []pb.Outcome
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			p := &pb.Payment{}
			if err := protojson.Unmarshal([]byte(line), p); err != nil {
				t.Fatalf("line %q is not a Payment: %v", line, err)
			}
			got = append(got, p.GetOutcome())
		}
		want := []pb.Outcome{pb.Outcome_OUTCOME_PENDING, pb.Outcome_OUTCOME_PENDING, pb.Outcome_OUTCOME_CANCELED}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
	})
	t.Run("without_token", func(t *testing.T) {
		t.Parallel()
		var out, errOut bytes.Buffer
		code := runCLI(t.Context(), []string{"payment", "-order", "order-1"}, noEnv, &out, &errOut, bufDial(lis))
		if code != exitUnauthenticated || !strings.Contains(errOut.String(), "reason: UNAUTHENTICATED") {
			t.Errorf("exit = %d, stderr %q; want 7 with reason UNAUTHENTICATED", code, errOut.String())
		}
	})
}

// scriptedWatch serves WatchPayment from a script: call i sends
// streams[i]'s payments, then ends with ends[i] (nil: OK). Calls past the
// script repeat its last stream.
type scriptedWatch struct {
	pb.UnimplementedPaymentCompletionServiceServer
	streams [][]*pb.Payment
	ends    []error

	mu    sync.Mutex
	calls int
}

func (s *scriptedWatch) WatchPayment(_ *pb.WatchPaymentRequest, stream grpc.ServerStreamingServer[pb.WatchPaymentResponse]) error {
	s.mu.Lock()
	i := min(s.calls, len(s.streams)-1)
	s.calls++
	s.mu.Unlock()
	for _, p := range s.streams[i] {
		if err := stream.Send(&pb.WatchPaymentResponse{Payment: p}); err != nil {
			return err
		}
	}
	return s.ends[i]
}

func (s *scriptedWatch) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func TestWatchReopens(t *testing.T) {
	t.Parallel()
	at := func(sec int64, o pb.Outcome) *pb.Payment {
		return &pb.Payment{CheckoutSessionId: session, Outcome: o, UpdateTime: timestamppb.New(time.Unix(1_790_000_000+sec, 0))}
	}
	pending, pendingLater := at(1, pb.Outcome_OUTCOME_PENDING), at(2, pb.Outcome_OUTCOME_PENDING)
	canceled := at(3, pb.Outcome_OUTCOME_CANCELED)
	shuttingDown := status.Error(codes.Unavailable, "server is shutting down; retry the call")
	fast := reopenPolicy{min: time.Millisecond, max: 4 * time.Millisecond, giveUpAfter: time.Minute}

	tests := []struct {
		name      string
		streams   [][]*pb.Payment
		ends      []error
		policy    reopenPolicy
		wantCode  int
		wantErr   codes.Code // codes.OK: no error
		wantLines []string   // outcome of each update printed
		wantCalls int        // 0: at least 2
		wantNote  bool
	}{
		{
			name:    "shutdown_then_final",
			streams: [][]*pb.Payment{{pending}, {pending, canceled}},
			ends:    []error{shuttingDown, nil},
			policy:  fast, wantCode: exitCanceled,
			wantLines: []string{"PENDING", "CANCELED"}, wantCalls: 2, wantNote: true,
		},
		{
			name:    "changed_while_away",
			streams: [][]*pb.Payment{{pending}, {}, {pendingLater, canceled}},
			ends:    []error{shuttingDown, status.Error(codes.Unavailable, "connection refused"), nil},
			policy:  fast, wantCode: exitCanceled,
			wantLines: []string{"PENDING", "PENDING", "CANCELED"}, wantCalls: 3, wantNote: true,
		},
		{
			name:    "unreachable_at_start_fails_fast",
			streams: [][]*pb.Payment{{}},
			ends:    []error{status.Error(codes.Unavailable, "connection refused")},
			policy:  fast, wantErr: codes.Unavailable, wantCalls: 1,
		},
		{
			name:    "not_found_is_not_retried",
			streams: [][]*pb.Payment{{}},
			ends:    []error{status.Error(codes.NotFound, "no payment")},
			policy:  fast, wantErr: codes.NotFound, wantCalls: 1,
		},
		{
			name:    "gives_up",
			streams: [][]*pb.Payment{{pending}, {}},
			ends:    []error{shuttingDown, shuttingDown},
			policy:  reopenPolicy{min: time.Millisecond, max: 4 * time.Millisecond, giveUpAfter: 50 * time.Millisecond},
			wantErr: codes.Unavailable, wantLines: []string{"PENDING"}, wantNote: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := &scriptedWatch{streams: tt.streams, ends: tt.ends}
			c := startServer(t, svc, grpcserver.Options{})
			var out, notes bytes.Buffer
			code, err := watch(t.Context(), c, &pb.WatchPaymentRequest{CheckoutSessionId: session}, &printer{w: &out, notes: &notes}, tt.policy)
			if status.Code(err) != tt.wantErr || code != tt.wantCode {
				t.Errorf("watch = %d, %v; want %d, code %v", code, err, tt.wantCode, tt.wantErr)
			}
			var got []string
			for line := range strings.Lines(out.String()) {
				_, after, _ := strings.Cut(line, "outcome=")
				got = append(got, strings.Fields(after)[0])
			}
			if diff := cmp.Diff(tt.wantLines, got); diff != "" {
				t.Errorf("updates printed (-want +got):\n%s", diff)
			}
			if n := svc.callCount(); (tt.wantCalls == 0 && n < 2) || (tt.wantCalls != 0 && n != tt.wantCalls) {
				t.Errorf("%d streams opened, want %d (0: at least 2)", n, tt.wantCalls)
			}
			if hasNote := strings.Contains(notes.String(), "re-opening"); hasNote != tt.wantNote {
				t.Errorf("notes = %q, want a re-opening note: %v", notes.String(), tt.wantNote)
			}
		})
	}
}

func TestListOnePageOnly(t *testing.T) {
	t.Parallel()
	lis := startBuf(t, &recorder{}, grpcserver.Options{})
	var out, errOut bytes.Buffer
	code := runCLI(t.Context(), []string{"list", "-page-token", ""}, noEnv, &out, &errOut, bufDial(lis))
	if code != 0 || strings.Contains(out.String(), "order-1") {
		t.Errorf("exit %d, stdout %q: want only the first page", code, out.String())
	}
	out.Reset()
	errOut.Reset()
	code = runCLI(t.Context(), []string{"-json", "list", "-page-token", "p2"}, noEnv, &out, &errOut, bufDial(lis))
	var resp pb.ListPaymentsResponse
	if err := protojson.Unmarshal(out.Bytes(), &resp); err != nil || code != 0 || len(resp.GetPayments()) != 1 || resp.GetPayments()[0].GetOrderId() != "order-1" {
		t.Errorf("-json one page: exit %d, %v, stdout %s", code, err, out.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("last page: stderr %q, want no next-page note", errOut.String())
	}
}

func TestPointInTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.December, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"24h", now.Add(-24 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"0s", now, false},
		{"2026-11-30T08:00:00+01:00", time.Date(2026, time.November, 30, 7, 0, 0, 0, time.UTC), false},
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"2026-11-30", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := pointInTime(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("pointInTime(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestUsageErrorsAreShort checks that a usage error prints its one line,
// the usage of the command given (when it is one) and where the rest is,
// not the whole usage.
func TestUsageErrorsAreShort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		want     []string
		notWant  string
		maxLines int
	}{
		{"missing_flags", []string{"complete", "-session", session}, []string{
			"client: complete: -order, -amount, -currency required\n",
			"-session ID -order ID -amount DECIMAL -currency CODE",
			"Run 'client -help'"}, "Exit status:", 5},
		{"unknown_flag", []string{"capture", "-charge", "C1"}, []string{
			"client: capture: flag provided but not defined: -charge\n",
			"-id CHARGE_ID -amount DECIMAL", "Run 'client -help'"}, "refund-get", 6},
		{"last_command", []string{"list", "-outcome", "SETTLED"}, []string{
			`unknown outcome "SETTLED"`, "[-outcome UNKNOWN,PENDING]", "Run 'client -help'"}, "Global flags", 7},
		{"unknown_command", []string{"frobnicate"}, []string{`client: unknown command "frobnicate"`, "Run 'client -help'"}, "usage:", 2},
		{"no_command", nil, []string{"client: no command given", "Run 'client -help'"}, "usage:", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			dial := func(string, credentials.TransportCredentials) (*grpc.ClientConn, error) {
				t.Error("a usage error dialed the service")
				return nil, errors.New("not dialed")
			}
			code := runCLI(t.Context(), tt.args, noEnv, &out, &errOut, dial)
			got := errOut.String()
			if code != exitUsage || out.Len() != 0 {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("stderr lacks %q:\n%s", w, got)
				}
			}
			if strings.Contains(got, tt.notWant) || strings.Count(got, "\n") > tt.maxLines {
				t.Errorf("stderr has %q or more than %d lines:\n%s", tt.notWant, tt.maxLines, got)
			}
		})
	}
}

// filteredLister serves a listing the way the service does: a page token
// belongs to the filter of the listing it came from, and a request with
// the token and another filter is INVALID_ARGUMENT. With empty set, it has
// no payments at all.
type filteredLister struct {
	pb.UnimplementedPaymentCompletionServiceServer
	empty bool
	mu    sync.Mutex
	first *pb.ListPaymentsRequest // the filter the token "t1" was issued for
}

func (f *filteredLister) ListPayments(_ context.Context, req *pb.ListPaymentsRequest) (*pb.ListPaymentsResponse, error) {
	if f.empty {
		return &pb.ListPaymentsResponse{}, nil
	}
	filter := &pb.ListPaymentsRequest{Outcomes: req.GetOutcomes(), CreateTimeStart: req.GetCreateTimeStart(), CreateTimeEnd: req.GetCreateTimeEnd()}
	f.mu.Lock()
	defer f.mu.Unlock()
	payment := func(order string) []*pb.Payment {
		return []*pb.Payment{{CheckoutSessionId: session, OrderId: order, Outcome: pb.Outcome_OUTCOME_PENDING,
			ChargeAmount: &pb.Money{Amount: "14.00", CurrencyCode: "USD"}, CreateTime: timestamppb.Now()}}
	}
	switch req.GetPageToken() {
	case "":
		f.first = filter
		return &pb.ListPaymentsResponse{Payments: payment("order-2"), NextPageToken: "t1"}, nil
	case "t1":
		if !proto.Equal(filter, f.first) {
			return nil, status.Error(codes.InvalidArgument, "page_token belongs to another filter")
		}
		return &pb.ListPaymentsResponse{Payments: payment("order-1")}, nil
	default:
		return nil, status.Error(codes.InvalidArgument, "bad token")
	}
}

// TestListNextPageHint follows the next-page hint of a listing filtered
// with durations: the hint gives the instants the first page was asked
// with, so the next page is served, where repeating "-since 24h" is not.
func TestListNextPageHint(t *testing.T) {
	t.Parallel()
	lis := startBuf(t, &filteredLister{}, grpcserver.Options{})
	filters := []string{"-outcome", "pending,unknown", "-since", "24h", "-until", "1m", "-page-size", "1"}
	var out, errOut bytes.Buffer
	code := runCLI(t.Context(), append(append([]string{"list"}, filters...), "-page-token", ""), noEnv, &out, &errOut, bufDial(lis))
	_, hint, ok := strings.Cut(errOut.String(), "client: next page: list ")
	if code != 0 || !strings.Contains(out.String(), "order-2") || !ok {
		t.Fatalf("first page: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	next := strings.Fields(hint)
	if !strings.Contains(hint, "-outcome PENDING,UNKNOWN -since 20") || !strings.HasSuffix(strings.TrimSpace(hint), "-page-size 1 -page-token t1") {
		t.Errorf("hint %q: want the outcomes, RFC 3339 instants, the page size and the token", hint)
	}

	// The flags as first given, with the token: another instant, refused.
	out.Reset()
	errOut.Reset()
	code = runCLI(t.Context(), append(append([]string{"list"}, filters...), "-page-token", "t1"), noEnv, &out, &errOut, bufDial(lis))
	if code != exitInvalidArgument {
		t.Errorf("repeating -since 24h: exit %d, want %d (the fake must refuse another filter); stderr %q", code, exitInvalidArgument, errOut.String())
	}

	out.Reset()
	errOut.Reset()
	code = runCLI(t.Context(), append([]string{"list"}, next...), noEnv, &out, &errOut, bufDial(lis))
	if code != 0 || !strings.Contains(out.String(), "order-1") || strings.Contains(errOut.String(), "next page") {
		t.Errorf("the hinted command %v: exit %d, stdout %q, stderr %q", next, code, out.String(), errOut.String())
	}
}

// TestListEmpty checks that a listing with nothing in it says so on
// stderr, leaving stdout (lines or JSON) empty.
func TestListEmpty(t *testing.T) {
	t.Parallel()
	lis := startBuf(t, &filteredLister{empty: true}, grpcserver.Options{})
	for _, args := range [][]string{
		{"list"},
		{"list", "-outcome", "UNKNOWN", "-since", "1h"},
		{"-json", "list"},
		{"list", "-page-token", ""},
	} {
		var out, errOut bytes.Buffer
		code := runCLI(t.Context(), args, noEnv, &out, &errOut, bufDial(lis))
		if code != 0 || errOut.String() != "client: no payments match\n" {
			t.Errorf("%v: exit %d, stderr %q; want 0 and \"no payments match\"", args, code, errOut.String())
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q, want nothing", args, out.String())
		}
	}
}
