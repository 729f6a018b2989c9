package amazonpay

import (
	"errors"
	"time"
)

// The rule for a failed call that changes money (Complete Checkout Session
// now; Capture Charge, Create Refund and Create Charge when they are used):
// what its error proves about Amazon Pay's state, and what the caller does.
//
//  1. AfterChange: nothing was applied (no attempt reached Amazon Pay, or
//     the last attempt was throttled, 429 or 503, and no earlier one may
//     have been applied): record nothing and answer the caller as
//     unavailable, with the RetryAfter of the failure (or the next backoff)
//     as the retry delay; the caller's retry, with the same idempotency key,
//     applies the change once. An answer that may have been applied: read
//     the object back. Any other failure is Amazon's final answer, handled
//     by its class.
//  2. AfterReadBack: the object shows the change: record it. The object
//     shows it not applied: if the last attempt was throttled, Amazon
//     refused the change there and then, and no earlier attempt took
//     effect either, so nothing was applied (record nothing, answer
//     unavailable as in 1); otherwise the change may still be in progress
//     and the outcome is unknown. The object cannot be read: unknown (record
//     the attempt and find out later, with backoff).

// Step is what a caller does next under the rule.
type Step int

// Steps of the rule.
const (
	// StepFinal: Amazon Pay's final answer (or a refusal before sending):
	// handle it by Failure.Class.
	StepFinal Step = iota
	// StepNotApplied: nothing was applied. Record nothing; answer
	// unavailable with a retry delay.
	StepNotApplied
	// StepReadBack: the change may have been applied; read the object.
	StepReadBack
	// StepApplied: the read-back shows the change; record it.
	StepApplied
	// StepUnknown: the outcome is not known; record the attempt as unknown
	// and find out later.
	StepUnknown
)

var stepNames = [...]string{"final", "not-applied", "read-back", "applied", "unknown"}

// String names the step, for logs.
func (s Step) String() string {
	if s < 0 || int(s) >= len(stepNames) {
		return "invalid"
	}
	return stepNames[s]
}

// LastThrottled reports whether Amazon Pay's last answer was a throttling
// one (429 or 503): that attempt was not applied, whatever came before.
func (f Failure) LastThrottled() bool { return Throttled(f.StatusCode) }

// AfterChange is step 1 of the rule for a change that failed with f.
func (f Failure) AfterChange() Step {
	switch f.Class {
	case ClassNotSent, ClassThrottled:
		return StepNotApplied
	case ClassMayBeApplied, ClassMalformedAnswer, ClassOther:
		return StepReadBack
	default:
		return StepFinal
	}
}

// ReadBack is what reading the object back after a failed change showed.
type ReadBack int

// Read-back results.
const (
	// ReadBackUnreadable: the object could not be read.
	ReadBackUnreadable ReadBack = iota
	// ReadBackApplied: the object shows the change (a Completed session, a
	// Captured charge, the refund).
	ReadBackApplied
	// ReadBackNotApplied: the object shows the change not applied (an Open
	// session that is still completable, an Authorized charge).
	ReadBackNotApplied
)

// AfterReadBack is step 2 of the rule for a change that failed with f and
// whose object read back as rb.
func (f Failure) AfterReadBack(rb ReadBack) Step {
	switch rb {
	case ReadBackApplied:
		return StepApplied
	case ReadBackNotApplied:
		if f.LastThrottled() {
			return StepNotApplied
		}
		return StepUnknown
	default:
		return StepUnknown
	}
}

// RetryDelay is how long to wait before calling Amazon Pay again after
// err: Amazon's Retry-After, else the delay an error in the chain reports
// with a RetryDelay method (a client-side rate limit's pause or wait), else
// 0.
func RetryDelay(err error) time.Duration {
	if d := Classify(err).RetryAfter; d > 0 {
		return d
	}
	var r interface{ RetryDelay() time.Duration }
	if errors.As(err, &r) {
		return r.RetryDelay()
	}
	return 0
}
