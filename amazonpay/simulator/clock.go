package simulator

import (
	"sort"
	"sync"
	"time"
)

// Clock is the simulator's source of time. It drives x-amz-pay-date checks,
// timestamps, expirations and the settlement of pending authorizations, so a
// test can move Amazon's time forward without sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, from
	// Advance) once d has passed, unless stopped first.
	AfterFunc(d time.Duration, f func()) Stopper
}

// Stopper cancels a scheduled call. Stop reports whether it prevented the
// call; *time.Timer satisfies it.
type Stopper interface {
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Stopper { return time.AfterFunc(d, f) }

// FakeClock is a Clock that only moves when Advance is called. Scheduled
// functions run synchronously inside Advance, in due order, which keeps
// tests deterministic. It is safe for concurrent use.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]*fakeTimer
}

type fakeTimer struct {
	clock *FakeClock
	id    int
	due   time.Time
	f     func()
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, timers: make(map[int]*fakeTimer)}
}

// Now returns the fake current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run from Advance once the clock reaches now+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{clock: c, id: c.seq, due: c.now.Add(d), f: f}
	c.timers[t.id] = t
	return t
}

// Stop removes the timer; it reports whether the timer was still pending.
func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	_, ok := t.clock.timers[t.id]
	delete(t.clock.timers, t.id)
	return ok
}

// Advance moves the clock forward by d and runs every timer that has come
// due, including timers scheduled by those functions, before returning.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var due []*fakeTimer
		for _, t := range c.timers {
			if !t.due.After(target) {
				due = append(due, t)
			}
		}
		if len(due) == 0 {
			c.now = target
			c.mu.Unlock()
			return
		}
		sort.Slice(due, func(i, j int) bool {
			if due[i].due.Equal(due[j].due) {
				return due[i].id < due[j].id
			}
			return due[i].due.Before(due[j].due)
		})
		next := due[0]
		delete(c.timers, next.id)
		if next.due.After(c.now) {
			c.now = next.due
		}
		c.mu.Unlock()
		next.f()
	}
}
