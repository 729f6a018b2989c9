package amazonpay

import (
	"errors"
	"net/http"
	"time"
)

// Class says what the failure of a call means for what the caller does
// next, independent of the operation: the same classes serve reads,
// completions and (later) captures, refunds and charge permission updates.
type Class int

// Failure classes, from Classify.
const (
	// ClassNone: the call did not fail.
	ClassNone Class = iota
	// ClassInvalidRequest: the client refused the input before sending
	// anything (ErrInvalidRequest): a caller mistake, nothing was sent.
	ClassInvalidRequest
	// ClassNotSent: no attempt can have reached Amazon Pay (every attempt
	// failed to connect, or the caller's context ended first). Nothing was
	// applied; the same call may be repeated.
	ClassNotSent
	// ClassThrottled: Amazon Pay answered 429 or 503 to the last attempt
	// and no earlier attempt may have been applied: the call was not
	// applied. Retry after Failure.RetryAfter (when Amazon sent one) or a
	// backoff, and slow down.
	ClassThrottled
	// ClassMayBeApplied: the call may have taken effect but its answer is
	// not known (no answer, a lost or cut-off answer, a 5xx other than 503,
	// or a throttled answer after an attempt that may have been applied).
	// For a call that changes something, read the object back before
	// acting; for a read, retry.
	ClassMayBeApplied
	// ClassMalformedAnswer: Amazon Pay answered success but the body could
	// not be decoded: a change was applied, what it produced is unknown.
	ClassMalformedAnswer
	// ClassNotFound: Amazon Pay does not know the object (404).
	ClassNotFound
	// ClassAuthFailed: Amazon Pay refused the service's credentials (401,
	// 403): a configuration problem, not the caller's.
	ClassAuthFailed
	// ClassState: the object's state does not allow the operation
	// (CodeInvalidCheckoutSessionStatus, CodeCheckoutSessionCanceled,
	// CodeInvalidChargeStatus): read the object to learn its state.
	ClassState
	// ClassRejected: Amazon Pay refused the request as sent (a caller
	// mistake such as CodeAmountMismatch or CodeInvalidParameterValue, or
	// any other final answer); Failure.ReasonCode says which.
	ClassRejected
	// ClassOther: not an error of this package (for example the caller's
	// context ending outside a call).
	ClassOther
	// ClassTLSFailed: Amazon Pay's (or the endpoint's) TLS certificate did
	// not verify, so nothing was sent: a configuration problem (a wrong
	// AMAZON_PAY_CA_FILE or AMAZON_PAY_ENDPOINT) or an interception, not
	// unavailability. Retrying does not help until an operator fixes it.
	ClassTLSFailed
)

var classNames = [...]string{"none", "invalid-request", "not-sent", "throttled", "may-be-applied",
	"malformed-answer", "not-found", "auth-failed", "state", "rejected", "other", "tls-failed"}

// String names the class, for logs.
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return "unknown"
	}
	return classNames[c]
}

// Failure is a classified call failure.
type Failure struct {
	Class Class
	// StatusCode and ReasonCode are Amazon Pay's final answer, when there
	// was one (0 and "" otherwise).
	StatusCode int
	ReasonCode string
	// RetryAfter is the Retry-After of the final answer, 0 if none.
	RetryAfter time.Duration
}

// Throttled reports whether the HTTP status is one Amazon Pay (or a gateway
// in front of it) answers when it sheds load without applying the request.
func Throttled(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// Classify reads an error returned by this package's calls.
func Classify(err error) Failure {
	if err == nil {
		return Failure{Class: ClassNone}
	}
	var (
		apiErr *Error
		tErr   *TransportError
	)
	switch {
	case errors.As(err, &apiErr):
		f := Failure{StatusCode: apiErr.StatusCode, ReasonCode: apiErr.ReasonCode, RetryAfter: apiErr.RetryAfter}
		switch {
		case Throttled(apiErr.StatusCode) && !apiErr.EarlierAttemptMayHaveBeenApplied:
			f.Class = ClassThrottled
		case apiErr.Retryable:
			f.Class = ClassMayBeApplied
		case apiErr.ReasonCode == CodeInvalidCheckoutSessionStatus, apiErr.ReasonCode == CodeCheckoutSessionCanceled,
			apiErr.ReasonCode == CodeInvalidChargeStatus:
			f.Class = ClassState
		case apiErr.StatusCode == http.StatusNotFound:
			f.Class = ClassNotFound
		case apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden:
			f.Class = ClassAuthFailed
		default:
			f.Class = ClassRejected
		}
		return f
	case errors.As(err, &tErr):
		if certificateFailure(tErr.Err) {
			return Failure{Class: ClassTLSFailed}
		}
		if tErr.MayHaveBeenApplied {
			return Failure{Class: ClassMayBeApplied}
		}
		return Failure{Class: ClassNotSent}
	case errors.Is(err, ErrInvalidRequest):
		return Failure{Class: ClassInvalidRequest}
	case errors.Is(err, ErrMalformedAnswer):
		return Failure{Class: ClassMalformedAnswer}
	default:
		return Failure{Class: ClassOther}
	}
}

// ErrMalformedAnswer wraps the failure to decode a success answer.
var ErrMalformedAnswer = errors.New("amazonpay: undecodable success answer")

// Accepted reports whether Amazon Pay accepted the call for asynchronous
// processing (202): for Complete Checkout Session, an authorization that is
// still pending.
func (i CallInfo) Accepted() bool { return i.StatusCode == http.StatusAccepted }
