package tracker_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storefake"
	"github.com/paymentcompletion/paymentcompletion/internal/tracker"
)

// charges answers Get Charge from a script per charge ID (the last answer
// repeats) and records when each call came.
type charges struct {
	mu     sync.Mutex
	script map[string][]chargeAnswer
	calls  []time.Time
}

type chargeAnswer struct {
	state string
	err   error
}

func (c *charges) GetCharge(_ context.Context, id string, _ ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, time.Now())
	s := c.script[id]
	a := s[0]
	if len(s) > 1 {
		c.script[id] = s[1:]
	}
	if a.err != nil {
		return nil, amazonpay.CallInfo{}, a.err
	}
	return &amazonpay.Charge{ChargeID: id, StatusDetails: amazonpay.StatusDetails{State: a.state}}, amazonpay.CallInfo{StatusCode: 200}, nil
}

func (c *charges) times() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.calls...)
}

func pendingPayment(id string, due time.Time) payment.Payment {
	return payment.Payment{
		CheckoutSessionID: id, OrderID: "order-" + id, ChargeAmount: payment.Money{Amount: "10.00", CurrencyCode: "USD"},
		Outcome: payment.Pending, ChargeID: id + "-C1", ChargeState: payment.ChargeAuthorizationInitiated,
		CreateTime: due.Add(-time.Minute), UpdateTime: due.Add(-time.Minute), NextCheckTime: due, Version: 2,
	}
}

// TestPollsCountAndBackOff: every poll counts in CheckAttempts (the one that
// settles too), and polls back off from FirstPoll.
func TestPollsCountAndBackOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := storefake.New()
		start := time.Now().UTC()
		st.Put(pendingPayment("cs-1", start))
		az := &charges{script: map[string][]chargeAnswer{"cs-1-C1": {
			{state: amazonpay.ChargeStateAuthorizationInitiated},
			{err: &amazonpay.Error{StatusCode: 429, Retryable: true}},
			{state: amazonpay.ChargeStateAuthorized},
		}}}
		tr := tracker.New(st, az, tracker.Config{Owner: "t", FirstPoll: 30 * time.Second, MaxInterval: 30 * time.Minute, Idle: time.Second, Logger: quiet})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- tr.Run(ctx) }()
		time.Sleep(time.Hour)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		p, _ := st.Row("cs-1")
		if p.Outcome != payment.Completed || p.ChargeState != payment.ChargeAuthorized || p.CheckAttempts != 3 {
			t.Errorf("stored %s (%s) after %d checks, want completed (Authorized) after 3", p.Outcome, p.ChargeState, p.CheckAttempts)
		}
		calls := az.times()
		if len(calls) != 3 {
			t.Fatalf("%d polls, want 3", len(calls))
		}
		// 1m and 2m (±10%, rounded to the idle second) after the previous.
		for i, want := range []time.Duration{time.Minute, 2 * time.Minute} {
			if d := calls[i+1].Sub(calls[i]); d < want*9/10 || d > want*11/10+time.Second {
				t.Errorf("poll %d came %v after the previous, want about %v", i+2, d, want)
			}
		}
	})
}

