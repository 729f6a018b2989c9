package amazonpay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want Failure
	}{
		{"nil", nil, Failure{Class: ClassNone}},
		{"invalid input", invalid("GetCharge", errEmptyID), Failure{Class: ClassInvalidRequest}},
		{"not sent", &TransportError{Err: errors.New("connection refused")}, Failure{Class: ClassNotSent}},
		{"context ended before sending", &TransportError{Err: context.Canceled}, Failure{Class: ClassNotSent}},
		{"lost answer", &TransportError{Err: ErrAttemptTimeout, MayHaveBeenApplied: true}, Failure{Class: ClassMayBeApplied}},
		{"429", &Error{StatusCode: 429, ReasonCode: CodeTooManyRequests, Retryable: true, RetryAfter: 2 * time.Second},
			Failure{Class: ClassThrottled, StatusCode: 429, ReasonCode: CodeTooManyRequests, RetryAfter: 2 * time.Second}},
		{"503", &Error{StatusCode: 503, ReasonCode: CodeServiceUnavailable, Retryable: true},
			Failure{Class: ClassThrottled, StatusCode: 503, ReasonCode: CodeServiceUnavailable}},
		{"429 after a lost answer", &Error{StatusCode: 429, Retryable: true, EarlierAttemptMayHaveBeenApplied: true},
			Failure{Class: ClassMayBeApplied, StatusCode: 429}},
		{"500", &Error{StatusCode: 500, ReasonCode: CodeInternalServerError, Retryable: true},
			Failure{Class: ClassMayBeApplied, StatusCode: 500, ReasonCode: CodeInternalServerError}},
		{"504", &Error{StatusCode: 504, Retryable: true}, Failure{Class: ClassMayBeApplied, StatusCode: 504}},
		{"404", &Error{StatusCode: 404, ReasonCode: CodeResourceNotFound}, Failure{Class: ClassNotFound, StatusCode: 404, ReasonCode: CodeResourceNotFound}},
		{"401", &Error{StatusCode: 401, ReasonCode: CodeInvalidRequestSignature}, Failure{Class: ClassAuthFailed, StatusCode: 401, ReasonCode: CodeInvalidRequestSignature}},
		{"403", &Error{StatusCode: 403, ReasonCode: "UnauthorizedAccess"}, Failure{Class: ClassAuthFailed, StatusCode: 403, ReasonCode: "UnauthorizedAccess"}},
		{"session status", &Error{StatusCode: 422, ReasonCode: CodeInvalidCheckoutSessionStatus},
			Failure{Class: ClassState, StatusCode: 422, ReasonCode: CodeInvalidCheckoutSessionStatus}},
		{"session canceled", &Error{StatusCode: 422, ReasonCode: CodeCheckoutSessionCanceled},
			Failure{Class: ClassState, StatusCode: 422, ReasonCode: CodeCheckoutSessionCanceled}},
		{"charge status", &Error{StatusCode: 422, ReasonCode: CodeInvalidChargeStatus},
			Failure{Class: ClassState, StatusCode: 422, ReasonCode: CodeInvalidChargeStatus}},
		{"amount mismatch", &Error{StatusCode: 400, ReasonCode: CodeAmountMismatch},
			Failure{Class: ClassRejected, StatusCode: 400, ReasonCode: CodeAmountMismatch}},
		{"wrapped", fmt.Errorf("reading: %w", &Error{StatusCode: 400, ReasonCode: CodeInvalidParameterValue}),
			Failure{Class: ClassRejected, StatusCode: 400, ReasonCode: CodeInvalidParameterValue}},
		{"malformed answer", fmt.Errorf("%w: decode: bad json", ErrMalformedAnswer), Failure{Class: ClassMalformedAnswer}},
		{"foreign", context.DeadlineExceeded, Failure{Class: ClassOther}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %+v (%s), want %+v (%s)", tt.err, got, got.Class, tt.want, tt.want.Class)
			}
		})
	}
}

// TestClassifyOverTheWire checks the fields Classify relies on as the
// client sets them from real answers.
func TestClassifyOverTheWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		handle   func(http.ResponseWriter, *http.Request, int)
		want     Failure
		accepted bool
	}{
		{name: "throttled every time, with Retry-After", handle: func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Retry-After", "0")
			if n == 4 {
				w.Header().Set("Retry-After", "3")
			}
			writeJSON(w, 429, `{"reasonCode":"TooManyRequests","message":"slow down"}`)
		}, want: Failure{Class: ClassThrottled, StatusCode: 429, ReasonCode: CodeTooManyRequests, RetryAfter: 3 * time.Second}},
		{name: "500 then throttled", handle: scripted(500, 503), want: Failure{Class: ClassMayBeApplied, StatusCode: 503, ReasonCode: "CodeSer"}},
		{name: "lost answer then throttled", handle: func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				hijackClose(w, r, n)
				return
			}
			writeJSON(w, 429, `{"reasonCode":"TooManyRequests","message":"slow down"}`)
		}, want: Failure{Class: ClassMayBeApplied, StatusCode: 429, ReasonCode: CodeTooManyRequests}},
		{name: "202", handle: scripted(202), want: Failure{Class: ClassNone}, accepted: true},
		{name: "undecodable success", handle: func(w http.ResponseWriter, r *http.Request, n int) {
			writeJSON(w, 200, `{"chargeId": 7`)
		}, want: Failure{Class: ClassMalformedAnswer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAmazon(t, tt.handle)
			c := newTestClient(t, testConfig(f.URL))
			_, info, err := c.CaptureCharge(t.Context(), "S01-1-C1", CaptureChargeRequest{CaptureAmount: Price{Amount: "1.00", CurrencyCode: "USD"}})
			if got := Classify(err); got != tt.want {
				t.Errorf("Classify(%v) = %+v (%s), want %+v (%s)", err, got, got.Class, tt.want, tt.want.Class)
			}
			if info.Accepted() != tt.accepted {
				t.Errorf("Accepted() = %v with status %d", info.Accepted(), info.StatusCode)
			}
		})
	}
}
