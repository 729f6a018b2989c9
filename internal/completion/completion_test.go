package completion_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storefake"
	"github.com/paymentcompletion/paymentcompletion/internal/watch"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const sessionID = "cs-unit-1"

func request() completion.Request {
	return completion.Request{CheckoutSessionID: sessionID, OrderID: "order-1", ChargeAmount: payment.Money{Amount: "14.00", CurrencyCode: "USD"}}
}

func newService(st *storefake.Store, az *fakeAmazon, cfg completion.Config) *completion.Service {
	hub := watch.NewHub()
	cfg.Logger = quiet
	if cfg.Owner == "" {
		cfg.Owner = "unit"
	}
	return completion.New(hub.Wrap(st), az, hub, cfg)
}

// Amazon Pay answers.
var (
	ok200       = amazonpay.CallInfo{StatusCode: 200}
	accepted202 = amazonpay.CallInfo{StatusCode: 202}

	completedSession = &amazonpay.CheckoutSession{
		CheckoutSessionID: sessionID, ChargePermissionID: "P01-1", ChargeID: "P01-1-C1",
		StatusDetails:  amazonpay.StatusDetails{State: amazonpay.StateCompleted},
		PaymentDetails: &amazonpay.PaymentDetails{PaymentIntent: amazonpay.PaymentIntentAuthorize},
	}
	capturedSession = &amazonpay.CheckoutSession{
		CheckoutSessionID: sessionID, ChargePermissionID: "P01-1", ChargeID: "P01-1-C1",
		StatusDetails:  amazonpay.StatusDetails{State: amazonpay.StateCompleted},
		PaymentDetails: &amazonpay.PaymentDetails{PaymentIntent: amazonpay.PaymentIntentAuthorizeWithCapture},
	}
	openReady    = &amazonpay.CheckoutSession{CheckoutSessionID: sessionID, StatusDetails: amazonpay.StatusDetails{State: amazonpay.StateOpen}}
	openNotReady = &amazonpay.CheckoutSession{CheckoutSessionID: sessionID, StatusDetails: amazonpay.StatusDetails{State: amazonpay.StateOpen},
		Constraints: []amazonpay.Constraint{{ConstraintID: "BuyerConsentNotSet"}}}
	declinedSession = &amazonpay.CheckoutSession{CheckoutSessionID: sessionID,
		StatusDetails: amazonpay.StatusDetails{State: amazonpay.StateCanceled, ReasonCode: amazonpay.ReasonDeclined}}
	buyerCanceledSession = &amazonpay.CheckoutSession{CheckoutSessionID: sessionID,
		StatusDetails: amazonpay.StatusDetails{State: amazonpay.StateCanceled, ReasonCode: amazonpay.ReasonBuyerCanceled}}
	expiredSession = &amazonpay.CheckoutSession{CheckoutSessionID: sessionID,
		StatusDetails: amazonpay.StatusDetails{State: amazonpay.StateCanceled, ReasonCode: amazonpay.ReasonExpired}}
	authorizedCharge = &amazonpay.Charge{ChargeID: "P01-1-C1", StatusDetails: amazonpay.StatusDetails{State: amazonpay.ChargeStateAuthorized}}

	errLost      = &amazonpay.TransportError{Err: amazonpay.ErrAttemptTimeout, Attempts: 3, MayHaveBeenApplied: true}
	errNotSent   = &amazonpay.TransportError{Err: errors.New("connection refused"), Attempts: 3}
	errThrottled = &amazonpay.Error{StatusCode: 429, ReasonCode: amazonpay.CodeTooManyRequests, Retryable: true, Attempts: 4}
	// A 429 after an attempt whose answer was lost.
	errThrottledAfterLost = &amazonpay.Error{StatusCode: 429, ReasonCode: amazonpay.CodeTooManyRequests, Retryable: true, Attempts: 4, EarlierAttemptMayHaveBeenApplied: true}
	errServer             = &amazonpay.Error{StatusCode: 500, ReasonCode: amazonpay.CodeInternalServerError, Retryable: true, Attempts: 4}
	errNotFound           = &amazonpay.Error{StatusCode: 404, ReasonCode: amazonpay.CodeResourceNotFound}
	errAuth               = &amazonpay.Error{StatusCode: 401, ReasonCode: amazonpay.CodeInvalidRequestSignature}
	errAmount             = &amazonpay.Error{StatusCode: 400, ReasonCode: amazonpay.CodeAmountMismatch}
	errCurrency           = &amazonpay.Error{StatusCode: 400, ReasonCode: amazonpay.CodeCurrencyMismatch}
	errParam              = &amazonpay.Error{StatusCode: 400, ReasonCode: amazonpay.CodeInvalidParameterValue}
	errStatus             = &amazonpay.Error{StatusCode: 422, ReasonCode: amazonpay.CodeInvalidCheckoutSessionStatus}
	errCanceled           = &amazonpay.Error{StatusCode: 422, ReasonCode: amazonpay.CodeCheckoutSessionCanceled}
	errCharge             = &amazonpay.Error{StatusCode: 422, ReasonCode: amazonpay.CodeInvalidChargeStatus}
)

