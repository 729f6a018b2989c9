package completion_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storefake"
)

// storedAttempt is a payment as a completion left it: in flight (or
// unknown), due for reconciliation now.
func storedAttempt(o payment.Outcome, now time.Time) payment.Payment {
	r := request()
	return payment.Payment{
		CheckoutSessionID: r.CheckoutSessionID, OrderID: r.OrderID, ChargeAmount: r.ChargeAmount,
		Outcome: o, CreateTime: now.Add(-time.Minute), UpdateTime: now.Add(-time.Minute), NextCheckTime: now, Version: 2,
	}
}

// TestReconcile: what one reconciliation of a due payment records, and
// that it counts as a check.
func TestReconcile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		from          payment.Outcome
		az            *fakeAmazon
		want          payment.Outcome
		wantChecks    int
		wantCompletes int
		wantNextIn    [2]time.Duration // bounds of NextCheckTime-now for a non-final outcome
	}{
		{name: "unknown, session completed", from: payment.Unknown, az: &fakeAmazon{
			session: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200},
			charge:  answer[amazonpay.Charge]{v: authorizedCharge, info: ok200}},
			want: payment.Completed, wantChecks: 1},
		{name: "unknown, session declined", from: payment.Unknown, az: &fakeAmazon{
			session: answer[amazonpay.CheckoutSession]{v: declinedSession, info: ok200}},
			want: payment.Declined, wantChecks: 1},
		{name: "unknown, session unreadable: backoff", from: payment.Unknown, az: &fakeAmazon{
			session: answer[amazonpay.CheckoutSession]{err: errLost}},
			want: payment.Unknown, wantChecks: 1, wantNextIn: [2]time.Duration{1600 * time.Millisecond, 2400 * time.Millisecond}},
		{name: "unknown, session gone", from: payment.Unknown, az: &fakeAmazon{
			session: answer[amazonpay.CheckoutSession]{err: errNotFound}},
			want: payment.Canceled, wantChecks: 1},
		{name: "abandoned attempt, session ready: completed with the same call", from: payment.Completing, az: &fakeAmazon{
			session:  answer[amazonpay.CheckoutSession]{v: openReady, info: ok200},
			complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200}},
			want: payment.Completed, wantChecks: 1, wantCompletes: 1},
		{name: "unknown, session ready, Complete throttled: not before Retry-After", from: payment.Unknown, az: &fakeAmazon{
			session:  answer[amazonpay.CheckoutSession]{v: openReady, info: ok200},
			complete: answer[amazonpay.CheckoutSession]{err: &amazonpay.Error{StatusCode: 429, ReasonCode: amazonpay.CodeTooManyRequests, Retryable: true, RetryAfter: 30 * time.Second}}},
			want: payment.Unknown, wantChecks: 1, wantCompletes: 1, wantNextIn: [2]time.Duration{30 * time.Second, 30 * time.Second}},
		{name: "unknown, session throttled: not before Retry-After", from: payment.Unknown, az: &fakeAmazon{
			session: answer[amazonpay.CheckoutSession]{err: &amazonpay.Error{StatusCode: 429, ReasonCode: amazonpay.CodeTooManyRequests, Retryable: true, RetryAfter: 20 * time.Second}}},
			want: payment.Unknown, wantChecks: 1, wantNextIn: [2]time.Duration{20 * time.Second, 20 * time.Second}},
		{name: "abandoned attempt, session ready, Complete throttled: withdrawn", from: payment.Completing, az: &fakeAmazon{
			session:  answer[amazonpay.CheckoutSession]{v: openReady, info: ok200},
			complete: answer[amazonpay.CheckoutSession]{err: errThrottled}},
			want: "", wantChecks: 0, wantCompletes: 1},
		{name: "abandoned attempt, session unreadable", from: payment.Completing, az: &fakeAmazon{
			session: answer[amazonpay.CheckoutSession]{err: errLost}},
			want: payment.Unknown, wantChecks: 1, wantNextIn: [2]time.Duration{1600 * time.Millisecond, 2400 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				st := storefake.New()
				now := time.Now().UTC()
				st.Put(storedAttempt(tt.from, now))
				svc := newService(st, tt.az, completion.Config{ReconcileFirstDelay: 2 * time.Second})
				n, err := svc.ReconcileOnce(t.Context())
				if n != 1 || err != nil {
					t.Fatalf("ReconcileOnce = %d, %v; want 1 payment", n, err)
				}
				p, _ := st.Row(sessionID)
				if p.Outcome != tt.want || p.CheckAttempts != tt.wantChecks {
					t.Errorf("stored %s with %d checks, want %s with %d", p.Outcome, p.CheckAttempts, tt.want, tt.wantChecks)
				}
				if n := tt.az.count("Complete"); n != tt.wantCompletes {
					t.Errorf("%d Complete calls, want %d", n, tt.wantCompletes)
				}
				if tt.wantNextIn != [2]time.Duration{} {
					if d := p.NextCheckTime.Sub(now); d < tt.wantNextIn[0] || d > tt.wantNextIn[1] {
						t.Errorf("next check in %v, want within %v", d, tt.wantNextIn)
					}
				}
			})
		})
	}
}

