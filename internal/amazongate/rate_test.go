package amazongate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// admitted runs Wait for op at once from n goroutines (started in order,
// each after the previous one waits) and returns when each was admitted,
// relative to the start, or the error it got.
func admitted(t *testing.T, p *pacer, ctx context.Context, op string, n int) ([]time.Duration, []error) {
	t.Helper()
	start := time.Now()
	at := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = p.Wait(ctx, op)
			at[i] = time.Since(start)
		})
		synctest.Wait() // the next starts after this one waits (or returned)
	}
	wg.Wait()
	return at, errs
}

func newTestPacer(t *testing.T, r Rates) *pacer {
	t.Helper()
	p, err := newPacer(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRateLimit: an operation's calls go out at its burst, then at its rate;
// a call a buyer waits on that would wait longer than MaxWait is refused at
// once with the wait it would have had; operations are limited separately.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newTestPacer(t, Rates{Limits: map[string]Limit{"CompleteCheckoutSession": {Rate: 2, Burst: 3}}, MaxWait: 2 * time.Second})
		at, errs := admitted(t, p, t.Context(), "CompleteCheckoutSession", 9)
		want := []time.Duration{0, 0, 0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second}
		for i, w := range want {
			if errs[i] != nil || at[i] != w {
				t.Errorf("call %d: admitted at %v (%v), want %v", i, at[i], errs[i], w)
			}
		}
		for i := len(want); i < 9; i++ {
			var re *RateError
			if !errors.As(errs[i], &re) || re.Operation != "CompleteCheckoutSession" || re.RetryDelay() != 2500*time.Millisecond || at[i] != 0 {
				t.Errorf("call %d: %v at %v, want a RateError of 2.5s at once", i, errs[i], at[i])
			}
		}
		// Get Checkout Session keeps its own (live) quota: 40 at once.
		at, errs = admitted(t, p, t.Context(), "GetCheckoutSession", 40)
		if errs[39] != nil || at[39] != 0 {
			t.Errorf("40th Get Checkout Session at %v (%v), want at once", at[39], errs[39])
		}
		// An operation without a quota is not limited.
		if _, ok := p.ops["FinalizeCheckoutSession"]; ok {
			t.Error("Finalize is limited")
		}
	})
}

// TestRateLimitDefaults: live quotas, divided between replicas; explicit
// limits as given; Off and a zero rate disable.
func TestRateLimitDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Rates
		op   string
		want Limit
		ok   bool
	}{
		{"live", Rates{}, "CompleteCheckoutSession", Limit{4, 20}, true},
		{"four replicas", Rates{Replicas: 4}, "CompleteCheckoutSession", Limit{1, 5}, true},
		{"more replicas than burst", Rates{Replicas: 40}, "CancelCharge", Limit{0.05, 1}, true},
		{"explicit, not divided", Rates{Replicas: 4, Limits: map[string]Limit{"GetCharge": {3, 6}}}, "GetCharge", Limit{3, 6}, true},
		{"zero rate: none", Rates{Limits: map[string]Limit{"GetCharge": {}}}, "GetCharge", Limit{}, false},
		{"off", Rates{Off: true}, "GetCharge", Limit{}, false},
		{"unlisted", Rates{}, "FinalizeCheckoutSession", Limit{}, false},
	}
	for _, tt := range tests {
		got, ok := tt.r.limitFor(tt.op)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %v %v, want %v %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []Rates{
		{Limits: map[string]Limit{"GetCharge": {Rate: 1, Burst: 0}}},
		{Limits: map[string]Limit{"GetCharge": {Rate: -1, Burst: 1}}},
		{Replicas: -1},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestThrottledAnswerPauses: a throttled answer pauses the operation for
// Retry-After, or a backoff that doubles per consecutive throttled answer;
// a pause longer than MaxWait refuses a foreground call at once with the
// pause left; a success ends the streak.
func TestThrottledAnswerPauses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const op = "CompleteCheckoutSession"
		p := newTestPacer(t, Rates{Limits: map[string]Limit{op: {Rate: 100, Burst: 100}}, MaxWait: 5 * time.Second})
		p.Answered(op, 429, 3*time.Second)
		at, errs := admitted(t, p, t.Context(), op, 1)
		if errs[0] != nil || at[0] != 3*time.Second {
			t.Fatalf("after Retry-After 3s: admitted at %v (%v)", at[0], errs[0])
		}
		p.Answered(op, 503, 8*time.Second)
		at, errs = admitted(t, p, t.Context(), op, 1)
		var re *RateError
		if !errors.As(errs[0], &re) || re.RetryAfter != 8*time.Second || at[0] != 0 {
			t.Fatalf("paused 8s: %v at %v, want a RateError of 8s at once", errs[0], at[0])
		}
		if d := p.pauseLeft(op); d != 8*time.Second {
			t.Errorf("pause left %v", d)
		}
		time.Sleep(8 * time.Second)
		p.Answered(op, 200, 0)
		// Without Retry-After: 1s, 2s, 4s, 8s bounds (the pause is between
		// half the bound and the bound), capped at 8s.
		for i, bound := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
			p.Answered(op, 429, 0)
			if d := p.pauseLeft(op); d < bound/2 || d > bound {
				t.Errorf("throttled answer %d: paused %v, want within [%v, %v]", i+1, d, bound/2, bound)
			}
			time.Sleep(p.pauseLeft(op))
		}
		p.Answered(op, 200, 0)
		p.Answered(op, 429, 0)
		if d := p.pauseLeft(op); d > time.Second {
			t.Errorf("after a success the backoff starts again, paused %v", d)
		}
		// An answer that is no answer (0) does not end the streak.
		time.Sleep(p.pauseLeft(op))
		p.Answered(op, 0, 0)
		p.Answered(op, 429, 0)
		if d := p.pauseLeft(op); d < time.Second {
			t.Errorf("second throttled answer after a lost one: paused %v, want at least 1s", d)
		}
	})
}