// TestComplete is the domain's decision table: (Amazon Pay's answer, store
// failure) -> (payment, error kind, reason), and what stays stored.
func TestComplete(t *testing.T) {
	t.Parallel()
	type want struct {
		outcome     payment.Outcome // of the answer; "" when an error is expected
		chargeState string
		reasonCode  string
		kind        completion.Kind
		reason      string
		amazonCode  string          // ErrorInfo metadata amazon_reason_code
		stored      payment.Outcome // "" when nothing stays stored
	}
	tests := []struct {
		name      string
		az        *fakeAmazon
		storeFail map[string]error
		want      want
	}{
		{name: "completed, authorized", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200}},
			want: want{outcome: payment.Completed, chargeState: payment.ChargeAuthorized, stored: payment.Completed}},
		{name: "completed, captured", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{v: capturedSession, info: ok200}},
			want: want{outcome: payment.Completed, chargeState: payment.ChargeCaptured, stored: payment.Completed}},
		{name: "202 is pending", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: accepted202}},
			want: want{outcome: payment.Pending, chargeState: payment.ChargeAuthorizationInitiated, stored: payment.Pending}},
		{name: "amount mismatch withdraws", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errAmount}},
			want: want{kind: completion.KindFailedPrecondition, reason: completion.ReasonAmountMismatch, amazonCode: amazonpay.CodeAmountMismatch}},
		{name: "currency mismatch withdraws", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errCurrency}},
			want: want{kind: completion.KindFailedPrecondition, reason: completion.ReasonCurrencyMismatch, amazonCode: amazonpay.CodeCurrencyMismatch}},
		{name: "other rejection withdraws", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errParam}},
			want: want{kind: completion.KindFailedPrecondition, reason: completion.ReasonAmazonPayRejected, amazonCode: amazonpay.CodeInvalidParameterValue}},
		{name: "charge state code is a rejection of a completion", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errCharge}},
			want: want{kind: completion.KindFailedPrecondition, reason: completion.ReasonAmazonPayRejected, amazonCode: amazonpay.CodeInvalidChargeStatus}},
		{name: "unknown session withdraws", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errNotFound}},
			want: want{kind: completion.KindNotFound, reason: completion.ReasonCheckoutSessionNotFound, amazonCode: amazonpay.CodeResourceNotFound}},
		{name: "credentials refused withdraws", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errAuth}},
			want: want{kind: completion.KindInternal, reason: completion.ReasonAmazonPayAuthFailed, amazonCode: amazonpay.CodeInvalidRequestSignature}},
		{name: "not sent withdraws, retryable", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errNotSent}},
			want: want{kind: completion.KindUnavailable, reason: completion.ReasonAmazonPayUnavailable}},
		{name: "refused input", az: &fakeAmazon{prepareErr: amazonpay.ErrInvalidRequest},
			want: want{kind: completion.KindInvalid, reason: completion.ReasonInvalidRequest}},
		{name: "lost answer, session completed", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errLost},
			session:  answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200},
			charge:   answer[amazonpay.Charge]{v: authorizedCharge, info: ok200}},
			want: want{outcome: payment.Completed, chargeState: payment.ChargeAuthorized, stored: payment.Completed}},
		{name: "lost answer, charge unreadable is pending", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errLost},
			session:  answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200},
			charge:   answer[amazonpay.Charge]{err: errServer}},
			want: want{outcome: payment.Pending, stored: payment.Pending}},
		{name: "lost answer, session declined", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errLost},
			session:  answer[amazonpay.CheckoutSession]{v: declinedSession, info: ok200}},
			want: want{outcome: payment.Declined, reasonCode: amazonpay.ReasonDeclined, stored: payment.Declined}},
		{name: "lost answer, session unreadable is unknown", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errLost},
			session:  answer[amazonpay.CheckoutSession]{err: errLost}},
			want: want{outcome: payment.Unknown, stored: payment.Unknown}},
		{name: "lost answer, session open and ready is unknown", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errLost},
			session:  answer[amazonpay.CheckoutSession]{v: openReady, info: ok200}},
			want: want{outcome: payment.Unknown, stored: payment.Unknown}},
		{name: "server error, session gone", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errServer},
			session:  answer[amazonpay.CheckoutSession]{err: errNotFound}},
			want: want{kind: completion.KindNotFound, reason: completion.ReasonCheckoutSessionNotFound}},
		{name: "throttled is withdrawn, nothing read", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errThrottled}},
			want: want{kind: completion.KindUnavailable, reason: completion.ReasonAmazonPayUnavailable, amazonCode: amazonpay.CodeTooManyRequests}},
		{name: "throttled after a lost answer, session open is withdrawn", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errThrottledAfterLost},
			session:  answer[amazonpay.CheckoutSession]{v: openReady, info: ok200}},
			want: want{kind: completion.KindUnavailable, reason: completion.ReasonAmazonPayUnavailable, amazonCode: amazonpay.CodeTooManyRequests}},
		{name: "throttled after a lost answer, session completed", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errThrottledAfterLost},
			session:  answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200},
			charge:   answer[amazonpay.Charge]{v: authorizedCharge, info: ok200}},
			want: want{outcome: payment.Completed, chargeState: payment.ChargeAuthorized, stored: payment.Completed}},
		{name: "throttled after a lost answer, session unreadable is unknown", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errThrottledAfterLost},
			session:  answer[amazonpay.CheckoutSession]{err: errLost}},
			want: want{outcome: payment.Unknown, stored: payment.Unknown}},
		{name: "session status, not ready", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errStatus},
			session:  answer[amazonpay.CheckoutSession]{v: openNotReady, info: ok200}},
			want: want{kind: completion.KindFailedPrecondition, reason: completion.ReasonCheckoutSessionNotReady}},
		{name: "session status, open without constraints is still not ready", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errStatus},
			session:  answer[amazonpay.CheckoutSession]{v: openReady, info: ok200}},
			want: want{kind: completion.KindFailedPrecondition, reason: completion.ReasonCheckoutSessionNotReady}},
		{name: "session status, already completed", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errStatus},
			session:  answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200},
			charge:   answer[amazonpay.Charge]{v: authorizedCharge, info: ok200}},
			want: want{outcome: payment.Completed, chargeState: payment.ChargeAuthorized, stored: payment.Completed}},
		{name: "session canceled, declined", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errCanceled},
			session:  answer[amazonpay.CheckoutSession]{v: declinedSession, info: ok200}},
			want: want{outcome: payment.Declined, reasonCode: amazonpay.ReasonDeclined, stored: payment.Declined}},
		{name: "session canceled by the buyer", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errCanceled},
			session:  answer[amazonpay.CheckoutSession]{v: buyerCanceledSession, info: ok200}},
			want: want{outcome: payment.Canceled, reasonCode: amazonpay.ReasonBuyerCanceled, stored: payment.Canceled}},
		{name: "session canceled, expired", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errCanceled},
			session:  answer[amazonpay.CheckoutSession]{v: expiredSession, info: ok200}},
			want: want{outcome: payment.Canceled, reasonCode: amazonpay.ReasonExpired, stored: payment.Canceled}},

		// Store failures.
		{name: "store down before the attempt", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200}},
			storeFail: map[string]error{"CreateAttempt": storefake.ErrDown},
			want:      want{kind: completion.KindUnavailable, reason: completion.ReasonStoreUnavailable}},
		{name: "store down when recording: the attempt stays for the reconciler", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200}},
			storeFail: map[string]error{"Transition": storefake.ErrDown},
			want:      want{kind: completion.KindUnavailable, reason: completion.ReasonStoreUnavailable, stored: payment.Completing}},
		{name: "store down when withdrawing: the answer is still the rejection", az: &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errAmount}},
			storeFail: map[string]error{"DeleteAttempt": storefake.ErrDown},
			want:      want{kind: completion.KindFailedPrecondition, reason: completion.ReasonAmountMismatch, amazonCode: amazonpay.CodeAmountMismatch, stored: payment.Completing}},
		{name: "store down when recording unknown", az: &fakeAmazon{
			complete: answer[amazonpay.CheckoutSession]{err: errLost},
			session:  answer[amazonpay.CheckoutSession]{err: errLost}},
			storeFail: map[string]error{"Transition": storefake.ErrDown},
			want:      want{kind: completion.KindUnavailable, reason: completion.ReasonStoreUnavailable, stored: payment.Completing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				st := storefake.New()
				for m, err := range tt.storeFail {
					st.SetFail(m, err)
				}
				az := tt.az
				svc := newService(st, az, completion.Config{})
				got, err := svc.Complete(t.Context(), request())
				w := tt.want
				if w.outcome != "" {
					if err != nil {
						t.Fatalf("Complete: %v, want outcome %s", err, w.outcome)
					}
					if got.Outcome != w.outcome || got.ChargeState != w.chargeState || got.ReasonCode != w.reasonCode {
						t.Errorf("payment = %s state %q reason %q, want %s state %q reason %q",
							got.Outcome, got.ChargeState, got.ReasonCode, w.outcome, w.chargeState, w.reasonCode)
					}
				} else {
					e, ok := completion.AsError(err)
					if !ok {
						t.Fatalf("Complete = %+v, %v; want a %s error", got, err, w.reason)
					}
					if e.Kind != w.kind || e.Reason != w.reason || e.Metadata["amazon_reason_code"] != w.amazonCode {
						t.Errorf("error = kind %d reason %s metadata %v, want kind %d reason %s amazon_reason_code %q",
							e.Kind, e.Reason, e.Metadata, w.kind, w.reason, w.amazonCode)
					}
				}
				row, stored := st.Row(sessionID)
				switch {
				case w.stored == "" && stored:
					t.Errorf("stored %s, want nothing stored", row.Outcome)
				case w.stored != "" && (!stored || row.Outcome != w.stored):
					t.Errorf("stored %q (present %v), want %s", row.Outcome, stored, w.stored)
				}
				if n := az.count("Complete"); n > 1 {
					t.Errorf("%d Complete calls, want at most 1", n)
				}
			})
		})
	}
}

