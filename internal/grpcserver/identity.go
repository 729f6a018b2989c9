package grpcserver

import (
	"context"
	"crypto/rand"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/callers"
	"github.com/paymentcompletion/paymentcompletion/internal/logcontext"
	"github.com/paymentcompletion/paymentcompletion/internal/rpcstatus"
)

// RequestIDHeader is the metadata key of a call's request ID: taken from the
// caller's request when it sends a usable one, generated otherwise, and
// returned in the response headers.
const RequestIDHeader = "x-request-id"

// maxRequestIDLen bounds an incoming request ID; a longer or unprintable one
// is replaced, so a caller cannot put arbitrary text into the logs.
const maxRequestIDLen = 128

// requestID returns the call's request ID: the caller's x-request-id if it
// is 1 to 128 printable ASCII characters without spaces, else a new random
// one (26 base32 characters).
func requestID(ctx context.Context) string {
	if vs := metadata.ValueFromIncomingContext(ctx, RequestIDHeader); len(vs) > 0 {
		id := vs[0]
		if id != "" && len(id) <= maxRequestIDLen &&
			!strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return id
		}
	}
	return rand.Text()
}

// withCall starts the call's log identity and returns its request ID in the
// response headers. The header is sent with the first response (or the
// status), so it reaches callers also when the call fails.
func withCall(ctx context.Context, setHeader func(metadata.MD) error) context.Context {
	c := &logcontext.Call{RequestID: requestID(ctx)}
	_ = setHeader(metadata.Pairs(RequestIDHeader, c.RequestID))
	return logcontext.WithCall(ctx, c)
}

func requestIDUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx = withCall(ctx, func(md metadata.MD) error { return grpc.SetHeader(ctx, md) })
	return handler(ctx, req)
}

func requestIDStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := withCall(ss.Context(), ss.SetHeader)
	return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
}

// contextStream is a ServerStream with a derived context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// MethodNames are the short names of the service's methods, the names a
// callers file grants.
func MethodNames() []string {
	var names []string
	for _, m := range pb.PaymentCompletionService_ServiceDesc.Methods {
		names = append(names, m.MethodName)
	}
	for _, s := range pb.PaymentCompletionService_ServiceDesc.Streams {
		names = append(names, s.StreamName)
	}
	return names
}

// callerAuth recognises the caller of a call, by its bearer token or its
// verified client certificate, records it for the call's log lines and
// checks that it may call the method. A bearer token, when sent, decides:
// an unknown token is refused even if the certificate would be known.
func callerAuth(current func() *callers.Set) auth.AuthFunc {
	return func(ctx context.Context) (context.Context, error) {
		set := current()
		caller, err := identify(ctx, set)
		if err != nil {
			return nil, err
		}
		if c := logcontext.FromContext(ctx); c != nil {
			c.SetCaller(caller.Name)
		}
		full, _ := grpc.Method(ctx)
		method := full[strings.LastIndexByte(full, '/')+1:]
		if !caller.Allowed(method) {
			return nil, rpcstatus.Error(codes.PermissionDenied, "caller "+caller.Name+" may not call "+method,
				pb.ErrorReason_ERROR_REASON_PERMISSION_DENIED, map[string]string{"caller": caller.Name, "method": method})
		}
		return ctx, nil
	}
}

func identify(ctx context.Context, set *callers.Set) (*callers.Caller, error) {
	if token, err := auth.AuthFromMD(ctx, "bearer"); err == nil {
		if token == "" {
			// "Bearer " with nothing after it: a client whose token
			// variable was empty. It is nobody's token.
			return nil, statusError(codes.Unauthenticated, "empty bearer token", pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)
		}
		if c, ok := set.ByToken(token); ok {
			return c, nil
		}
		return nil, statusError(codes.Unauthenticated, "invalid bearer token", pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
			if c, ok := set.ByCertificate(ti.State.VerifiedChains[0][0]); ok {
				return c, nil
			}
			return nil, statusError(codes.Unauthenticated, "client certificate of no known caller", pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)
		}
	}
	return nil, statusError(codes.Unauthenticated, "missing bearer token", pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)
}
