package grpcapi

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error the service
// returns.
const ErrorDomain = "paymentcompletion"

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
		if code == codes.Internal || code == codes.Unavailable {
			s.d.Logger.WarnContext(ctx, "request failed", "reason", e.Reason, "error", err.Error())
		}
		st := status.New(code, e.Message)
		info := &errdetails.ErrorInfo{Reason: e.Reason, Domain: ErrorDomain, Metadata: e.Metadata}
		if withInfo, derr := st.WithDetails(info); derr == nil {
			return withInfo.Err()
		}
		return st.Err()
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

// amazonReadError classifies a failed read of an Amazon Pay object.
func amazonReadError(err error, notFoundReason, notFoundMsg string) error {
	var apiErr *amazonpay.Error
	var tErr *amazonpay.TransportError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		if !errors.As(err, &tErr) {
			return err
		}
		fallthrough
	case errors.As(err, &tErr):
		return completion.NewError(completion.KindUnavailable, completion.ReasonAmazonPayUnavailable,
			"Amazon Pay could not be reached; retry the same call", err, nil)
	case errors.As(err, &apiErr):
		md := map[string]string{"amazon_reason_code": apiErr.ReasonCode}
		switch {
		case apiErr.StatusCode == http.StatusNotFound:
			return completion.NewError(completion.KindNotFound, notFoundReason, notFoundMsg, err, md)
		case apiErr.Retryable:
			return completion.NewError(completion.KindUnavailable, completion.ReasonAmazonPayUnavailable,
				"Amazon Pay is unavailable or throttling; retry the same call", err, md)
		case apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden:
			return completion.NewError(completion.KindInternal, completion.ReasonAmazonPayAuthFailed,
				"Amazon Pay refused the service's credentials", err, md)
		default:
			return completion.NewError(completion.KindFailedPrecondition, completion.ReasonAmazonPayRejected,
				"Amazon Pay rejected the request: "+apiErr.ReasonCode, err, md)
		}
	default:
		return err
	}
}
