package amazonpay

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Error is returned for an HTTP response that is not a success, after the
// retries for retryable statuses are exhausted. Test for it with errors.As.
type Error struct {
	// StatusCode is the HTTP status of the final response.
	StatusCode int
	// ReasonCode is Amazon's reasonCode from the JSON body, e.g.
	// "InvalidCheckoutSessionStatus"; "" when the body was not Amazon's JSON
	// (e.g. a gateway's HTML page).
	ReasonCode string
	// Message is Amazon's message, or a short excerpt of a non-JSON body.
	Message string
	// RequestID is the x-amz-pay-request-id of the final response.
	RequestID string
	// Retryable reports whether the status is one that is retried (408, 425,
	// 429, 500, 502, 503, 504): the call may succeed later.
	Retryable bool
	// Attempts is the number of attempts made.
	Attempts int
	// RetryAfter is the final response's Retry-After (delay-seconds form),
	// 0 if it had none.
	RetryAfter time.Duration
	// EarlierAttemptMayHaveBeenApplied reports whether an attempt before the
	// final one may have been applied: it got no answer, or an answer other
	// than a throttling one (429, 503). A throttled final answer proves only
	// that the final attempt was not applied.
	EarlierAttemptMayHaveBeenApplied bool

	method, path string
}

// Error describes the failure: method, path, status, reason code, message,
// request ID and attempts.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("amazonpay: ")
	if e.method != "" {
		b.WriteString(e.method + " " + e.path + ": ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if e.ReasonCode != "" {
		b.WriteString(" " + e.ReasonCode)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// TransportError is returned when no HTTP response was obtained, after
// retries: connection refused or reset, TLS failure, attempt timeout, a
// response lost mid-body, or the caller's context ending. Unwrap returns the
// cause, so errors.Is(err, context.Canceled) and the like work.
type TransportError struct {
	// Err is the cause of the last failure.
	Err error
	// Attempts is the number of attempts made (0 if the context had already
	// ended).
	Attempts int
	// MayHaveBeenApplied is false only when no attempt can have reached the
	// server (every attempt failed to connect). Callers must treat true as
	// "outcome unknown" and find out (e.g. with a GET) before acting.
	MayHaveBeenApplied bool

	method, path string
}

// Error says whether the request may have been applied, and why it failed.
func (e *TransportError) Error() string {
	var b strings.Builder
	b.WriteString("amazonpay: ")
	if e.method != "" {
		b.WriteString(e.method + " " + e.path + ": ")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "%d attempts, ", e.Attempts)
	}
	if e.MayHaveBeenApplied {
		b.WriteString("outcome unknown: ")
	} else {
		b.WriteString("not sent: ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// retryableStatus reports whether an HTTP status is retried: the statuses
// the official SDKs retry (the Java/PHP set, which includes 425).
func retryableStatus(code int) bool {
	switch code {
	case 408, 425, 429, 500, 502, 503, 504:
		return true
	}
	return false
}

const maxExcerpt = 200

// newError builds an Error from a non-success response. Amazon's JSON body
// ({"reasonCode": ..., "message": ...}) is used when present; anything else
// (gateway pages, empty bodies) becomes a short, printable excerpt.
func newError(status int, body []byte, requestID string) *Error {
	e := &Error{StatusCode: status, RequestID: requestID, Retryable: retryableStatus(status)}
	var wire struct {
		ReasonCode string `json:"reasonCode"`
		Message    string `json:"message"`
	}
	if json.Unmarshal(body, &wire) == nil && (wire.ReasonCode != "" || wire.Message != "") {
		e.ReasonCode, e.Message = wire.ReasonCode, wire.Message
		return e
	}
	e.Message = excerpt(body)
	return e
}

// excerpt returns at most maxExcerpt bytes of body as one printable line.
func excerpt(body []byte) string {
	if len(body) > maxExcerpt {
		body = body[:maxExcerpt]
		for len(body) > 0 && !utf8.Valid(body) {
			body = body[:len(body)-1]
		}
	}
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, string(body))
	return strings.Join(strings.Fields(s), " ")
}
