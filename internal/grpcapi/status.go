package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/overload"
	"github.com/paymentcompletion/paymentcompletion/internal/rpcstatus"
)

var kindCodes = map[completion.Kind]codes.Code{
	completion.KindInvalid:            codes.InvalidArgument,
	completion.KindNotFound:           codes.NotFound,
	completion.KindFailedPrecondition: codes.FailedPrecondition,
	completion.KindUnavailable:        codes.Unavailable,
	completion.KindInternal:           codes.Internal,
}

// status is the one place where an error becomes a gRPC status. Domain
// errors carry an ErrorInfo; anything else is logged and answered with a
// generic INTERNAL, so internals never reach the caller.
func (s *Server) status(ctx context.Context, err error) error {
	if e, ok := completion.AsError(err); ok {
		code, known := kindCodes[e.Kind]
		if !known {
			code = codes.Internal
		}
		reason, known := rpcstatus.ParseReason(e.Reason)
		if !known {
			// A defect: every domain reason is in the contract (tested).
			s.d.Logger.ErrorContext(ctx, "domain error reason missing from the contract", "reason", e.Reason)
			code, reason = codes.Internal, pb.ErrorReason_ERROR_REASON_UNSPECIFIED
		}
		if code == codes.Internal || code == codes.Unavailable {
			s.d.Logger.WarnContext(ctx, "request failed", "reason", e.Reason, "error", err.Error())
		}
		if code == codes.Unavailable {
			// Every retryable error says when to retry: after Amazon Pay's
			// Retry-After when it throttled us and gave one, else after the
			// pause or wait of the operation's rate limit; after the
			// time places take to free up when one of the service's own
			// limits refused the call, wherever in the call that was (an
			// Amazon Pay call refused by the gate makes the completion
			// withdraw its attempt as unsent).
			delay, msg := completion.RetryDelay(err), e.Message
			if oe, ok := overload.AsError(err); ok {
				reason, delay = pb.ErrorReason_ERROR_REASON_OVERLOADED, oe.RetryAfter
				msg = "the service is at its limit of " + oe.Limit + "; nothing was recorded or sent to Amazon Pay, retry the same call after the RetryInfo delay"
			}
			return rpcstatus.Error(code, msg, reason, e.Metadata, rpcstatus.RetryInfo(delay))
		}
		if e.Field != "" && code == codes.InvalidArgument {
			return rpcstatus.Error(code, e.Message, reason, e.Metadata, &errdetails.BadRequest{
				FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: e.Field, Description: e.Message}},
			})
		}
		return rpcstatus.Error(code, e.Message, reason, e.Metadata)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (e.g. a failed stream Send)
	}
	s.d.Logger.ErrorContext(ctx, "internal error", "error", err.Error())
	return status.Error(codes.Internal, "internal error")
}

// amazonReadError is the answer to a failed read of an Amazon Pay object,
// by the one failure policy (completion.AmazonFailure).
func amazonReadError(err error, call completion.Call) error {
	return completion.AmazonReadError(call, err)
}
