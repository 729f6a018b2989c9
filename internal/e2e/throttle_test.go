package e2e_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/amazongate"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// TestCompleteThrottled checks what a caller gets when Amazon Pay throttles
// Complete Checkout Session (429 or 503 on the client's last attempt), over
// real sockets: a throttled call that no earlier attempt may have applied is
// UNAVAILABLE AMAZON_PAY_UNAVAILABLE with RetryInfo and records nothing; after
// an attempt that may have been applied (a reset connection, a lost answer)
// the session is read back: Completed is the completed payment, Open means
// nothing was applied (UNAVAILABLE, nothing recorded), and only a session
// that cannot be read makes the answer UNKNOWN.
func TestCompleteThrottled(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{AttemptTimeout: 1500 * time.Millisecond, MaxAttempts: 3})

	tests := []struct {
		name   string
		faults func(t testing.TB)
		// unavailable: the first answer is UNAVAILABLE with nothing
		// recorded; else it is the payment with outcome want.
		unavailable bool
		want        pb.Outcome
		// completes is how many Complete requests reach Amazon until the
		// payment is completed (the caller's retry included).
		completes int
	}{
		{"http429_throughout", func(t testing.TB) { a.fault(t, "CompleteCheckoutSession", "http429", 3, 0) }, true, 0, 4},
		{"http503_throughout", func(t testing.TB) { a.fault(t, "CompleteCheckoutSession", "http503", 3, 0) }, true, 0, 4},
		{"lost_answer_then_429_completed", func(t testing.TB) {
			a.fault(t, "CompleteCheckoutSession", "lostResponse", 1, 0)
			a.fault(t, "CompleteCheckoutSession", "http429", 2, 0)
		}, false, pb.Outcome_OUTCOME_COMPLETED, 3},
		{"reset_then_429_open", func(t testing.TB) {
			a.fault(t, "CompleteCheckoutSession", "reset", 1, 0)
			a.fault(t, "CompleteCheckoutSession", "http429", 2, 0)
		}, true, 0, 4},
		{"reset_then_429_unreadable", func(t testing.TB) {
			a.fault(t, "CompleteCheckoutSession", "reset", 1, 0)
			a.fault(t, "CompleteCheckoutSession", "http429", 2, 0)
			a.fault(t, "GetCheckoutSession", "http503", 3, 0)
		}, false, pb.Outcome_OUTCOME_UNKNOWN, 4},
	}
	// Faults are global to the simulator: run the cases one after another.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			id := a.newSession(t, ctx, sessionSpec{Amount: "25.00", Scenario: "Authorized"})
			tt.faults(t)
			defer a.clearFaults(t)
			req := &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-" + tt.name, ChargeAmount: usd("25.00")}
			resp, err := svc.Client.CompleteCheckout(ctx, req)
			if tt.unavailable {
				code, reason, _, _ := errorInfo(t, err)
				if code != codes.Unavailable || reason != "AMAZON_PAY_UNAVAILABLE" {
					t.Fatalf("answered %v %s (%v), want UNAVAILABLE AMAZON_PAY_UNAVAILABLE", code, reason, err)
				}
				if d := retryDelay(err); d <= 0 {
					t.Errorf("no RetryInfo in %v", err)
				}
				_, gerr := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}})
				if status.Code(gerr) != codes.NotFound {
					t.Fatalf("after a throttled completion GetPayment = %v, want NOT_FOUND (nothing recorded)", gerr)
				}
				// The storefront's retry completes it.
				if resp, err = svc.Client.CompleteCheckout(ctx, req); err != nil {
					t.Fatalf("retry: %v", err)
				}
				if got := resp.GetPayment().GetOutcome(); got != pb.Outcome_OUTCOME_COMPLETED {
					t.Fatalf("retry answered %s", describe(resp.GetPayment()))
				}
			} else {
				if err != nil {
					t.Fatalf("CompleteCheckout: %v", err)
				}
				if got := resp.GetPayment().GetOutcome(); got != tt.want {
					t.Fatalf("answered %s, want %s", describe(resp.GetPayment()), tt.want)
				}
			}
			seen := waitFinal(t, svc.Client, id, 20*time.Second)
			if last := seen[len(seen)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED || last.GetChargeId() == "" {
				t.Fatalf("settled as %s, want completed", describe(last))
			}
			if got := a.calls(t, id)["CompleteCheckoutSession"]; got != tt.completes {
				t.Errorf("Complete reached Amazon %d times, want %d", got, tt.completes)
			}
		})
	}
}

// TestThrottlingAddsNoCalls is the scenario of the report: Amazon answers
// 429 to 50 Complete calls in a row. With the service's default limits
// (Amazon's live quotas) the completion answers UNAVAILABLE after the
// client's attempts, each held back by the pause the previous 429 started;
// nothing is recorded, so nothing in the background (the reconciler) calls
// Complete again, and the storefront's retry after the throttling completes
// it.
func TestThrottlingAddsNoCalls(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	passes := make(chan struct{}, 1)
	svc := startService(t, a, serviceOptions{AmazonRates: &amazongate.Rates{}, ObserveStore: func(st store.Store) store.Store {
		return &reconcilerPasses{Store: st, passes: passes}
	}})
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "25.00", Scenario: "Authorized"})
	a.fault(t, "CompleteCheckoutSession", "http429", 50, 0)
	req := &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-throttled", ChargeAmount: usd("25.00")}
	_, err := svc.Client.CompleteCheckout(ctx, req)
	if code, reason, _, _ := errorInfo(t, err); code != codes.Unavailable || reason != "AMAZON_PAY_UNAVAILABLE" || retryDelay(err) <= 0 {
		t.Fatalf("answered %v %s (%v), want UNAVAILABLE AMAZON_PAY_UNAVAILABLE with RetryInfo", code, reason, err)
	}
	sent := a.calls(t, id)["CompleteCheckoutSession"]
	if sent < 1 || sent > 3 {
		t.Fatalf("%d Complete calls reached Amazon, want the client's attempts (at most 3)", sent)
	}
	// Two reconciler passes that start after the answer: the second began
	// after the first ended, so whatever the first took on was called.
	for range 2 {
		drain(passes)
		select {
		case <-passes:
		case <-time.After(20 * time.Second):
			t.Fatal("the reconciler made no pass in 20s")
		}
	}
	if got := a.calls(t, id)["CompleteCheckoutSession"]; got != sent {
		t.Fatalf("Complete reached Amazon %d more times with no caller", got-sent)
	}
	a.clearFaults(t)
	// The storefront retries after the RetryInfo delay.
	var resp *pb.CompleteCheckoutResponse
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err = svc.Client.CompleteCheckout(ctx, req)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(retryDelay(err))
	}
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("retry: %v %v", err, describe(resp.GetPayment()))
	}
}

// reconcilerPasses signals each start of a reconciler pass (a claim of
// completions due).
type reconcilerPasses struct {
	store.Store
	passes chan struct{}
}

func (r *reconcilerPasses) ClaimDue(ctx context.Context, outcomes []payment.Outcome, now time.Time, limit int, lease time.Duration, owner string) ([]payment.Payment, error) {
	if slices.Contains(outcomes, payment.Unknown) {
		select {
		case r.passes <- struct{}{}:
		default:
		}
	}
	return r.Store.ClaimDue(ctx, outcomes, now, limit, lease, owner)
}

// drain empties c of a signal sent before now.
func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}
