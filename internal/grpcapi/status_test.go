package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/amazongate"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/overload"
	"github.com/paymentcompletion/paymentcompletion/internal/rpcstatus"
)

func quietServer() *Server {
	return NewServer(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// errorInfo returns the code, the ErrorInfo (nil if none) and the number of
// details of a status error.
func errorInfo(t *testing.T, err error) (codes.Code, *errdetails.ErrorInfo, int) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%v (%T) is not a status", err, err)
	}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	return st.Code(), info, len(st.Details())
}

func TestEveryReasonIsInTheContract(t *testing.T) {
	t.Parallel()
	for _, r := range append(slices.Clone(completion.Reasons), chargeops.Reasons...) {
		if _, ok := pb.ErrorReason_value["ERROR_REASON_"+r]; !ok {
			t.Errorf("reason %q is not a value of ErrorReason", r)
		}
		if got, ok := rpcstatus.ParseReason(r); !ok || rpcstatus.Reason(got) != r {
			t.Errorf("ParseReason(%q) = %v, %v", r, got, ok)
		}
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	md := map[string]string{"order_id": "o-1"}
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantReason string // "" for no ErrorInfo
		wantMD     map[string]string
		wantMsg    string
	}{
		{"invalid", completion.NewError(completion.KindInvalid, completion.ReasonInvalidRequest, "order_id: required", nil, nil),
			codes.InvalidArgument, "INVALID_REQUEST", nil, "order_id: required"},
		{"not found", completion.NewError(completion.KindNotFound, completion.ReasonPaymentNotFound, "none", nil, nil),
			codes.NotFound, "PAYMENT_NOT_FOUND", nil, "none"},
		{"precondition with metadata", completion.NewError(completion.KindFailedPrecondition, completion.ReasonSessionBoundToOtherRequest, "bound", nil, md),
			codes.FailedPrecondition, "SESSION_BOUND_TO_OTHER_REQUEST", md, "bound"},
		{"unavailable, wrapped", fmt.Errorf("watch: %w", completion.NewError(completion.KindUnavailable, completion.ReasonStoreUnavailable, "store down", errors.New("dial"), nil)),
			codes.Unavailable, "STORE_UNAVAILABLE", nil, "store down"},
		{"internal", completion.NewError(completion.KindInternal, completion.ReasonAmazonPayAuthFailed, "credentials", nil, nil),
			codes.Internal, "AMAZON_PAY_AUTH_FAILED", nil, "credentials"},
		{"unknown kind", completion.NewError(completion.Kind(99), completion.ReasonInvalidRequest, "odd", nil, nil),
			codes.Internal, "INVALID_REQUEST", nil, "odd"},
		{"reason outside the contract", completion.NewError(completion.KindNotFound, "NO_SUCH_REASON", "odd", nil, nil),
			codes.Internal, "UNSPECIFIED", nil, "odd"},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "", nil, "deadline exceeded"},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), codes.Canceled, "", nil, "canceled"},
		{"already a status", status.Error(codes.Aborted, "send failed"), codes.Aborted, "", nil, "send failed"},
		{"anything else", errors.New("secret internals"), codes.Internal, "", nil, "internal error"},
	}
	s := quietServer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := s.status(t.Context(), tt.err)
			code, info, _ := errorInfo(t, err)
			if code != tt.wantCode || status.Convert(err).Message() != tt.wantMsg {
				t.Errorf("status = %v %q, want %v %q", code, status.Convert(err).Message(), tt.wantCode, tt.wantMsg)
			}
			switch {
			case tt.wantReason == "" && info != nil:
				t.Errorf("unexpected ErrorInfo %v", info)
			case tt.wantReason != "" && info == nil:
				t.Errorf("no ErrorInfo, want reason %s", tt.wantReason)
			case info != nil:
				if info.GetReason() != tt.wantReason || info.GetDomain() != rpcstatus.Domain || !maps.Equal(info.GetMetadata(), tt.wantMD) {
					t.Errorf("ErrorInfo = %v, want reason %s domain %s metadata %v", info, tt.wantReason, rpcstatus.Domain, tt.wantMD)
				}
			}
		})
	}
}

func TestAmazonReadError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantReason string
		wantAmazon string // amazon_reason_code metadata
	}{
		{"not found", &amazonpay.Error{StatusCode: 404, ReasonCode: amazonpay.CodeResourceNotFound}, codes.NotFound, "CHARGE_NOT_FOUND", amazonpay.CodeResourceNotFound},
		{"throttled", &amazonpay.Error{StatusCode: 429, ReasonCode: amazonpay.CodeTooManyRequests, Retryable: true}, codes.Unavailable, "AMAZON_PAY_UNAVAILABLE", amazonpay.CodeTooManyRequests},
		{"server error", &amazonpay.Error{StatusCode: 500, ReasonCode: amazonpay.CodeInternalServerError, Retryable: true}, codes.Unavailable, "AMAZON_PAY_UNAVAILABLE", amazonpay.CodeInternalServerError},
		{"unreachable", &amazonpay.TransportError{Err: errors.New("refused")}, codes.Unavailable, "AMAZON_PAY_UNAVAILABLE", ""},
		{"lost answer", &amazonpay.TransportError{Err: amazonpay.ErrAttemptTimeout, MayHaveBeenApplied: true}, codes.Unavailable, "AMAZON_PAY_UNAVAILABLE", ""},
		{"credentials", &amazonpay.Error{StatusCode: 401, ReasonCode: amazonpay.CodeInvalidRequestSignature}, codes.Internal, "AMAZON_PAY_AUTH_FAILED", amazonpay.CodeInvalidRequestSignature},
		{"rejected", &amazonpay.Error{StatusCode: 400, ReasonCode: amazonpay.CodeInvalidParameterValue}, codes.FailedPrecondition, "AMAZON_PAY_REJECTED", amazonpay.CodeInvalidParameterValue},
		{"caller gone", context.Canceled, codes.Canceled, "", ""},
		{"undecodable", fmt.Errorf("%w: x", amazonpay.ErrMalformedAnswer), codes.Internal, "", ""},
	}
	s := quietServer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := s.status(t.Context(), amazonReadError(tt.err, completion.CallGetCharge))
			code, info, _ := errorInfo(t, err)
			if code != tt.wantCode || info.GetReason() != tt.wantReason || info.GetMetadata()["amazon_reason_code"] != tt.wantAmazon {
				t.Errorf("status = %v %v, want %v reason %q amazon_reason_code %q", code, info, tt.wantCode, tt.wantReason, tt.wantAmazon)
			}
		})
	}
}

