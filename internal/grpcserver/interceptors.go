package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/rpcstatus"
)

// statusError builds a status with a google.rpc.ErrorInfo detail, plus any
// further details.
func statusError(c codes.Code, msg string, r pb.ErrorReason, details ...protoadapt.MessageV1) error {
	return rpcstatus.Error(c, msg, r, nil, details...)
}

// infrastructure reports whether a call belongs to the health or reflection
// services, which are exempt from logging and auth: load balancers and
// probes call health every few seconds, and neither carries business data.
func infrastructure(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service == healthpb.Health_ServiceDesc.ServiceName ||
		strings.HasPrefix(c.Service, "grpc.reflection.")
}

func not(f func(context.Context, interceptors.CallMeta) bool) selector.Matcher {
	return selector.MatchFunc(func(ctx context.Context, c interceptors.CallMeta) bool { return !f(ctx, c) })
}

// interceptors returns the unary and stream chains, outermost first:
// metrics, the request ID (and the call's log identity), logging, shutdown handling of streams (and the default deadline of unary
// calls), auth, validation, recovery. Recovery is innermost so a panic
// becomes an INTERNAL status that logging still records.
func (s *Server) interceptors(opts Options, codec *receiveCodec) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	business := not(infrastructure)
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		opts.Logger.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	logOpts := []logging.Option{
		// Only the finish line: requests and responses carry buyer PII and
		// must never be logged, so no payload events.
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithDurationField(func(d time.Duration) logging.Fields {
			return logging.Fields{"grpc.duration_ms", float64(d.Microseconds()) / 1000}
		}),
	}
	recoverOpts := []recovery.Option{recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		// The stack goes to the log only; the caller learns nothing about
		// the server's internals.
		opts.Logger.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})}

	var (
		unary  []grpc.UnaryServerInterceptor
		stream []grpc.StreamServerInterceptor
	)
	if opts.Metrics != nil {
		// Outermost, so the handled counts and times include every refusal.
		unary = append(unary, opts.Metrics.UnaryServerInterceptor())
		stream = append(stream, opts.Metrics.StreamServerInterceptor())
	}
	unary = append(unary,
		requestIDUnary,
		selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(logger, logOpts...), business),
		defaultDeadline(opts.DefaultCallTimeout),
		// Before anything that may refuse a call (auth): it must see every
		// request.
		decodeCheck(codec),
	)
	stream = append(stream,
		requestIDStream,
		selector.StreamServerInterceptor(logging.StreamServerInterceptor(logger, logOpts...), business),
		s.streams.interceptor,
	)
	if opts.Callers != nil {
		authFn := callerAuth(opts.Callers)
		unary = append(unary, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authFn), business))
		stream = append(stream, selector.StreamServerInterceptor(auth.StreamServerInterceptor(authFn), business))
	}
	unary = append(unary,
		validateUnary(opts.Validator, opts.Logger),
		recovery.UnaryServerInterceptor(recoverOpts...),
	)
	stream = append(stream,
		validateStream(opts.Validator, opts.Logger, codec),
		recovery.StreamServerInterceptor(recoverOpts...),
	)
	return unary, stream
}

// defaultDeadline gives unary calls without a deadline one of d, so no call
// can hold a handler (and its store and Amazon Pay calls) forever.
func defaultDeadline(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return handler(ctx, req)
	}
}

// validateUnary rejects requests that break their protovalidate rules before
// the handler sees them.
func validateUnary(v protovalidate.Validator, logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := validate(ctx, v, logger, req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// validateStream validates every message the handler receives; the
// service's only stream (WatchPayment) receives exactly one, its request.
func validateStream(v protovalidate.Validator, logger *slog.Logger, codec *receiveCodec) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, v: v, logger: logger, codec: codec})
	}
}

type validatingStream struct {
	grpc.ServerStream
	v      protovalidate.Validator
	logger *slog.Logger
	codec  *receiveCodec
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := s.codec.receiveFailure(m, nil); err != nil {
		return err
	}
	return validate(s.Context(), s.v, s.logger, m)
}

// validate turns a protovalidate failure into INVALID_ARGUMENT carrying a
// google.rpc.BadRequest (one field violation per broken rule) and an
// ErrorInfo with reason INVALID_REQUEST. Violation messages describe the
// rule, never the offending value, so they are safe to return and log.
func validate(ctx context.Context, v protovalidate.Validator, logger *slog.Logger, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		logger.ErrorContext(ctx, "validate: not a proto message", "type", fmt.Sprintf("%T", m))
		return status.Error(codes.Internal, "internal error")
	}
	err := v.Validate(msg)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		// A rule that does not compile or evaluate is a bug in the contract
		// or the validator, not the caller's fault.
		logger.ErrorContext(ctx, "validate: rules failed to evaluate", "error", err.Error())
		return status.Error(codes.Internal, "internal error")
	}
	br := &errdetails.BadRequest{}
	descs := make([]string, 0, len(verr.Violations))
	for _, viol := range verr.Violations {
		field := protovalidate.FieldPathString(viol.Proto.GetField())
		desc := viol.Proto.GetMessage()
		if desc == "" {
			desc = "violates rule " + viol.Proto.GetRuleId()
		}
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       field,
			Description: desc,
			Reason:      viol.Proto.GetRuleId(),
		})
		if field != "" {
			desc = field + ": " + desc
		}
		descs = append(descs, desc)
	}
	return statusError(codes.InvalidArgument, "invalid request: "+strings.Join(descs, "; "),
		pb.ErrorReason_ERROR_REASON_INVALID_REQUEST, br)
}
