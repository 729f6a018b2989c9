// Package checks holds what the workers that ask Amazon Pay about stored
// payments share (the completion's in-flight work, the reconciler, the
// pending-authorization tracker): lease owner names, keeping a lease while
// its work runs, the backoff between checks, and the loop over due work.
package checks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// DefaultFirstPoll is when a pending authorization is first polled: the
// completion that learns of it schedules the poll, the tracker backs off
// from it.
const DefaultFirstPoll = 30 * time.Second

// Owner returns a new lease owner name: the parts joined by "/", then a
// random suffix, so that two passes of one replica never share a lease.
func Owner(parts ...string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.Join(append(parts, hex.EncodeToString(b[:])), "/")
}

// Backoff returns first doubled n times, capped at max, spread by ±jitter
// (a fraction: 0.2 is ±20%) so that payments created together, or replicas,
// do not move in step.
func Backoff(first, max time.Duration, n int, jitter float64) time.Duration {
	d := first
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return time.Duration(float64(d) * (1 - jitter + 2*jitter*mrand.Float64()))
}

// Extender extends leases; store.Store is one.
type Extender interface {
	ExtendLease(ctx context.Context, checkoutSessionID, owner string, until time.Time) error
}

// Keep extends the lease of a payment held by owner to now+lease every
// third of lease, so that the payment stays with its live owner however
// long its work takes; only a dead owner's lease expires. It stops when the
// lease is lost (the work recorded its result, or another worker took over)
// or when stop is called; stop returns once no extension is under way. It
// runs on a timer, not a goroutine of its own: a service under load keeps
// thousands of leases, and a goroutine each would hold thousands of stacks
// between extensions.
func Keep(ctx context.Context, st Extender, checkoutSessionID, owner string, lease time.Duration, now func() time.Time, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	every := max(lease/3, time.Millisecond)
	var (
		mu      sync.Mutex // guards stopped and re-arming t
		stopped bool
		t       *time.Timer
		// pending counts the extension armed or under way.
		pending sync.WaitGroup
	)
	extend := func() {
		defer pending.Done()
		err := st.ExtendLease(ctx, checkoutSessionID, owner, now().Add(lease))
		switch {
		case err == nil:
		case errors.Is(err, store.ErrLeaseLost) || ctx.Err() != nil:
			return
		default:
			// Try again at the next tick; the lease still has two
			// thirds of its time.
			log.WarnContext(ctx, "could not extend a lease", "checkout_session_id", checkoutSessionID, "error", err.Error())
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			pending.Add(1)
			t.Reset(every)
		}
	}
	mu.Lock()
	pending.Add(1)
	t = time.AfterFunc(every, extend)
	mu.Unlock()
	return func() {
		cancel()
		mu.Lock()
		stopped = true
		if t.Stop() {
			pending.Done() // the armed extension will not run
		}
		mu.Unlock()
		pending.Wait()
	}
}

// Run calls pass until ctx ends, then returns nil: again at once while a
// pass filled its batch without error, else after idle. A failed pass is
// logged with msg.
func Run(ctx context.Context, idle time.Duration, batch int, pass func(context.Context) (int, error), log *slog.Logger, msg string) error {
	return RunWoken(ctx, idle, batch, pass, nil, log, msg)
}

// RunWoken is Run that also starts a pass as soon as wake delivers (work
// was made due by someone else, e.g. a notification), instead of waiting
// out idle.
func RunWoken(ctx context.Context, idle time.Duration, batch int, pass func(context.Context) (int, error), wake <-chan struct{}, log *slog.Logger, msg string) error {
	for {
		n, err := pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.WarnContext(ctx, msg, "error", err.Error())
		}
		if n == batch && err == nil {
			continue // more may be due
		}
		t := time.NewTimer(idle)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-wake:
			t.Stop()
		}
	}
}
