package amazongate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
)

// Limit is one operation's client-side rate limit, a token bucket: Burst
// calls at once, refilled at Rate per second (Amazon's "max quota" and
// "restore rate").
type Limit struct {
	Rate  float64
	Burst int
}

// LiveQuotas are Amazon Pay's published live quotas per merchant account
// (developer.amazon.com amazon-pay-api-v2/api-throttling-limits.html, the
// US table; the simulator enforces the same with -throttle live), keyed by
// the client's operation names. They are the default limits of a Gate.
var LiveQuotas = map[string]Limit{
	"CompleteCheckoutSession": {4, 20},
	"GetCheckoutSession":      {8, 40},
	"CreateCheckoutSession":   {16, 40},
	"UpdateCheckoutSession":   {8, 20},
	"GetCharge":               {4, 20},
	"CreateCharge":            {4, 10},
	"CaptureCharge":           {4, 20},
	"CancelCharge":            {2, 10},
	"GetChargePermission":     {4, 20},
	"UpdateChargePermission":  {2, 10},
	"CloseChargePermission":   {2, 10},
	"CreateRefund":            {4, 10},
	"GetRefund":               {4, 20},
}

// Rates configures the rate limits of a Gate.
type Rates struct {
	// Limits are the per-operation limits; operations not in it take
	// LiveQuotas divided by Replicas, and operations in neither are not
	// limited. A zero Rate means no limit for that operation.
	Limits map[string]Limit
	// Replicas divides LiveQuotas between replicas sharing one merchant
	// account: each replica takes Rate/Replicas and Burst/Replicas (at
	// least 1). 0 or 1: the whole quota. Limits are taken as given.
	Replicas int
	// MaxWait is the longest a call a buyer waits on (a foreground call)
	// waits for its operation's limit; one that would wait longer is
	// refused at once, unsent, with a *RateError saying when to retry.
	// Background calls wait as long as their context allows. Default
	// DefaultMaxWait.
	MaxWait time.Duration
	// Off disables every rate limit (tests and load tests against a
	// simulator that does not throttle).
	Off bool
}

// DefaultMaxWait is Rates.MaxWait's default.
const DefaultMaxWait = 5 * time.Second

// Backoff bounds of an operation paused by a throttled answer without a
// Retry-After: the pause doubles per consecutive throttled answer.
const (
	throttleBackoffMin = time.Second
	throttleBackoffMax = 8 * time.Second
)

// Limit is the limit of op's calls, if they are limited.
func (r Rates) Limit(op string) (Limit, bool) { return r.limitFor(op) }

// limitFor resolves the limit of op.
func (r Rates) limitFor(op string) (Limit, bool) {
	if r.Off {
		return Limit{}, false
	}
	if l, ok := r.Limits[op]; ok {
		return l, l.Rate > 0
	}
	l, ok := LiveQuotas[op]
	if !ok {
		return Limit{}, false
	}
	if n := r.Replicas; n > 1 {
		l = Limit{Rate: l.Rate / float64(n), Burst: max(1, l.Burst/n)}
	}
	return l, true
}

// Validate reports a limit that cannot be used.
func (r Rates) Validate() error {
	for op, l := range r.Limits {
		if l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || (l.Rate > 0 && l.Burst < 1) {
			return fmt.Errorf("rate limit of %s: want a positive rate and a burst of at least 1, got %v/%d", op, l.Rate, l.Burst)
		}
	}
	if r.Replicas < 0 || r.MaxWait < 0 {
		return fmt.Errorf("rate limits: replicas (%d) and max wait (%v) must not be negative", r.Replicas, r.MaxWait)
	}
	return nil
}

// RateError is a call held back by its operation's rate limit (or the
// pause after Amazon Pay throttled it): it was not sent. Retry after
// RetryAfter.
type RateError struct {
	Operation  string
	RetryAfter time.Duration
}

func (e *RateError) Error() string {
	return fmt.Sprintf("rate limit of %s: the next call is allowed in %v", e.Operation, e.RetryAfter.Round(time.Millisecond))
}

// RetryDelay is how long to wait before retrying.
func (e *RateError) RetryDelay() time.Duration { return e.RetryAfter }

// ThrottledError wraps a call's error whose last answer was a throttling
// one (429, 503) with the pause the operation's limit now keeps: Amazon's
// Retry-After, or the limit's backoff.
type ThrottledError struct {
	Err   error
	Pause time.Duration
}

func (e *ThrottledError) Error() string { return e.Err.Error() }

// Unwrap returns the call's error, which amazonpay.Classify reads.
func (e *ThrottledError) Unwrap() error { return e.Err }

// RetryDelay is how long to wait before retrying.
func (e *ThrottledError) RetryDelay() time.Duration { return e.Pause }

type backgroundKey struct{}

