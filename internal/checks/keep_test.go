package checks_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// extender records extensions and fails with err from the lost-th on.
type extender struct {
	mu    sync.Mutex
	calls []time.Time
	lost  int // 0: never
}

func (e *extender) ExtendLease(_ context.Context, _, _ string, until time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, until)
	if e.lost > 0 && len(e.calls) >= e.lost {
		return store.ErrLeaseLost
	}
	return nil
}

func (e *extender) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestKeepExtendsUntilStopped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := &extender{}
		stop := checks.Keep(t.Context(), e, "cs-1", "owner", 3*time.Minute, time.Now, quiet)
		time.Sleep(5*time.Minute + time.Second) // extensions at 1, 2, 3, 4 and 5 minutes
		synctest.Wait()
		if n := e.count(); n != 5 {
			t.Errorf("%d extensions in 5 minutes, want 5", n)
		}
		stop()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := e.count(); n != 5 {
			t.Errorf("%d extensions after stop, want still 5", n)
		}
		e.mu.Lock()
		if got, want := e.calls[0], time.Now().Add(-10*time.Minute-4*time.Minute-time.Second+3*time.Minute); !got.Equal(want) {
			t.Errorf("first extension until %v, want %v (now+lease)", got, want)
		}
		e.mu.Unlock()
	})
}

func TestKeepStopsWhenTheLeaseIsLost(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := &extender{lost: 2}
		stop := checks.Keep(t.Context(), e, "cs-1", "owner", 3*time.Minute, time.Now, quiet)
		defer stop()
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := e.count(); n != 2 {
			t.Errorf("%d extensions, want 2 (the second found the lease lost)", n)
		}
	})
}

func TestKeepStopWhileExtending(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := &extender{}
		stop := checks.Keep(t.Context(), e, "cs-1", "owner", 3*time.Millisecond, time.Now, quiet)
		time.Sleep(10 * time.Millisecond)
		stop()
		n := e.count()
		time.Sleep(time.Second)
		synctest.Wait()
		if e.count() != n {
			t.Errorf("extensions went on after stop returned")
		}
	})
}
