package grpcserver

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// Requests that gRPC itself cannot decode or accept would be answered by
// gRPC with no ErrorInfo, and from inside its receive path, which writes
// the status before any interceptor can change it: INTERNAL for bytes that
// do not unmarshal (blaming the server for the client's message) and
// RESOURCE_EXHAUSTED past the size limit. So the server's codec never fails
// a request: it records why the request is unacceptable, and the receive
// checks (decodeCheck for unary calls, validatingStream for streams)
// answer INVALID_ARGUMENT MALFORMED_REQUEST or RESOURCE_EXHAUSTED
// REQUEST_TOO_LARGE instead.

// transportLimitFactor sets gRPC's own receive limit a multiple above the
// service's: requests up to it reach the codec and get the contract's
// error; larger ones are refused by gRPC before they are read (no ErrorInfo
// then), so no request costs more than that much memory.
const transportLimitFactor = 16

// receiveCodec is the proto codec with decoding failures held back for
// receiveFailure.
type receiveCodec struct {
	proto encoding.CodecV2
	limit int
	// failed maps a message being received (its pointer) to the error its
	// receiver must return; the entry lives only between Unmarshal and the
	// receiver's check right after it.
	failed sync.Map
}

func newReceiveCodec(limit int) *receiveCodec {
	return &receiveCodec{proto: encoding.GetCodecV2("proto"), limit: limit}
}

func (c *receiveCodec) Name() string { return c.proto.Name() }

func (c *receiveCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c *receiveCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if n := data.Len(); n > c.limit {
		c.failed.Store(v, statusError(codes.ResourceExhausted,
			fmt.Sprintf("request of %d bytes is larger than the %d bytes accepted", n, c.limit),
			pb.ErrorReason_ERROR_REASON_REQUEST_TOO_LARGE))
		return nil
	}
	if err := c.proto.Unmarshal(data, v); err != nil {
		c.failed.Store(v, statusError(codes.InvalidArgument, "request could not be decoded: "+err.Error(),
			pb.ErrorReason_ERROR_REASON_MALFORMED_REQUEST))
	}
	return nil
}

// receiveFailure returns (and forgets) the error recorded for m by the last
// Unmarshal into it, or err when there is none.
func (c *receiveCodec) receiveFailure(m any, err error) error {
	if f, ok := c.failed.LoadAndDelete(m); ok {
		return f.(error)
	}
	return err
}

// decodeCheck refuses a unary request whose decoding failed. gRPC decodes
// a unary request before the interceptor chain runs, so the chain sees
// every request of every service; decodeCheck must come before any
// interceptor that can return without calling the handler (auth), so that
// no recorded failure is left behind.
func decodeCheck(codec *receiveCodec) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := codec.receiveFailure(req, nil); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}