// TestLiveAttemptKeepsItsLease: a completion whose Amazon Pay call outlasts
// the in-flight lease keeps its lease, so the reconciler running beside it
// does not take it over and call Complete a second time.
func TestLiveAttemptKeepsItsLease(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := storefake.New()
		az := &fakeAmazon{
			// What the reconciler would read while the first call waits.
			session:  answer[amazonpay.CheckoutSession]{v: openReady, info: ok200},
			complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200, hold: 10 * time.Second},
		}
		svc := newService(st, az, completion.Config{
			InflightLease: 3 * time.Second, UpstreamTimeout: 20 * time.Second, ReconcileIdle: 100 * time.Millisecond,
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- svc.RunReconciler(ctx) }()

		p, err := svc.Complete(t.Context(), request())
		if err != nil || p.Outcome != payment.Completed {
			t.Fatalf("Complete = %s, %v; want completed", p.Outcome, err)
		}
		time.Sleep(10 * time.Second) // the reconciler keeps looking
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunReconciler: %v", err)
		}
		if n := az.count("Complete"); n != 1 {
			t.Errorf("%d Complete calls, want 1", n)
		}
		if n := az.count("GetCheckoutSession"); n != 0 {
			t.Errorf("the reconciler read the session %d times while the attempt was live", n)
		}
	})
}

// TestDeadAttemptIsTakenOver: the lease of an attempt whose process died
// (nobody renews it) expires, and the reconciler completes it.
func TestDeadAttemptIsTakenOver(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := storefake.New()
		now := time.Now().UTC()
		dead := storedAttempt(payment.Completing, now)
		dead.LeaseOwner, dead.NextCheckTime = "dead/1", now.Add(3*time.Second)
		st.Put(dead)
		az := &fakeAmazon{
			session:  answer[amazonpay.CheckoutSession]{v: openReady, info: ok200},
			complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200},
		}
		svc := newService(st, az, completion.Config{InflightLease: 3 * time.Second, ReconcileIdle: 100 * time.Millisecond})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- svc.RunReconciler(ctx) }()
		time.Sleep(2900 * time.Millisecond)
		synctest.Wait()
		if p, _ := st.Row(sessionID); p.Outcome != payment.Completing || az.count("Complete") != 0 {
			t.Errorf("before the lease expired: %s, %d Complete calls", p.Outcome, az.count("Complete"))
		}
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		cancel()
		<-done
		if p, _ := st.Row(sessionID); p.Outcome != payment.Completed || az.count("Complete") != 1 {
			t.Errorf("after the lease expired: %s, %d Complete calls; want completed with 1", p.Outcome, az.count("Complete"))
		}
	})
}
