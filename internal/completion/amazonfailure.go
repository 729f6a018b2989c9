package completion

import (
	"github.com/paymentcompletion/paymentcompletion/amazonpay"
)

// The reasons of the money operations (package chargeops), here so that
// the one failure policy below can name them.
const (
	ReasonIdempotencyKeyReused          = "IDEMPOTENCY_KEY_REUSED"
	ReasonChargeNotCapturable           = "CHARGE_NOT_CAPTURABLE"
	ReasonCaptureAmountExceeded         = "CAPTURE_AMOUNT_EXCEEDED"
	ReasonChargeNotCancelable           = "CHARGE_NOT_CANCELABLE"
	ReasonChargeNotRefundable           = "CHARGE_NOT_REFUNDABLE"
	ReasonRefundAmountExceeded          = "REFUND_AMOUNT_EXCEEDED"
	ReasonRefundNotFound                = "REFUND_NOT_FOUND"
	ReasonChargePermissionNotChargeable = "CHARGE_PERMISSION_NOT_CHARGEABLE"
	ReasonChargeAmountExceeded          = "CHARGE_AMOUNT_EXCEEDED"
	ReasonChargeCountExceeded           = "CHARGE_COUNT_EXCEEDED"
	ReasonChargePermissionClosed        = "CHARGE_PERMISSION_CLOSED"
)

// Call names an Amazon Pay call whose failure AmazonFailure judges.
type Call int

// Calls: the reads, then the changes.
const (
	CallGetCheckoutSession Call = iota + 1
	CallGetCharge
	CallGetChargePermission
	CallGetRefund
	CallComplete
	CallCapture
	CallCancel
	CallRefund
	CallCreateCharge
	CallClose
)

// Calls lists every Call, for tests.
var Calls = []Call{CallGetCheckoutSession, CallGetCharge, CallGetChargePermission, CallGetRefund,
	CallComplete, CallCapture, CallCancel, CallRefund, CallCreateCharge, CallClose}

var callNames = map[Call]string{
	CallGetCheckoutSession: "get checkout session", CallGetCharge: "get charge", CallGetChargePermission: "get charge permission",
	CallGetRefund: "get refund", CallComplete: "completion", CallCapture: "capture", CallCancel: "cancellation",
	CallRefund: "refund", CallCreateCharge: "charge", CallClose: "closure",
}

func (c Call) String() string { return callNames[c] }

// read reports whether the call only reads.
func (c Call) read() bool { return c < CallComplete }

// Step is what the caller of AmazonFailure does next.
type Step int

// Steps.
const (
	// StepRefused: Amazon Pay refused the call for good and applied
	// nothing; answer Decision.Err (nothing to retry unchanged).
	StepRefused Step = iota + 1
	// StepNotApplied: the call was certainly not applied (never sent,
	// throttled, held back by the quota); Decision.Err is UNAVAILABLE,
	// the same call may be retried. (An operation an earlier attempt of
	// which may have been applied is still unknown.)
	StepNotApplied
	// StepReadBack: the change may have been applied, or Amazon refused it
	// for the object's state: read the object back to learn whether this
	// operation applied (the operation's own rules attribute it).
	// Decision.Err is what to answer if nothing is learned.
	StepReadBack
	// StepDeclined: Amazon created the charge and declined it (Create
	// Charge's 422 SoftDeclined, HardDeclined, ...): a result, Declined
	// with Amazon's reason code, not an error.
	StepDeclined
)

// Decision is the policy's answer to one failure.
type Decision struct {
	Step Step
	// Err: the service's error for StepRefused and StepNotApplied, and the
	// answer to a read's failure; nil for StepDeclined, and for a read
	// that failed for another reason than Amazon's answer (see
	// AmazonReadError).
	Err *Error
}

// declines are Create Charge's 422 reason codes that mean the charge was
// created and declined (its ID is not returned).
var declines = map[string]bool{"SoftDeclined": true, "HardDeclined": true, "AmazonRejected": true,
	"TransactionTimedOut": true, "ProcessingFailure": true}

