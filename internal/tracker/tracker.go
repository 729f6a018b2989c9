// Package tracker settles pending authorizations. When Complete Checkout
// Session answers 202, Amazon Pay authorizes asynchronously for up to 24
// hours; the tracker polls Get Charge for every pending payment on a backoff
// schedule until the charge's state is final, and records the outcome.
//
// Its work list is the store itself: every pending payment carries its next
// poll time, and a pass leases only the payments that are due (an index
// range), so the cost of a pass grows with the number due, not with the
// number tracked, and the tracker's memory is bounded by one batch. Leases
// make each due payment polled by one replica at a time; a replica that dies
// loses its leases when they expire.
package tracker

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/tracelink"
)

// ChargeReader reads a Charge from Amazon Pay.
type ChargeReader interface {
	GetCharge(ctx context.Context, chargeID string, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error)
}

// Defaults of Config (and of the server's settings that set it).
const (
	DefaultFirstPoll   = checks.DefaultFirstPoll
	DefaultMaxInterval = 30 * time.Minute
	DefaultRate        = 2.0
	DefaultLease       = 2 * time.Minute
)

// DefaultBurst is Config.Burst when zero: the rate rounded up, at least 1
// (the burst the gate's default token buckets allow).
func DefaultBurst(rate float64) int { return max(1, int(math.Ceil(rate))) }

// Config tunes the tracker. Zero values take the defaults (Default...).
type Config struct {
	// Owner names this replica in leases.
	Owner string
	// FirstPoll is the delay before the first poll of a pending payment (the
	// completion schedules it) and the base of the backoff.
	FirstPoll time.Duration
	// MaxInterval caps the delay between polls.
	MaxInterval time.Duration
	// Rate and Burst are the Get Charge requests per second (and the
	// burst) the Amazon Pay gate lets this replica send. They size a pass
	// (what can be polled well within the lease) and pace nothing: the
	// gate, which every Get Charge of the process goes through, does, so
	// that the tracker's calls yield to calls a buyer waits on. Burst
	// defaults to DefaultBurst(Rate).
	Rate  float64
	Burst int
	// Lease is how long a claimed payment stays with this replica before
	// another may take it.
	Lease time.Duration
	// Idle is how often to look for due work when there was none.
	// Default 1s.
	Idle time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// TracerProvider traces each poll as a trace of its own linked to the
	// call that recorded the payment; nil: the global one.
	TracerProvider trace.TracerProvider
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.FirstPoll, DefaultFirstPoll)
	def(&c.MaxInterval, DefaultMaxInterval)
	def(&c.Lease, DefaultLease)
	def(&c.Idle, time.Second)
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst(c.Rate)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Owner == "" {
		c.Owner = "replica"
	}
}

// Tracker polls pending payments until they settle.
type Tracker struct {
	store  store.Store
	amazon ChargeReader
	cfg    Config
	batch  int
	log    *slog.Logger
	// wake holds one pending Wake.
	wake chan struct{}
}

// New returns a Tracker; st should be wrapped by the watch hub so that
// watchers see each settlement at once.
func New(st store.Store, az ChargeReader, cfg Config) *Tracker {
	cfg.defaults()
	// A batch must be pollable well within its lease at the allowed rate.
	batch := int(cfg.Rate*cfg.Lease.Seconds()/4) + cfg.Burst
	batch = max(1, min(batch, 500))
	return &Tracker{
		store:  st,
		amazon: az,
		cfg:    cfg,
		batch:  batch,
		log:    cfg.Logger,
		wake:   make(chan struct{}, 1),
	}
}

// Run polls until ctx ends, then returns nil. Leases still held expire by
// themselves.
func (t *Tracker) Run(ctx context.Context) error {
	return checks.RunWoken(ctx, t.cfg.Idle, t.batch, t.PollOnce, t.wake, t.log, "tracker pass failed")
}

