package completion

import (
	"errors"
	"fmt"
)

// Kind classifies a completion error by what the caller can do about it; the
// gRPC layer maps each kind to one status code.
type Kind int

// Error kinds.
const (
	// KindInvalid: the request is malformed; nothing was sent or stored.
	KindInvalid Kind = iota + 1
	// KindNotFound: the thing asked for does not exist.
	KindNotFound
	// KindFailedPrecondition: the request is well-formed but cannot be
	// served in the current state (amount mismatch, session not ready,
	// session bound to another order). Nothing was recorded.
	KindFailedPrecondition
	// KindUnavailable: a dependency could not be reached and nothing was
	// recorded or applied; the same call may be retried.
	KindUnavailable
	// KindInternal: a defect or a service-side misconfiguration.
	KindInternal
)

// Reasons: the ErrorInfo reasons of the proto's ErrorReason enum (value names
// without the ERROR_REASON_ prefix). Reasons lists them; a test checks each
// against the generated enum.
const (
	ReasonInvalidRequest             = "INVALID_REQUEST"
	ReasonCheckoutSessionNotFound    = "CHECKOUT_SESSION_NOT_FOUND"
	ReasonPaymentNotFound            = "PAYMENT_NOT_FOUND"
	ReasonChargeNotFound             = "CHARGE_NOT_FOUND"
	ReasonChargePermissionNotFound   = "CHARGE_PERMISSION_NOT_FOUND"
	ReasonAmountMismatch             = "AMOUNT_MISMATCH"
	ReasonCurrencyMismatch           = "CURRENCY_MISMATCH"
	ReasonCheckoutSessionNotReady    = "CHECKOUT_SESSION_NOT_READY"
	ReasonSessionBoundToOtherRequest = "SESSION_BOUND_TO_OTHER_REQUEST"
	ReasonAmazonPayRejected          = "AMAZON_PAY_REJECTED"
	ReasonAmazonPayUnavailable       = "AMAZON_PAY_UNAVAILABLE"
	ReasonStoreUnavailable           = "STORE_UNAVAILABLE"
	ReasonAmazonPayAuthFailed        = "AMAZON_PAY_AUTH_FAILED"
	ReasonOverloaded                 = "OVERLOADED"
	ReasonAmazonPayTLSFailed         = "AMAZON_PAY_TLS_FAILED"
)

// Reasons are every reason an *Error may carry.
var Reasons = []string{
	ReasonInvalidRequest, ReasonCheckoutSessionNotFound, ReasonPaymentNotFound, ReasonChargeNotFound,
	ReasonChargePermissionNotFound, ReasonAmountMismatch, ReasonCurrencyMismatch, ReasonCheckoutSessionNotReady,
	ReasonSessionBoundToOtherRequest, ReasonAmazonPayRejected, ReasonAmazonPayUnavailable, ReasonStoreUnavailable,
	ReasonAmazonPayAuthFailed, ReasonOverloaded, ReasonAmazonPayTLSFailed,
}

// Error is a completion failure a caller can act on.
type Error struct {
	Kind    Kind
	Reason  string
	Message string
	// Metadata is safe to show to the caller (IDs, Amazon reason codes; never
	// PII or secrets).
	Metadata map[string]string
	// Field names the request field at fault, for KindInvalid errors the
	// gRPC layer reports as a field violation; "" when none.
	Field string
	// Err is the underlying cause, for logs only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.Err)
	}
	return e.Reason + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// NewError returns an *Error; other layers use it for failures of the same
// kinds (for example reading a charge from Amazon Pay).
func NewError(kind Kind, reason, msg string, cause error, md map[string]string) *Error {
	return newError(kind, reason, msg, cause, md)
}

func newError(kind Kind, reason, msg string, cause error, md map[string]string) *Error {
	return &Error{Kind: kind, Reason: reason, Message: msg, Err: cause, Metadata: md}
}