// AmazonFailure is the one mapping from Amazon Pay's answers (the
// classifier's class and Amazon's reason code) to the service's errors and
// next steps, used by the completion, every money operation and the reads
// of the API. cause is the failed call's error (kept for logs and for
// RetryDelay).
func AmazonFailure(call Call, f amazonpay.Failure, cause error) Decision {
	md := map[string]string{"amazon_reason_code": f.ReasonCode}
	refused := func(kind Kind, reason, msg string) Decision {
		return Decision{Step: StepRefused, Err: newError(kind, reason, msg, cause, md)}
	}
	rejected := func() Decision {
		return refused(KindFailedPrecondition, ReasonAmazonPayRejected, "Amazon Pay rejected the "+call.String()+": "+f.ReasonCode)
	}
	switch f.Class {
	case amazonpay.ClassInvalidRequest:
		return Decision{Step: StepRefused, Err: newError(KindInvalid, ReasonInvalidRequest,
			"the request is not one Amazon Pay accepts (refused before sending); nothing was sent", cause, nil)}
	case amazonpay.ClassAuthFailed:
		return refused(KindInternal, ReasonAmazonPayAuthFailed, "Amazon Pay refused the service's credentials")
	case amazonpay.ClassTLSFailed:
		// Nothing was sent, and nothing will be until an operator fixes
		// the trust settings: not a retryable outage.
		return Decision{Step: StepRefused, Err: newError(KindInternal, ReasonAmazonPayTLSFailed,
			"the service could not verify Amazon Pay's TLS certificate; nothing was sent", cause, nil)}
	case amazonpay.ClassNotFound:
		return refused(KindNotFound, notFoundReason(call), "Amazon Pay does not know the "+notFoundObject(call))
	case amazonpay.ClassThrottled:
		return Decision{Step: StepNotApplied, Err: newError(KindUnavailable, ReasonAmazonPayUnavailable,
			"Amazon Pay is throttling the service (or unavailable) and applied nothing; nothing was recorded, retry the same call after the RetryInfo delay",
			cause, md)}
	case amazonpay.ClassNotSent:
		if RetryDelay(cause) > 0 {
			// Held back by the client-side rate limit (Amazon's quota).
			return Decision{Step: StepNotApplied, Err: newError(KindUnavailable, ReasonAmazonPayUnavailable,
				"the call to Amazon Pay was held back to stay within its request quota; nothing was sent or recorded, retry the same call after the RetryInfo delay", cause, nil)}
		}
		return Decision{Step: StepNotApplied, Err: newError(KindUnavailable, ReasonAmazonPayUnavailable,
			"Amazon Pay could not be reached; nothing was recorded, retry the same call", cause, nil)}
	case amazonpay.ClassState, amazonpay.ClassRejected:
		return byReasonCode(call, f, refused, rejected)
	}
	if call.read() && (f.Class == amazonpay.ClassOther || f.Class == amazonpay.ClassMalformedAnswer) {
		// Not Amazon's answer: the caller's context ended, or a defect.
		return Decision{Step: StepRefused}
	}
	// May have been applied (no answer, a 5xx, an undecodable success):
	// a read is simply retried, a change is read back.
	unavailable := newError(KindUnavailable, ReasonAmazonPayUnavailable,
		"Amazon Pay is unavailable or its answer was lost; retry the same call", cause, md)
	if f.StatusCode == 0 {
		unavailable.Metadata = nil
	}
	if call.read() {
		return Decision{Step: StepRefused, Err: unavailable}
	}
	return Decision{Step: StepReadBack, Err: unavailable}
}

// AmazonReadError is the answer to a failed read (call is one of the
// CallGet... calls): the policy's error, or err itself when it is not
// Amazon's answer (the caller's context ended, a defect).
func AmazonReadError(call Call, err error) error {
	if d := AmazonFailure(call, amazonpay.Classify(err), err); d.Err != nil {
		return d.Err
	}
	return err
}

// byReasonCode judges Amazon's final refusals (classes State and Rejected)
// by their reason code and the call.
func byReasonCode(call Call, f amazonpay.Failure, refused func(Kind, string, string) Decision, rejected func() Decision) Decision {
	readBack := Decision{Step: StepReadBack, Err: rejected().Err}
	switch code := f.ReasonCode; {
	case call.read():
		return rejected()
	case code == amazonpay.CodeCurrencyMismatch:
		return refused(KindFailedPrecondition, ReasonCurrencyMismatch, "the currency differs from the "+currencyObject(call)+"'s")
	case code == amazonpay.CodeAmountMismatch && call == CallComplete:
		return refused(KindFailedPrecondition, ReasonAmountMismatch, "the amount differs from the amount set on the checkout session")
	case code == amazonpay.CodeCheckoutSessionCanceled || code == amazonpay.CodeInvalidCheckoutSessionStatus:
		if call == CallComplete {
			// The session's state says what happened (perhaps this
			// completion's lost attempt).
			return readBack
		}
	case code == amazonpay.CodeInvalidChargeStatus:
		switch call {
		case CallCapture, CallCancel:
			// Whose change the charge shows is learned by reading it.
			return readBack
		case CallRefund:
			return refused(KindFailedPrecondition, ReasonChargeNotRefundable, "Amazon Pay refused to refund the charge in its state")
		}
	case code == "InvalidChargePermissionStatus":
		switch call {
		case CallClose:
			// Closed meanwhile: by this closure's lost attempt, or not.
			return readBack
		case CallCreateCharge:
			return refused(KindFailedPrecondition, ReasonChargePermissionNotChargeable, "Amazon Pay refused a charge on the permission in its state")
		}
	case code == "TransactionAmountExceeded":
		switch call {
		case CallCapture:
			return refused(KindFailedPrecondition, ReasonCaptureAmountExceeded, "the amount is above what Amazon Pay allows on this charge")
		case CallRefund:
			return refused(KindFailedPrecondition, ReasonRefundAmountExceeded, "the refunds would exceed what Amazon Pay allows on this charge")
		case CallCreateCharge:
			return refused(KindFailedPrecondition, ReasonChargeAmountExceeded, "the amount is above what the charge permission allows")
		}
	case code == "TransactionCountExceeded" && call == CallCreateCharge:
		return refused(KindFailedPrecondition, ReasonChargeCountExceeded, "the charge permission takes no more charges")
	case declines[code] && call == CallCreateCharge:
		return Decision{Step: StepDeclined}
	}
	return rejected()
}

func notFoundReason(call Call) string {
	switch call {
	case CallGetCheckoutSession, CallComplete:
		return ReasonCheckoutSessionNotFound
	case CallGetChargePermission, CallCreateCharge, CallClose:
		return ReasonChargePermissionNotFound
	case CallGetRefund:
		return ReasonRefundNotFound
	}
	return ReasonChargeNotFound
}

func notFoundObject(call Call) string {
	switch notFoundReason(call) {
	case ReasonCheckoutSessionNotFound:
		return "checkout session"
	case ReasonChargePermissionNotFound:
		return "charge permission"
	case ReasonRefundNotFound:
		return "refund"
	}
	return "charge"
}

func currencyObject(call Call) string {
	switch call {
	case CallComplete:
		return "checkout session"
	case CallCreateCharge:
		return "charge permission"
	}
	return "charge"
}