// TestBackgroundYields: background calls take a token only when no call a
// buyer waits on is waiting, so foreground calls queued after them still go
// first; background calls wait past MaxWait rather than being refused.
func TestBackgroundYields(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const op = "GetCharge"
		p := newTestPacer(t, Rates{Limits: map[string]Limit{op: {Rate: 1, Burst: 1}}, MaxWait: 10 * time.Second})
		bg := Background(t.Context())
		if err := p.Wait(t.Context(), op); err != nil { // the burst is used
			t.Fatal(err)
		}
		start := time.Now()
		var mu sync.Mutex
		var order []string
		var wg sync.WaitGroup
		run := func(name string, ctx context.Context) {
			wg.Go(func() {
				if err := p.Wait(ctx, op); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				mu.Lock()
				order = append(order, name+"@"+time.Since(start).String())
				mu.Unlock()
			})
			synctest.Wait()
		}
		run("bg1", bg)
		run("bg2", bg)
		run("fg1", t.Context())
		run("fg2", t.Context())
		run("fg3", t.Context())
		wg.Wait()
		want := []string{"fg1@1s", "fg2@2s", "fg3@3s", "bg1@4s", "bg2@5s"}
		if len(order) != len(want) {
			t.Fatalf("order %v, want %v", order, want)
		}
		// The two background calls may take the two last tokens in either
		// order; the foreground calls come first, in order.
		for i := range 3 {
			if order[i] != want[i] {
				t.Fatalf("order %v, want %v", order, want)
			}
		}
		if !strings.HasSuffix(order[3], "@4s") || !strings.HasSuffix(order[4], "@5s") {
			t.Fatalf("order %v, want the background calls at 4s and 5s", order)
		}
		// A background call waits out a pause longer than MaxWait.
		p.Answered(op, 429, 30*time.Second)
		at, errs := admitted(t, p, bg, op, 1)
		if errs[0] != nil || at[0] != 30*time.Second {
			t.Errorf("background after a 30s pause: admitted at %v (%v)", at[0], errs[0])
		}
		// Its context ends the wait.
		ctx, cancel := context.WithTimeout(bg, 2*time.Second)
		defer cancel()
		p.Answered(op, 429, time.Minute)
		if err := p.Wait(ctx, op); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("background wait past its deadline: %v", err)
		}
	})
}
