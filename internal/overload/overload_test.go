package overload_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/overload"
)

func TestNewRejectsBadBounds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ max, queue int }{{0, 0}, {-1, 5}, {1, -1}} {
		if _, err := overload.New("x", tt.max, tt.queue); err == nil {
			t.Errorf("New(%d, %d) succeeded", tt.max, tt.queue)
		}
	}
}

func TestAdmitsQueuesAndRefuses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l, err := overload.New("calls", 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		r1, err1 := l.Acquire(ctx)
		r2, err2 := l.Acquire(ctx)
		if err1 != nil || err2 != nil {
			t.Fatalf("first two: %v, %v", err1, err2)
		}
		// The third waits for a place; the fourth finds the queue full.
		third := make(chan error, 1)
		go func() {
			r, err := l.Acquire(ctx)
			if err == nil {
				defer r()
			}
			third <- err
		}()
		synctest.Wait()
		if held, waiting := l.InUse(); held != 2 || waiting != 1 {
			t.Fatalf("InUse = %d, %d; want 2 held, 1 waiting", held, waiting)
		}
		_, err = l.Acquire(ctx)
		oe, ok := overload.AsError(err)
		if !ok || oe.Limit != "calls" || oe.RetryAfter <= 0 {
			t.Fatalf("fourth Acquire = %v; want an *overload.Error with a retry delay", err)
		}
		if _, err := l.TryAcquire(); err == nil {
			t.Fatal("TryAcquire with every place taken succeeded")
		}
		time.Sleep(time.Second)
		r1()
		r1() // a second release is a no-op
		synctest.Wait()
		if err := <-third; err != nil {
			t.Fatalf("queued Acquire: %v", err)
		}
		r2()
		if held, waiting := l.InUse(); held != 0 || waiting != 0 {
			t.Errorf("after releases InUse = %d, %d", held, waiting)
		}
	})
}

func TestWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l, _ := overload.New("calls", 1, 5)
		r, _ := l.Acquire(t.Context())
		defer r()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := l.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Acquire = %v, want the context's deadline", err)
		}
		if _, waiting := l.InUse(); waiting != 0 {
			t.Errorf("%d still waiting", waiting)
		}
	})
}

// TestRetryAfterFollowsHoldTime: the suggested delay follows how long
// holders keep their places (within the jitter), and is bounded.
func TestRetryAfterFollowsHoldTime(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		hold     time.Duration
		min, max time.Duration
	}{
		{2 * time.Second, 1500 * time.Millisecond, 2500 * time.Millisecond},
		{10 * time.Millisecond, 80 * time.Millisecond, 120 * time.Millisecond}, // the floor
		{10 * time.Minute, 24 * time.Second, 36 * time.Second},                 // the ceiling
	} {
		synctest.Test(t, func(t *testing.T) {
			l, _ := overload.New("completions", 1, 0)
			for range 200 {
				r, err := l.TryAcquire()
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(tt.hold)
				r()
			}
			r, _ := l.TryAcquire()
			defer r()
			_, err := l.TryAcquire()
			oe, ok := overload.AsError(err)
			if !ok || oe.RetryAfter < tt.min || oe.RetryAfter > tt.max {
				t.Errorf("hold %v: refusal %v; want a delay in [%v, %v]", tt.hold, err, tt.min, tt.max)
			}
		})
	}
}

func TestNilAdmitsEverything(t *testing.T) {
	t.Parallel()
	var l *overload.Limiter
	r, err := l.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r()
	if r, err = l.TryAcquire(); err != nil {
		t.Fatal(err)
	}
	r()
}

// TestRetryAfterWhileNothingFreesUp: before any place was given back, the
// delay is at least the time the places have been held.
func TestRetryAfterWhileNothingFreesUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l, _ := overload.New("completions", 2, 0)
		r1, _ := l.TryAcquire()
		defer r1()
		r2, _ := l.TryAcquire()
		defer r2()
		time.Sleep(5 * time.Second)
		_, err := l.TryAcquire()
		if oe, ok := overload.AsError(err); !ok || oe.RetryAfter < 4*time.Second || oe.RetryAfter > 6*time.Second {
			t.Errorf("refusal %v; want a delay of about 5s", err)
		}
	})
}