// TestRetryInfo checks that every UNAVAILABLE error says when to retry, with
// Amazon Pay's Retry-After when it throttled the service and gave one, and
// that no other error does.
func TestRetryInfo(t *testing.T) {
	t.Parallel()
	unavailable := func(cause error) error {
		return completion.NewError(completion.KindUnavailable, completion.ReasonAmazonPayUnavailable, "retry", cause, nil)
	}
	tests := []struct {
		name      string
		err       error
		wantDelay time.Duration // 0: no RetryInfo
	}{
		{"throttled with Retry-After", amazonReadError(&amazonpay.Error{StatusCode: 429, ReasonCode: amazonpay.CodeTooManyRequests, Retryable: true, RetryAfter: 7 * time.Second},
			completion.CallGetCharge), 7 * time.Second},
		{"throttled, wrapped", fmt.Errorf("complete: %w", unavailable(&amazonpay.Error{StatusCode: 503, Retryable: true, RetryAfter: 3 * time.Second})), 3 * time.Second},
		{"throttled without Retry-After", unavailable(&amazonpay.Error{StatusCode: 429, Retryable: true}), rpcstatus.DefaultRetryDelay},
		{"Amazon unreachable", unavailable(&amazonpay.TransportError{Err: errors.New("refused")}), rpcstatus.DefaultRetryDelay},
		{"throttled, the rate limit's pause", unavailable(&amazongate.ThrottledError{Err: &amazonpay.Error{StatusCode: 429, Retryable: true}, Pause: 4 * time.Second}), 4 * time.Second},
		{"throttled, Retry-After over the pause", unavailable(&amazongate.ThrottledError{Err: &amazonpay.Error{StatusCode: 429, Retryable: true, RetryAfter: 9 * time.Second}, Pause: 4 * time.Second}), 9 * time.Second},
		{"held back by the rate limit", unavailable(&amazonpay.TransportError{Err: &amazongate.RateError{Operation: "CompleteCheckoutSession", RetryAfter: 1500 * time.Millisecond}}), 1500 * time.Millisecond},
		{"store unavailable", completion.NewError(completion.KindUnavailable, completion.ReasonStoreUnavailable, "store down", errors.New("dial"), nil), rpcstatus.DefaultRetryDelay},
		{"not retryable", completion.NewError(completion.KindFailedPrecondition, completion.ReasonAmountMismatch, "amount", nil, nil), 0},
	}
	s := quietServer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var retry *errdetails.RetryInfo
			for _, d := range status.Convert(s.status(t.Context(), tt.err)).Details() {
				if r, ok := d.(*errdetails.RetryInfo); ok {
					retry = r
				}
			}
			switch {
			case tt.wantDelay == 0 && retry != nil:
				t.Errorf("unexpected RetryInfo %v", retry)
			case tt.wantDelay != 0 && retry.GetRetryDelay().AsDuration() != tt.wantDelay:
				t.Errorf("RetryInfo = %v, want a delay of %v", retry, tt.wantDelay)
			}
		})
	}
}

// TestOverloadStatus: a refusal by one of the service's limits, wherever it
// happened in the call (a completion refused at admission, or an Amazon
// Pay call refused by the gate that the completion reported as unsent),
// answers UNAVAILABLE OVERLOADED with the limit's retry delay.
func TestOverloadStatus(t *testing.T) {
	t.Parallel()
	oe := &overload.Error{Limit: "Amazon Pay calls", RetryAfter: 1700 * time.Millisecond}
	for _, err := range []error{
		completion.NewError(completion.KindUnavailable, completion.ReasonOverloaded, "at the limit", oe, nil),
		completion.NewError(completion.KindUnavailable, completion.ReasonAmazonPayUnavailable, "could not be reached",
			&amazonpay.TransportError{Err: oe}, nil),
	} {
		st := status.Convert(quietServer().status(t.Context(), err))
		var reason string
		var delay time.Duration
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				reason = d.GetReason()
			case *errdetails.RetryInfo:
				delay = d.GetRetryDelay().AsDuration()
			}
		}
		if st.Code() != codes.Unavailable || reason != "OVERLOADED" || delay != oe.RetryAfter {
			t.Errorf("%v: %v %s, retry delay %v; want UNAVAILABLE OVERLOADED after %v", err, st.Code(), reason, delay, oe.RetryAfter)
		}
	}
}
