package amazonpay

import (
	"errors"
	"testing"
	"time"
)

// TestChangeRule checks the rule for a failed change, from the errors the
// client returns to the step the caller takes, before and after a read-back.
func TestChangeRule(t *testing.T) {
	t.Parallel()
	throttled := &Error{StatusCode: 429, Retryable: true, RetryAfter: 2 * time.Second}
	throttledAfterLost := &Error{StatusCode: 429, Retryable: true, EarlierAttemptMayHaveBeenApplied: true}
	unavailableAfterLost := &Error{StatusCode: 503, Retryable: true, EarlierAttemptMayHaveBeenApplied: true}
	serverError := &Error{StatusCode: 500, Retryable: true}
	tests := []struct {
		name string
		err  error
		want Step
		// after a read-back that shows the change not applied, and one that
		// cannot read the object (StepFinal: no read-back).
		notApplied, unreadable Step
	}{
		{"throttled", throttled, StepNotApplied, StepFinal, StepFinal},
		{"unsent", &TransportError{Err: errors.New("refused")}, StepNotApplied, StepFinal, StepFinal},
		{"throttled after a lost answer", throttledAfterLost, StepReadBack, StepNotApplied, StepUnknown},
		{"503 after a lost answer", unavailableAfterLost, StepReadBack, StepNotApplied, StepUnknown},
		{"lost answer", &TransportError{Err: errors.New("reset"), MayHaveBeenApplied: true}, StepReadBack, StepUnknown, StepUnknown},
		{"server error", serverError, StepReadBack, StepUnknown, StepUnknown},
		{"malformed answer", ErrMalformedAnswer, StepReadBack, StepUnknown, StepUnknown},
		{"rejected", &Error{StatusCode: 400, ReasonCode: CodeInvalidParameterValue}, StepFinal, StepFinal, StepFinal},
		{"invalid request", ErrInvalidRequest, StepFinal, StepFinal, StepFinal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := Classify(tt.err)
			if got := f.AfterChange(); got != tt.want {
				t.Fatalf("AfterChange = %v, want %v", got, tt.want)
			}
			if tt.want != StepReadBack {
				return
			}
			if got := f.AfterReadBack(ReadBackApplied); got != StepApplied {
				t.Errorf("applied read-back: %v", got)
			}
			if got := f.AfterReadBack(ReadBackNotApplied); got != tt.notApplied {
				t.Errorf("not-applied read-back: %v, want %v", got, tt.notApplied)
			}
			if got := f.AfterReadBack(ReadBackUnreadable); got != tt.unreadable {
				t.Errorf("unreadable: %v, want %v", got, tt.unreadable)
			}
		})
	}
}
