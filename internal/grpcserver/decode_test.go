package grpcserver_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
	"github.com/paymentcompletion/paymentcompletion/internal/rpcstatus"
)

// rawCodec sends pre-encoded bytes as the request, so a test can send what
// no proto marshaller would produce. It keeps the name "proto" so the
// server decodes with its usual codec.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// withBadUTF8 returns m's encoding with the string field named field set to
// bytes that are not UTF-8.
func withBadUTF8(t *testing.T, m proto.Message, field protoreflect.Name) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	fd := m.ProtoReflect().Descriptor().Fields().ByName(field)
	if fd == nil {
		t.Fatalf("no field %s", field)
	}
	b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
	return protowire.AppendBytes(b, []byte("order-\xff\xfe"))
}

// TestUndecodableRequests checks that requests gRPC itself cannot decode or
// accept are answered in the contract: INVALID_ARGUMENT MALFORMED_REQUEST
// for bytes that do not decode, RESOURCE_EXHAUSTED REQUEST_TOO_LARGE past
// the size limit, each with an ErrorInfo, for unary calls and streams of
// every service.
func TestUndecodableRequests(t *testing.T) {
	t.Parallel()
	valid := &pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: usd("14.00"), OrderId: "order-1"}
	badUnary := withBadUTF8(t, valid, "order_id")
	large, err := proto.Marshal(&pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: usd("14.00"), OrderId: strings.Repeat("o", grpcserver.DefaultMaxRecvMsgSize)})
	if err != nil {
		t.Fatal(err)
	}
	badWatch := withBadUTF8(t, &pb.WatchPaymentRequest{CheckoutSessionId: sessionID}, "checkout_session_id")
	tests := []struct {
		name   string
		method string
		stream bool
		req    []byte
		code   codes.Code
		reason string
	}{
		{"unary_bad_utf8", pb.PaymentCompletionService_CompleteCheckout_FullMethodName, false, badUnary, codes.InvalidArgument, "MALFORMED_REQUEST"},
		{"unary_not_protobuf", pb.PaymentCompletionService_GetPayment_FullMethodName, false, []byte{0xff, 0xff, 0xff}, codes.InvalidArgument, "MALFORMED_REQUEST"},
		{"unary_too_large", pb.PaymentCompletionService_CompleteCheckout_FullMethodName, false, large, codes.ResourceExhausted, "REQUEST_TOO_LARGE"},
		{"stream_bad_utf8", pb.PaymentCompletionService_WatchPayment_FullMethodName, true, badWatch, codes.InvalidArgument, "MALFORMED_REQUEST"},
		{"stream_too_large", pb.PaymentCompletionService_WatchPayment_FullMethodName, true, large, codes.ResourceExhausted, "REQUEST_TOO_LARGE"},
		{"health_not_protobuf", healthpb.Health_Check_FullMethodName, false, []byte{0xff, 0xff, 0xff}, codes.InvalidArgument, "MALFORMED_REQUEST"},
		{"health_watch_not_protobuf", healthpb.Health_Watch_FullMethodName, true, []byte{0xff, 0xff, 0xff}, codes.InvalidArgument, "MALFORMED_REQUEST"},
	}
	forEachTransport(t, func(t *testing.T, transport string) {
		h := start(t, transport, newFakeService(), grpcserver.Options{}, false)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				err := rawCall(t.Context(), h.conn, tt.method, tt.stream, tt.req)
				if status.Code(err) != tt.code {
					t.Fatalf("%s = %v, want %v", tt.method, err, tt.code)
				}
				info, _ := details(t, err)
				if info.GetReason() != tt.reason || info.GetDomain() != rpcstatus.Domain {
					t.Errorf("ErrorInfo = %v, want reason %s domain %s", info, tt.reason, rpcstatus.Domain)
				}
			})
		}
		// The same connection still serves well-formed calls.
		if _, err := h.client.CompleteCheckout(t.Context(), valid); err != nil {
			t.Errorf("valid call after the bad ones: %v", err)
		}
	})
}

// rawCall sends req as the one request message of method and returns the
// call's error (for a stream, the error that ends it).
func rawCall(ctx context.Context, conn *grpc.ClientConn, method string, stream bool, req []byte) error {
	if !stream {
		var resp []byte
		return conn.Invoke(ctx, method, req, &resp, grpc.ForceCodec(rawCodec{}))
	}
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	if err := s.SendMsg(req); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	for {
		var resp []byte
		if err := s.RecvMsg(&resp); err != nil {
			return err
		}
	}
}
