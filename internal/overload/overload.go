// Package overload bounds work in flight: a Limiter admits a fixed number
// of holders at once, lets a bounded number more wait for a place, and
// refuses the rest at once with an *Error saying when a retry is likely to
// be admitted. Nothing queues without bound.
package overload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Bounds of the retry delay an *Error suggests.
const (
	minRetryAfter = 100 * time.Millisecond
	maxRetryAfter = 30 * time.Second
)

// Error is a refusal: the limit named by Limit was reached. The work was
// not started; retry it after RetryAfter.
type Error struct {
	// Limit names what was full, for logs ("completions in flight").
	Limit string
	// RetryAfter is about how long places take to free up now.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("overloaded: %s at its limit; retry after %v", e.Limit, e.RetryAfter.Round(time.Millisecond))
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Limiter admits up to max holders at once. A nil *Limiter admits
// everything.
type Limiter struct {
	name     string
	slots    chan struct{} // one token per holder
	maxQueue int

	mu      sync.Mutex
	waiting int
	// hold is a moving average of how long holders keep their place, the
	// base of the retry delay.
	hold time.Duration
	// progress is when a place was last given back, or taken while none
	// was held: while no place frees up, holders are taking at least this
	// long, whatever the average said before.
	progress time.Time
}

// New returns a Limiter named name (for errors) that admits max holders at
// once and lets up to queue more wait for a place. max must be positive,
// queue not negative.
func New(name string, max, queue int) (*Limiter, error) {
	if max <= 0 || queue < 0 {
		return nil, fmt.Errorf("overload: %s: limit %d must be positive and queue %d not negative", name, max, queue)
	}
	return &Limiter{name: name, slots: make(chan struct{}, max), maxQueue: queue, hold: minRetryAfter}, nil
}

// Acquire takes a place, waiting for one while the queue has room, and
// returns the function that gives it back (call it exactly once). When
// every place is taken and the queue is full it fails at once with an
// *Error; when ctx ends while waiting, with ctx's error.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		return l.releaser(), nil
	default:
	}
	l.mu.Lock()
	if l.waiting >= l.maxQueue {
		e := l.refusalLocked()
		l.mu.Unlock()
		return nil, e
	}
	l.waiting++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.waiting--
		l.mu.Unlock()
	}()
	select {
	case l.slots <- struct{}{}:
		return l.releaser(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TryAcquire is Acquire without waiting: it fails at once with an *Error
// when every place is taken.
func (l *Limiter) TryAcquire() (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		return l.releaser(), nil
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return nil, l.refusalLocked()
}

// InUse reports how many places are taken and how many callers wait.
func (l *Limiter) InUse() (held, waiting int) {
	if l == nil {
		return 0, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.slots), l.waiting
}

// Size reports how many holders l admits at once and how many more may
// wait for a place.
func (l *Limiter) Size() (max, queue int) {
	if l == nil {
		return 0, 0
	}
	return cap(l.slots), l.maxQueue
}

func (l *Limiter) releaser() func() {
	start := time.Now()
	l.mu.Lock()
	if len(l.slots) == 1 {
		l.progress = start
	}
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d := time.Since(start)
			l.mu.Lock()
			// Weight 1/16: the delay follows a slowdown within a few
			// dozen calls without jumping on one slow call.
			l.hold += (d - l.hold) / 16
			l.progress = time.Now()
			l.mu.Unlock()
			<-l.slots
		})
	}
}

// refusalLocked is the *Error of a refused caller: places free up about
// once per hold/max (hold being at least the time since a place last freed
// up), and the callers queued ahead go first; ±20% jitter spreads the
// retries of callers refused together.
func (l *Limiter) refusalLocked() *Error {
	ahead := l.waiting + 1
	hold := max(l.hold, time.Since(l.progress))
	d := hold * time.Duration(ahead+cap(l.slots)-1) / time.Duration(cap(l.slots))
	d = min(max(d, minRetryAfter), maxRetryAfter)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return &Error{Limit: l.name, RetryAfter: d}
}