// TestRejectedPollWaitsLong: a poll Amazon refuses as sent waits the
// longest interval; a throttled or failed one backs off as usual.
func TestRejectedPollWaitsLong(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		err          error
		longInterval bool
	}{
		{"rejected", &amazonpay.Error{StatusCode: 400, ReasonCode: amazonpay.CodeInvalidParameterValue}, true},
		{"credentials", &amazonpay.Error{StatusCode: 403, ReasonCode: "UnauthorizedAccess"}, true},
		{"not found", &amazonpay.Error{StatusCode: 404, ReasonCode: amazonpay.CodeResourceNotFound}, false},
		{"throttled", &amazonpay.Error{StatusCode: 429, ReasonCode: amazonpay.CodeTooManyRequests, Retryable: true}, false},
		{"unreachable", &amazonpay.TransportError{Err: context.DeadlineExceeded}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				st := storefake.New()
				now := time.Now().UTC()
				st.Put(pendingPayment("cs-1", now))
				az := &charges{script: map[string][]chargeAnswer{"cs-1-C1": {{err: tt.err}}}}
				tr := tracker.New(st, az, tracker.Config{Owner: "t", FirstPoll: 30 * time.Second, MaxInterval: 30 * time.Minute, Logger: quiet})
				if n, err := tr.PollOnce(t.Context()); n != 1 || err != nil {
					t.Fatalf("PollOnce = %d, %v", n, err)
				}
				p, _ := st.Row("cs-1")
				next := p.NextCheckTime.Sub(now)
				if long := next == 30*time.Minute; long != tt.longInterval || p.CheckAttempts != 1 || p.Outcome != payment.Pending {
					t.Errorf("next poll in %v, %d checks, %s; want the long interval: %v", next, p.CheckAttempts, p.Outcome, tt.longInterval)
				}
			})
		})
	}
}

// TestPassLeavesPacingToTheGate: a pass over many due payments sends one
// Get Charge call for each at once, however low the rate it was sized by
// (the Amazon Pay gate in front of the reader paces them, one limit for
// every caller), and reschedules those still pending.
func TestPassLeavesPacingToTheGate(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{10, 2.5, 0.5} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				st := storefake.New()
				now := time.Now().UTC()
				script := map[string][]chargeAnswer{}
				const n = 12
				for i := range n {
					id := string(rune('a'+i)) + "-cs"
					st.Put(pendingPayment(id, now))
					script[id+"-C1"] = []chargeAnswer{{state: amazonpay.ChargeStateAuthorizationInitiated}}
				}
				az := &charges{script: script}
				tr := tracker.New(st, az, tracker.Config{Owner: "t", Rate: rate, Lease: time.Hour, Logger: quiet})
				if got, err := tr.PollOnce(t.Context()); got != n || err != nil {
					t.Fatalf("PollOnce = %d, %v; want %d", got, err, n)
				}
				calls := az.times()
				if len(calls) != n {
					t.Fatalf("%d Get Charge calls, want %d", len(calls), n)
				}
				for i, at := range calls {
					if d := at.Sub(now); d != 0 {
						t.Errorf("call %d waited %v in the tracker (rate %v); the gate paces", i+1, d, rate)
					}
				}
				// Nothing settled: every payment is rescheduled, not guessed.
				for i := range n {
					p, _ := st.Row(string(rune('a'+i)) + "-cs")
					if p.Outcome != payment.Pending || p.CheckAttempts != 1 || !p.NextCheckTime.After(now) || p.LeaseOwner != "" {
						t.Errorf("%s after the pass: %s, %d checks, next %v, lease %q; want pending, 1 check, rescheduled, released", p.CheckoutSessionID, p.Outcome, p.CheckAttempts, p.NextCheckTime, p.LeaseOwner)
					}
				}
			})
		})
	}
}

// TestThrottledPollWaitsForRetryAfter: a throttled Get Charge is polled
// again no sooner than Amazon's Retry-After, even when the backoff is
// shorter.
func TestThrottledPollWaitsForRetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := storefake.New()
		start := time.Now().UTC()
		st.Put(pendingPayment("cs-1", start))
		az := &charges{script: map[string][]chargeAnswer{"cs-1-C1": {
			{err: &amazonpay.Error{StatusCode: 429, Retryable: true, RetryAfter: 10 * time.Minute}},
		}}}
		tr := tracker.New(st, az, tracker.Config{Owner: "t", FirstPoll: 30 * time.Second, MaxInterval: 30 * time.Minute, Logger: quiet})
		if n, err := tr.PollOnce(t.Context()); n != 1 || err != nil {
			t.Fatalf("PollOnce = %d, %v", n, err)
		}
		p, _ := st.Row("cs-1")
		if d := p.NextCheckTime.Sub(start); d != 10*time.Minute {
			t.Errorf("next poll in %v, want the 10m Retry-After", d)
		}
	})
}