// TestSigningWaitIsNotUpstreamTime: the wait to be signed (the CPU, under a
// burst) is bounded by the caller, not by UpstreamTimeout, which bounds the
// time at Amazon Pay. A completion that waits longer than that budget to be
// signed still completes; one whose caller ends while it waits is withdrawn
// unsent, and a retry completes it.
func TestSigningWaitIsNotUpstreamTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := storefake.New()
		az := &fakeAmazon{signWait: 10 * time.Second,
			complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200, hold: 500 * time.Millisecond}}
		svc := newService(st, az, completion.Config{UpstreamTimeout: time.Second})
		got, err := svc.Complete(t.Context(), request())
		if err != nil || got.Outcome != payment.Completed {
			t.Fatalf("Complete after a 10 s wait to be signed, 1 s budget: %+v, %v; want COMPLETED", got, err)
		}
		if n := az.count("Complete"); n != 1 {
			t.Errorf("%d Complete calls, want 1", n)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		st := storefake.New()
		az := &fakeAmazon{signWait: 10 * time.Second,
			complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200}}
		svc := newService(st, az, completion.Config{})
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := svc.Complete(ctx, request())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Complete whose deadline passes while waiting to be signed: %v; want the deadline's error", err)
		}
		if row, stored := st.Row(sessionID); stored {
			t.Errorf("stored %s, want the attempt withdrawn", row.Outcome)
		}
		if n := az.count("Complete"); n != 0 {
			t.Errorf("%d Complete calls, want none", n)
		}
		az.signWait = 0
		if got, err := svc.Complete(t.Context(), request()); err != nil || got.Outcome != payment.Completed {
			t.Fatalf("retry: %+v, %v; want COMPLETED", got, err)
		}
	})
}