// Wake makes Run look for due payments at once (a notification made one
// due) rather than after its idle wait. It never blocks; wakes while a
// pass runs fold into one more pass.
func (t *Tracker) Wake() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// PollOnce leases the pending payments that are due (one batch) and polls
// each; it returns how many it leased.
func (t *Tracker) PollOnce(ctx context.Context) (int, error) {
	owner := t.leaseOwner()
	due, err := t.store.ClaimDue(ctx, []payment.Outcome{payment.Pending}, t.cfg.Now().UTC(), t.batch, t.cfg.Lease, owner)
	if err != nil {
		return 0, err
	}
	for _, p := range due {
		if ctx.Err() != nil {
			return len(due), nil // ctx ended; the leases expire
		}
		pctx, span := tracelink.Start(ctx, t.cfg.TracerProvider, "poll pending payment", p.TraceParent)
		t.poll(pctx, p, owner)
		span.End()
	}
	return len(due), nil
}

func (t *Tracker) poll(ctx context.Context, p payment.Payment, owner string) {
	if p.ChargeID == "" {
		t.log.ErrorContext(ctx, "pending payment without a charge; checking again later", "checkout_session_id", p.CheckoutSessionID)
		t.reschedule(ctx, p, owner, t.cfg.MaxInterval)
		return
	}
	charge, info, err := t.amazon.GetCharge(ctx, p.ChargeID)
	if err != nil {
		delay := t.NextDelay(p.CheckAttempts)
		switch amazonpay.Classify(err).Class {
		case amazonpay.ClassRejected, amazonpay.ClassState, amazonpay.ClassAuthFailed, amazonpay.ClassTLSFailed:
			delay = t.cfg.MaxInterval // a client-side problem will not fix itself quickly
		}
		// Never sooner than Amazon asked (Retry-After) or the rate limit
		// allows: throttling must not bring polls forward.
		delay = max(delay, amazonpay.RetryDelay(err))
		t.log.WarnContext(ctx, "get charge failed; polling again later", "checkout_session_id", p.CheckoutSessionID,
			"charge_id", p.ChargeID, "amazon_request_id", info.RequestID, "error", err.Error(), "next_in", delay.String())
		t.reschedule(ctx, p, owner, delay)
		return
	}
	state := charge.StatusDetails.State
	o, known := payment.OutcomeForCharge(state)
	if !known || o == payment.Pending {
		if !known {
			t.log.WarnContext(ctx, "charge in an unexpected state; polling again later", "charge_id", p.ChargeID, "state", state)
		}
		t.reschedule(ctx, p, owner, t.NextDelay(p.CheckAttempts))
		return
	}
	tr := payment.Transition{Outcome: o, ChargeState: state, Time: t.cfg.Now().UTC(), Checked: true}
	if o == payment.Declined || o == payment.Canceled {
		tr.ReasonCode = charge.StatusDetails.ReasonCode
	}
	stored, changed, err := t.store.Transition(ctx, p.CheckoutSessionID, tr)
	if err != nil {
		// The lease expires and the payment is polled again; Amazon's answer
		// will be the same.
		t.log.WarnContext(ctx, "could not record settled charge", "checkout_session_id", p.CheckoutSessionID, "error", err.Error())
		return
	}
	if changed {
		t.log.InfoContext(ctx, "pending payment settled", "checkout_session_id", p.CheckoutSessionID,
			"order_id", stored.OrderID, "outcome", string(stored.Outcome), "charge_state", state,
			"reason_code", stored.ReasonCode, "polls", p.CheckAttempts+1)
	}
}

func (t *Tracker) reschedule(ctx context.Context, p payment.Payment, owner string, delay time.Duration) {
	now := t.cfg.Now().UTC()
	if _, err := t.store.Reschedule(ctx, p.CheckoutSessionID, owner, now.Add(delay), now); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		t.log.WarnContext(ctx, "could not reschedule poll", "checkout_session_id", p.CheckoutSessionID, "error", err.Error())
	}
}

// NextDelay is the wait after the given number of inconclusive polls:
// FirstPoll doubled per poll (30s, 1m, 2m, 4m, ... with the defaults),
// capped at MaxInterval, with ±10% jitter so that payments created together
// spread out.
func (t *Tracker) NextDelay(polls int) time.Duration {
	return checks.Backoff(t.cfg.FirstPoll, t.cfg.MaxInterval, polls+1, 0.1)
}

func (t *Tracker) leaseOwner() string { return checks.Owner(t.cfg.Owner, "tracker") }