// Background marks ctx as the context of background work (the reconciler,
// the tracker): its Amazon Pay calls yield to the calls a buyer waits on,
// taking a token only when no foreground call is waiting for one.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

func isBackground(ctx context.Context) bool {
	b, _ := ctx.Value(backgroundKey{}).(bool)
	return b
}

// pacer implements amazonpay.Pacer: one limiter per operation.
type pacer struct {
	ops     map[string]*opLimiter
	maxWait time.Duration
}

var _ amazonpay.Pacer = (*pacer)(nil)

func newPacer(r Rates) (*pacer, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	p := &pacer{ops: map[string]*opLimiter{}, maxWait: r.MaxWait}
	if p.maxWait == 0 {
		p.maxWait = DefaultMaxWait
	}
	ops := map[string]bool{}
	for op := range LiveQuotas {
		ops[op] = true
	}
	for op := range r.Limits {
		ops[op] = true
	}
	for op := range ops {
		if l, ok := r.limitFor(op); ok {
			p.ops[op] = &opLimiter{op: op, lim: rate.NewLimiter(rate.Limit(l.Rate), l.Burst)}
		}
	}
	return p, nil
}

func (p *pacer) Wait(ctx context.Context, op string) error {
	l := p.ops[op]
	if l == nil {
		return nil
	}
	if isBackground(ctx) {
		return l.waitBackground(ctx)
	}
	return l.waitForeground(ctx, p.maxWait)
}

func (p *pacer) Answered(op string, status int, retryAfter time.Duration) {
	if l := p.ops[op]; l != nil {
		l.answered(status, retryAfter)
	}
}

// pauseLeft is how long op stays paused after a throttled answer.
func (p *pacer) pauseLeft(op string) time.Duration {
	l := p.ops[op]
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(0, time.Until(l.pausedUntil))
}

// opLimiter is one operation's token bucket, with the pause a throttled
// answer imposes and the count of foreground callers waiting, whom
// background callers let go first.
type opLimiter struct {
	op  string
	lim *rate.Limiter

	mu          sync.Mutex
	pausedUntil time.Time
	throttled   int // consecutive throttled answers
	fgWaiting   int
	fgDone      chan struct{} // closed when fgWaiting drops to 0
}

func (l *opLimiter) pause() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pausedUntil
}

// waitForeground takes a token, waiting out a pause and the bucket for at
// most maxWait.
func (l *opLimiter) waitForeground(ctx context.Context, maxWait time.Duration) error {
	l.mu.Lock()
	l.fgWaiting++
	if l.fgWaiting == 1 {
		l.fgDone = make(chan struct{})
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.fgWaiting--
		if l.fgWaiting == 0 {
			close(l.fgDone)
		}
		l.mu.Unlock()
	}()
	deadline := time.Now().Add(maxWait)
	for {
		now := time.Now()
		if until := l.pause(); until.After(now) {
			if until.After(deadline) {
				return &RateError{Operation: l.op, RetryAfter: until.Sub(now)}
			}
			if !sleep(ctx, until.Sub(now)) {
				return ctx.Err()
			}
			continue
		}
		r := l.lim.ReserveN(now, 1)
		d := r.DelayFrom(now)
		if now.Add(d).After(deadline) {
			r.CancelAt(now)
			return &RateError{Operation: l.op, RetryAfter: d}
		}
		if !sleep(ctx, d) {
			r.Cancel()
			return ctx.Err()
		}
		return nil
	}
}

// waitBackground takes a token only while no foreground caller waits for
// one, and only when one is there: background work never delays a buyer's
// call by more than the calls already sent.
func (l *opLimiter) waitBackground(ctx context.Context) error {
	for {
		now := time.Now()
		l.mu.Lock()
		until, fg := l.pausedUntil, l.fgDone
		if l.fgWaiting == 0 {
			fg = nil
		}
		l.mu.Unlock()
		if until.After(now) {
			if !sleep(ctx, until.Sub(now)) {
				return ctx.Err()
			}
			continue
		}
		if fg != nil {
			select {
			case <-fg:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		r := l.lim.ReserveN(now, 1)
		d := r.DelayFrom(now)
		if d == 0 {
			return nil
		}
		r.CancelAt(now)
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// answered pauses the operation after a throttled answer: for Amazon's
// Retry-After, else a backoff doubling per consecutive throttled answer
// (with jitter, so that replicas do not return in step). Any other answer
// ends the streak.
func (l *opLimiter) answered(status int, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !amazonpay.Throttled(status) {
		if status != 0 {
			l.throttled = 0
		}
		return
	}
	l.throttled++
	d := retryAfter
	if d <= 0 {
		bound := throttleBackoffMin << min(l.throttled-1, 10)
		bound = min(bound, throttleBackoffMax)
		d = bound/2 + rand.N(bound/2+1)
	}
	if until := time.Now().Add(d); until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
