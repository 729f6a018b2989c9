package checks_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n          int
		jitter     float64
		lo, hi     time.Duration
		first, max time.Duration
	}{
		{n: 0, jitter: 0, lo: 2 * time.Second, hi: 2 * time.Second, first: 2 * time.Second, max: time.Minute},
		{n: 3, jitter: 0, lo: 16 * time.Second, hi: 16 * time.Second, first: 2 * time.Second, max: time.Minute},
		{n: 10, jitter: 0, lo: time.Minute, hi: time.Minute, first: 2 * time.Second, max: time.Minute},
		{n: 1 << 20, jitter: 0.2, lo: 48 * time.Second, hi: 72 * time.Second, first: 2 * time.Second, max: time.Minute},
		{n: 1, jitter: 0.1, lo: 54 * time.Second, hi: 66 * time.Second, first: 30 * time.Second, max: 30 * time.Minute},
	}
	for _, tt := range tests {
		for range 100 {
			if d := checks.Backoff(tt.first, tt.max, tt.n, tt.jitter); d < tt.lo || d > tt.hi {
				t.Fatalf("Backoff(%v, %v, %d, %v) = %v, want within [%v, %v]", tt.first, tt.max, tt.n, tt.jitter, d, tt.lo, tt.hi)
			}
		}
	}
}

func TestOwner(t *testing.T) {
	t.Parallel()
	a, b := checks.Owner("replica-1", "tracker"), checks.Owner("replica-1", "tracker")
	if a == b || !strings.HasPrefix(a, "replica-1/tracker/") || len(a) != len("replica-1/tracker/")+16 {
		t.Errorf("owners %q and %q: want distinct replica-1/tracker/<16 hex digits>", a, b)
	}
}

// extender records extensions and answers with err from the n-th on.
type extender struct {
	mu     sync.Mutex
	at     []time.Time
	until  []time.Time
	failAt int
	err    error
}

func (e *extender) ExtendLease(_ context.Context, _, _ string, until time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.at = append(e.at, time.Now())
	e.until = append(e.until, until)
	if e.failAt > 0 && len(e.at) >= e.failAt {
		return e.err
	}
	return nil
}

func (e *extender) calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.at)
}

func TestKeep(t *testing.T) {
	t.Parallel()
	t.Run("extends every third of the lease until stopped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := &extender{}
			start := time.Now()
			stop := checks.Keep(t.Context(), e, "cs", "owner", 3*time.Second, time.Now, quiet)
			time.Sleep(10*time.Second + time.Millisecond)
			stop()
			n := e.calls()
			time.Sleep(time.Minute)
			if e.calls() != n || n != 10 {
				t.Fatalf("%d extensions in 10s (%d after stop), want 10 and none after", n, e.calls())
			}
			for i, at := range e.at {
				if want := start.Add(time.Duration(i+1) * time.Second); !at.Equal(want) || !e.until[i].Equal(at.Add(3*time.Second)) {
					t.Errorf("extension %d at %v until %v, want at %v until 3s later", i, at.Sub(start), e.until[i].Sub(start), want.Sub(start))
				}
			}
		})
	})
	t.Run("stops when the lease is lost", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := &extender{failAt: 2, err: store.ErrLeaseLost}
			stop := checks.Keep(t.Context(), e, "cs", "owner", 3*time.Second, time.Now, quiet)
			defer stop()
			time.Sleep(time.Minute)
			if n := e.calls(); n != 2 {
				t.Errorf("%d extensions, want 2 (the second lost the lease)", n)
			}
		})
	})
	t.Run("keeps trying when the store fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := &extender{failAt: 1, err: store.ErrUnavailable}
			stop := checks.Keep(t.Context(), e, "cs", "owner", 3*time.Second, time.Now, quiet)
			time.Sleep(5*time.Second + time.Millisecond)
			stop()
			if n := e.calls(); n != 5 {
				t.Errorf("%d extensions in 5s, want 5", n)
			}
		})
	})
}

func TestRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// Passes: full, full, short, failed, then empty ones.
		results := []struct {
			n   int
			err error
		}{{10, nil}, {10, nil}, {3, nil}, {10, errors.New("store down")}}
		var at []time.Duration
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			done <- checks.Run(ctx, time.Second, 10, func(context.Context) (int, error) {
				at = append(at, time.Since(start))
				if len(at) <= len(results) {
					r := results[len(at)-1]
					return r.n, r.err
				}
				return 0, nil
			}, quiet, "pass failed")
		}()
		time.Sleep(3500 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		// Full passes repeat at once; a short, failed or empty one waits
		// the idle interval.
		want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 3 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("passes at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Errorf("passes at %v, want %v", at, want)
				break
			}
		}
	})
}

// BenchmarkKeepStartStop is what keeping its lease adds to a completion
// that finishes before its first extension (almost all of them).
func BenchmarkKeepStartStop(b *testing.B) {
	e := &extender{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		checks.Keep(ctx, e, "cs", "owner", 2*time.Minute, time.Now, quiet)()
	}
}

func TestRunWoken(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration
		start := time.Now()
		wake := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			done <- checks.RunWoken(ctx, time.Minute, 10, func(context.Context) (int, error) {
				at = append(at, time.Since(start))
				return 0, nil
			}, wake, quiet, "pass failed")
		}()
		time.Sleep(2 * time.Second)
		wake <- struct{}{} // a pass at once, not a minute after the first
		time.Sleep(3 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("RunWoken = %v", err)
		}
		want := []time.Duration{0, 2 * time.Second}
		if len(at) != len(want) || at[0] != want[0] || at[1] != want[1] {
			t.Errorf("passes at %v, want %v", at, want)
		}
	})
}
