// Package completion completes Amazon Pay checkout sessions exactly once and
// keeps every attempt until its outcome is known.
//
// The rules it implements:
//   - The attempt is recorded durably before Amazon Pay is called; the store's
//     unique key on the checkout session decides which of concurrent
//     duplicates calls Amazon, the others wait for its result.
//   - A result is recorded only when Amazon Pay's answer says what happened.
//     When the answer is lost (timeout, reset, exhausted retries), the session
//     is read back at once; if that fails too the payment is answered as
//     unknown and the reconciler settles it later, with backoff.
//   - A throttled answer (429, 503) proves its attempt was not applied
//     (amazonpay.Failure.AfterChange, AfterReadBack): with no earlier attempt
//     that may have been, or with the session read back Open, the attempt is
//     withdrawn and the caller retries after the delay Amazon asked for.
//   - Errors that mean "the request was wrong" (amount mismatch, session not
//     ready, unknown session) withdraw the attempt: nothing is recorded.
//   - Outcomes only move forward (payment.Outcome.Rank), enforced by the store.
package completion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/overload"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/tracelink"
	"github.com/paymentcompletion/paymentcompletion/internal/watch"
)

// Amazon is what completion needs from Amazon Pay. Its errors are read
// with amazonpay.Classify.
type Amazon interface {
	// PrepareComplete builds a Complete Checkout Session call without
	// sending it, signing it now or leaving that to the call's Sign; it
	// fails only for input the client refuses.
	PrepareComplete(checkoutSessionID string, req amazonpay.CompleteCheckoutSessionRequest) (CompleteCall, error)
	GetCheckoutSession(ctx context.Context, checkoutSessionID string, opts ...amazonpay.CallOption) (*amazonpay.CheckoutSession, amazonpay.CallInfo, error)
	GetCharge(ctx context.Context, chargeID string, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error)
}

// CompleteCall is a prepared Complete Checkout Session call.
type CompleteCall interface {
	// Sign signs the call if it is not signed yet, waiting for the CPU
	// (a signing place) until ctx ends, and then returns ctx's error.
	// Nothing is sent.
	Sign(ctx context.Context) error
	// Send sends the call once, with the client's retries, signing it
	// first if Sign did not.
	Send(ctx context.Context) (*amazonpay.CheckoutSession, amazonpay.CallInfo, error)
}

// AmazonPay adapts an Amazon Pay client to Amazon.
func AmazonPay(c *amazonpay.Client) Amazon { return amazonPayClient{c} }

type amazonPayClient struct{ *amazonpay.Client }

func (c amazonPayClient) PrepareComplete(id string, req amazonpay.CompleteCheckoutSessionRequest) (CompleteCall, error) {
	call, err := c.PrepareCompleteCheckoutSession(id, req)
	if err != nil {
		return nil, err
	}
	return signedCall{call}, nil
}

// signedCall is a call the client signed when preparing it.
type signedCall struct {
	*amazonpay.PreparedCompleteCheckoutSession
}

func (signedCall) Sign(context.Context) error { return nil }

// Defaults of Config (and of the server's settings that set it).
const (
	DefaultInflightLease       = 2 * time.Minute
	DefaultUpstreamTimeout     = 45 * time.Second
	DefaultReconcileFirstDelay = 2 * time.Second
)

// Config tunes the service. Zero durations take the defaults shown
// (Default... where a server setting sets the field).
type Config struct {
	// Owner names this replica in leases (e.g. host and pid).
	Owner string
	// InflightLease is how long a completion may stay in flight before the
	// reconciler treats it as abandoned (a crashed process). It must exceed
	// UpstreamTimeout; while the completion's process lives, it keeps the
	// lease however long Amazon Pay takes.
	InflightLease time.Duration
	// UpstreamTimeout bounds the Amazon Pay work of one completion or one
	// reconciliation: the wait for a place among the calls, the calls
	// with the client's retries, and the read-back. The wait to be signed
	// comes before it (local CPU work; only the caller's context bounds it).
	UpstreamTimeout time.Duration
	// ReconcileFirstDelay is the first reconciliation delay of an unknown
	// outcome; later ones double up to ReconcileMaxInterval (default 5m).
	ReconcileFirstDelay  time.Duration
	ReconcileMaxInterval time.Duration
	// ReconcileIdle is how often the reconciler looks for due work when it
	// found none. Default 1s.
	ReconcileIdle time.Duration
	// PendingFirstPoll is when a pending authorization is first polled.
	// Default checks.DefaultFirstPoll, the tracker's.
	PendingFirstPoll time.Duration
	// WaitRecheck is how often a duplicate waiting for an in-flight
	// completion re-reads the store when no notification arrives. Default
	// 250ms.
	WaitRecheck time.Duration
	// WatchRecheck is how often a watch re-reads the store without a
	// notification (changes made by another replica without a change feed).
	// Default 2s.
	WatchRecheck time.Duration
	// InFlight bounds the completions served at once, duplicates waiting
	// for an in-flight one included: beyond it Complete refuses at once,
	// before anything is recorded or sent (an *Error wrapping the
	// *overload.Error). nil: no bound.
	InFlight *overload.Limiter
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives structured logs without PII (default slog.Default()).
	Logger *slog.Logger
	// Metrics, when set, is told the answer of every Complete call.
	Metrics Metrics
	// TracerProvider traces each reconciliation as a trace of its own
	// linked to the call that recorded the payment; nil: the global one.
	TracerProvider trace.TracerProvider
}

// Metrics receives the completion service's measurements, e.g. to export
// them as metrics. It must be safe for concurrent use and quick.
type Metrics interface {
	// CompletionAnswered is told how a Complete call was answered: the
	// payment's outcome (Completing for a payment still in flight, which
	// callers see as unknown), or, for an error, "" and the error's reason
	// (one of Reasons, or "" for an error that is not an *Error).
	CompletionAnswered(outcome payment.Outcome, errReason string)
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.InflightLease, DefaultInflightLease)
	def(&c.UpstreamTimeout, DefaultUpstreamTimeout)
	def(&c.ReconcileFirstDelay, DefaultReconcileFirstDelay)
	def(&c.ReconcileMaxInterval, 5*time.Minute)
	def(&c.ReconcileIdle, time.Second)
	def(&c.PendingFirstPoll, checks.DefaultFirstPoll)
	def(&c.WaitRecheck, 250*time.Millisecond)
	def(&c.WatchRecheck, 2*time.Second)
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

// Service completes checkouts and reads stored payments.
type Service struct {
	store  store.Store
	amazon Amazon
	hub    *watch.Hub
	cfg    Config
	log    *slog.Logger
	// recent tells a first call for a session from a repeat, to sign only
	// first calls ahead (see Complete).
	recent *recentSessions
}

// New returns a Service. st should be hub.Wrap'ed so that waiters learn of
// changes at once.
func New(st store.Store, az Amazon, hub *watch.Hub, cfg Config) *Service {
	cfg.defaults()
	return &Service{store: st, amazon: az, hub: hub, cfg: cfg, log: cfg.Logger, recent: newRecentSessions(recentSessionsKept)}
}

// Request is one CompleteCheckout call.
type Request struct {
	CheckoutSessionID string
	OrderID           string
	ChargeAmount      payment.Money
	TotalOrderAmount  *payment.Money
}

func (r Request) validate() error {
	var bad []string
	if r.CheckoutSessionID == "" {
		bad = append(bad, "checkout_session_id: required")
	}
	if r.OrderID == "" {
		bad = append(bad, "order_id: required")
	}
	if err := r.ChargeAmount.Validate(); err != nil {
		bad = append(bad, "charge_amount: "+err.Error())
	}
	if r.TotalOrderAmount != nil {
		if err := r.TotalOrderAmount.Validate(); err != nil {
			bad = append(bad, "total_order_amount: "+err.Error())
		} else if r.TotalOrderAmount.CurrencyCode != r.ChargeAmount.CurrencyCode {
			bad = append(bad, "total_order_amount: currency differs from charge_amount")
		}
	}
	if len(bad) > 0 {
		return newError(KindInvalid, ReasonInvalidRequest, fmt.Sprint(bad), nil, nil)
	}
	return nil
}

// Complete completes the checkout session of req exactly once and returns
// the payment as recorded. A declined or canceled payment is a result, not an
// error; errors are *Error values.
func (s *Service) Complete(ctx context.Context, req Request) (payment.Payment, error) {
	p, err := s.complete(ctx, req)
	if m := s.cfg.Metrics; m != nil {
		if err != nil {
			var e *Error
			reason := ""
			if errors.As(err, &e) {
				reason = e.Reason
			}
			m.CompletionAnswered("", reason)
		} else {
			m.CompletionAnswered(p.Outcome, "")
		}
	}
	return p, err
}

func (s *Service) complete(ctx context.Context, req Request) (payment.Payment, error) {
	req.CheckoutSessionID = payment.CanonicalCheckoutSessionID(req.CheckoutSessionID)
	if err := req.validate(); err != nil {
		return payment.Payment{}, err
	}
	release, err := s.cfg.InFlight.TryAcquire()
	if err != nil {
		return payment.Payment{}, newError(KindUnavailable, ReasonOverloaded,
			"the service is at its limit of completions in flight; nothing was recorded, retry the same call after the RetryInfo delay", err, nil)
	}
	defer release()
	now := s.cfg.Now().UTC()
	attempt := payment.Payment{
		CheckoutSessionID: req.CheckoutSessionID,
		OrderID:           req.OrderID,
		ChargeAmount:      req.ChargeAmount,
		TotalOrderAmount:  req.TotalOrderAmount,
		Outcome:           payment.Completing,
		CreateTime:        now,
		UpdateTime:        now,
		NextCheckTime:     now.Add(s.cfg.InflightLease),
		TraceParent:       tracelink.Parent(ctx),
	}
	owner := s.leaseOwner()
	// The Complete call is signed while the attempt is being recorded: the
	// two are independent, and the signature (most of a completion's CPU)
	// then overlaps the wait for the durable write instead of following it.
	// Only a session's first call here is signed ahead; a repeat mostly
	// finds the payment stored, and its signature would be wasted. The
	// signing goroutine ends by itself after one signature.
	var presigned <-chan preparedCall
	if s.recent.add(req.CheckoutSessionID) {
		ch := make(chan preparedCall, 1)
		go func() {
			c, err := s.prepareComplete(attempt)
			ch <- preparedCall{c, err}
		}()
		presigned = ch
	}
	for {
		stored, created, err := s.store.CreateAttempt(ctx, attempt, owner)
		if err != nil {
			return payment.Payment{}, storeError(err)
		}
		if created {
			s.log.DebugContext(ctx, "completion attempt recorded",
				"checkout_session_id", req.CheckoutSessionID, "order_id", req.OrderID)
			// The attempt stays leased to this live process however long
			// Amazon Pay takes; the reconciler takes over only from a dead one.
			stop := s.keepLease(context.WithoutCancel(ctx), req.CheckoutSessionID, owner)
			defer stop()
			return s.completeUpstream(ctx, stored, holder{owner: owner}, presigned)
		}
		if !stored.SameRequest(attempt) {
			return payment.Payment{}, newError(KindFailedPrecondition, ReasonSessionBoundToOtherRequest,
				"the checkout session is already recorded with a different order or amount", nil,
				map[string]string{"order_id": stored.OrderID})
		}
		if stored.Outcome != payment.Completing {
			return stored, nil
		}
		p, err := s.awaitInflight(ctx, req.CheckoutSessionID)
		if errors.Is(err, store.ErrNotFound) {
			// The in-flight attempt was withdrawn (Amazon said the request
			// was wrong); ask Amazon ourselves to get the same answer.
			continue
		}
		return p, err
	}
}

// awaitInflight waits for another caller's in-flight completion of the same
// session to record a result, and returns the payment as stored. If the
// caller's deadline comes first it returns the payment still in flight,
// which callers see as an unknown outcome.
func (s *Service) awaitInflight(ctx context.Context, id string) (payment.Payment, error) {
	wctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		// Leave time to answer before the caller gives up.
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, dl.Add(-300*time.Millisecond))
		defer cancel()
	}
	var last payment.Payment
	err := watch.Follow(wctx, s.hub, s.store, id, s.cfg.WaitRecheck, func(p payment.Payment) (bool, error) {
		last = p
		return p.Outcome == payment.Completing, nil
	})
	switch {
	case err == nil:
		return last, nil
	case errors.Is(err, store.ErrNotFound):
		return payment.Payment{}, err
	case wctx.Err() != nil && ctx.Err() == nil && last.CheckoutSessionID != "":
		return last, nil
	case ctx.Err() != nil:
		return payment.Payment{}, ctx.Err()
	default:
		return payment.Payment{}, storeError(err)
	}
}

// preparedCall is a Complete Checkout Session call signed ahead, or why it
// could not be prepared.
type preparedCall struct {
	call CompleteCall
	err  error
}

// prepareComplete builds and signs the Complete Checkout Session call of
// the attempt p.
func (s *Service) prepareComplete(p payment.Payment) (CompleteCall, error) {
	req := amazonpay.CompleteCheckoutSessionRequest{ChargeAmount: toPrice(p.ChargeAmount)}
	if p.TotalOrderAmount != nil {
		total := toPrice(*p.TotalOrderAmount)
		req.TotalOrderAmount = &total
	}
	return s.amazon.PrepareComplete(p.CheckoutSessionID, req)
}

// holder is who works on a leased payment: its lease owner, and whether the
// work is a check after the completion call (a reconciliation), which the
// payment's CheckAttempts counts.
type holder struct {
	owner string
	check bool
}

// completeUpstream calls Complete Checkout Session for an attempt leased to
// h and records what Amazon Pay's answer means. presigned, if not nil,
// delivers the call prepared for this attempt.
func (s *Service) completeUpstream(ctx context.Context, p payment.Payment, h holder, presigned <-chan preparedCall) (payment.Payment, error) {
	var pc preparedCall
	if presigned != nil {
		pc = <-presigned
	} else {
		pc.call, pc.err = s.prepareComplete(p)
	}
	var signErr error
	if pc.err == nil {
		// Signing is local CPU work whose queue the completions limit
		// bounds: it waits for the caller only, outside UpstreamTimeout,
		// which bounds the time at Amazon Pay. Under a burst the last
		// completions wait long to be signed, and would otherwise run out
		// of budget before anything was sent.
		if err := pc.call.Sign(ctx); ctx.Err() != nil && err != nil {
			signErr = err
		} else {
			pc.err = err
		}
	}
	// The upstream work must finish and be recorded even if the caller goes
	// away: a completion Amazon applied must never be left unrecorded.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.UpstreamTimeout)
	defer cancel()
	if signErr != nil {
		// The call's deadline passed (or it was canceled) while its request
		// waited to be signed: nothing was sent. The attempt is withdrawn
		// and the call ends as any call whose deadline passes, which the
		// caller retries unchanged.
		_, _ = s.withdraw(uctx, p, h, newError(KindUnavailable, ReasonAmazonPayUnavailable,
			"the call ended while its request to Amazon Pay waited to be signed; nothing was sent", signErr, nil))
		return payment.Payment{}, ctx.Err()
	}
	if pc.err != nil {
		// Input the client refuses to send; nothing reached Amazon Pay.
		return s.withdraw(uctx, p, h, newError(KindInvalid, ReasonInvalidRequest,
			"the request cannot be sent to Amazon Pay: "+pc.err.Error(), pc.err, nil))
	}
	sess, info, err := pc.call.Send(uctx)
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, "amazon pay complete checkout session",
		"checkout_session_id", p.CheckoutSessionID, "status", info.StatusCode,
		"amazon_request_id", info.RequestID, "attempts", info.Attempts,
		"latency_ms", info.Latency.Milliseconds(), "error", errString(err))
	if err == nil {
		return s.record(uctx, p, h, s.transitionForCompleted(sess, info.Accepted()))
	}

	f := amazonpay.Classify(err)
	d := AmazonFailure(CallComplete, f, err)
	switch {
	case d.Step == StepRefused || d.Step == StepNotApplied:
		return s.withdraw(uctx, p, h, d.Err)
	case f.ReasonCode == amazonpay.CodeCheckoutSessionCanceled:
		return s.settleFromSession(uctx, p, h, settleOpts{})
	case f.ReasonCode == amazonpay.CodeInvalidCheckoutSessionStatus:
		return s.settleFromSession(uctx, p, h, settleOpts{amazonSaidNotCompletable: true})
	default:
		// The request may have been applied: learn the truth from the
		// session instead of guessing.
		return s.settleFromSession(uctx, p, h, settleOpts{cause: err, failure: f})
	}
}

// throttledError is the answer to a completion that Amazon Pay throttled
// without applying it: nothing is recorded, and the caller retries after
// the RetryInfo delay (Amazon's Retry-After, or the next backoff).
func throttledError(cause error, md map[string]string) *Error {
	return newError(KindUnavailable, ReasonAmazonPayUnavailable,
		"Amazon Pay is throttling the service (or unavailable) and applied nothing; nothing was recorded, retry the same call after the RetryInfo delay",
		cause, md)
}

// RetryDelay is amazonpay.RetryDelay: how long to wait before calling
// Amazon Pay again after err.
func RetryDelay(err error) time.Duration { return amazonpay.RetryDelay(err) }

// transitionForCompleted reads a successful Complete answer.
func (s *Service) transitionForCompleted(sess *amazonpay.CheckoutSession, accepted bool) payment.Transition {
	now := s.cfg.Now().UTC()
	t := payment.Transition{
		Outcome:            payment.Completed,
		ChargePermissionID: sess.ChargePermissionID,
		ChargeID:           sess.ChargeID,
		Time:               now,
	}
	if accepted {
		t.Outcome = payment.Pending
		t.ChargeState = payment.ChargeAuthorizationInitiated
		t.NextCheckTime = now.Add(s.cfg.PendingFirstPoll)
		return t
	}
	if sess.ChargeID != "" && sess.PaymentDetails != nil {
		switch sess.PaymentDetails.PaymentIntent {
		case amazonpay.PaymentIntentAuthorize:
			t.ChargeState = payment.ChargeAuthorized
		case amazonpay.PaymentIntentAuthorizeWithCapture:
			t.ChargeState = payment.ChargeCaptured
		}
	}
	return t
}

type settleOpts struct {
	// mayComplete lets a ready, open session be completed (the reconciler
	// finishing an attempt that never reached Amazon Pay).
	mayComplete bool
	// amazonSaidNotCompletable: Complete answered InvalidCheckoutSessionStatus,
	// so an open session is not ready whatever its constraints say.
	amazonSaidNotCompletable bool
	// cause is the error that made the outcome unknown, for logs.
	cause error
	// failure is the classified cause, whose read-back the rule judges
	// (amazonpay.Failure.AfterReadBack); meaningful when cause is set.
	failure amazonpay.Failure
}

// settleFromSession reads the checkout session and records what its state
// says about the attempt p (leased to h).
// canceledOutcome maps the reason code of a Canceled checkout session: a
// decline sends the buyer to pay another way, anything else (BuyerCanceled,
// Expired, AmazonCanceled) lets them restart checkout.
func canceledOutcome(reasonCode string) payment.Outcome {
	if reasonCode == amazonpay.ReasonDeclined {
		return payment.Declined
	}
	return payment.Canceled
}

func (s *Service) settleFromSession(ctx context.Context, p payment.Payment, h holder, o settleOpts) (payment.Payment, error) {
	sess, info, err := s.amazon.GetCheckoutSession(ctx, p.CheckoutSessionID)
	if err != nil {
		if amazonpay.Classify(err).Class == amazonpay.ClassNotFound {
			if p.Outcome == payment.Completing {
				return s.withdraw(ctx, p, h, newError(KindNotFound, ReasonCheckoutSessionNotFound,
					"Amazon Pay does not know the checkout session", err, nil))
			}
			// Amazon's answer: the session does not exist (any more), so no
			// payment can have gone through it.
			return s.record(ctx, p, h, payment.Transition{Outcome: payment.Canceled, ReasonCode: amazonpay.CodeResourceNotFound, Time: s.cfg.Now().UTC()})
		}
		s.log.WarnContext(ctx, "checkout session unreadable; outcome unknown",
			"checkout_session_id", p.CheckoutSessionID, "amazon_request_id", info.RequestID,
			"error", err.Error(), "cause", errString(o.cause))
		return s.markUnknownAfter(ctx, p, h, max(RetryDelay(err), RetryDelay(o.cause)))
	}
	now := s.cfg.Now().UTC()
	state, reason := sess.StatusDetails.State, sess.StatusDetails.ReasonCode
	switch state {
	case amazonpay.StateCompleted:
		return s.record(ctx, p, h, s.transitionForCompletedSession(ctx, sess))
	case amazonpay.StateCanceled:
		return s.record(ctx, p, h, payment.Transition{
			Outcome:    canceledOutcome(reason),
			ReasonCode: reason,
			Time:       now,
		})
	case amazonpay.StateOpen:
		ready := len(sess.Constraints) == 0 && !o.amazonSaidNotCompletable
		switch {
		case ready && o.mayComplete:
			return s.completeUpstream(ctx, p, h, nil)
		case ready && o.cause != nil && o.failure.AfterReadBack(amazonpay.ReadBackNotApplied) == amazonpay.StepNotApplied:
			// The last attempt was throttled and the session shows no
			// earlier one applied: nothing was.
			return s.withdraw(ctx, p, h, throttledError(o.cause, map[string]string{"amazon_reason_code": o.failure.ReasonCode}))
		case ready:
			// Our completion did not take effect; the reconciler completes
			// it shortly with the same idempotency key.
			return s.markUnknown(ctx, p, h)
		case p.Outcome == payment.Completing:
			return s.withdraw(ctx, p, h, newError(KindFailedPrecondition, ReasonCheckoutSessionNotReady,
				"the buyer has not finished on Amazon Pay's page yet", nil, nil))
		default:
			// The caller was told "unknown"; keep looking until the buyer
			// finishes or Amazon expires the session (24 h).
			return s.markUnknown(ctx, p, h)
		}
	default:
		s.log.WarnContext(ctx, "checkout session in an unexpected state",
			"checkout_session_id", p.CheckoutSessionID, "state", state)
		return s.markUnknown(ctx, p, h)
	}
}

// transitionForCompletedSession reads a Completed session; the charge's
// state decides between completed and pending. If the charge cannot be read,
// the payment is recorded as pending: it went through, and the tracker will
// learn the charge's final state.
func (s *Service) transitionForCompletedSession(ctx context.Context, sess *amazonpay.CheckoutSession) payment.Transition {
	now := s.cfg.Now().UTC()
	t := payment.Transition{
		Outcome:            payment.Completed,
		ChargePermissionID: sess.ChargePermissionID,
		ChargeID:           sess.ChargeID,
		Time:               now,
	}
	if sess.ChargeID == "" {
		return t // paymentIntent Confirm: no charge at checkout
	}
	charge, _, err := s.amazon.GetCharge(ctx, sess.ChargeID)
	if err == nil {
		if o, ok := payment.OutcomeForCharge(charge.StatusDetails.State); ok {
			t.Outcome = o
			t.ChargeState = charge.StatusDetails.State
			if o == payment.Declined || o == payment.Canceled {
				t.ReasonCode = charge.StatusDetails.ReasonCode
			}
			if o == payment.Pending {
				t.NextCheckTime = now.Add(s.cfg.PendingFirstPoll)
			}
			return t
		}
	}
	t.Outcome = payment.Pending
	t.NextCheckTime = now.Add(s.cfg.PendingFirstPoll)
	return t
}

// record stores a learned result. Storing must not be given up lightly: the
// result may be a completed payment. It retries briefly, then reports the
// store as unavailable; the attempt stays leased and the reconciler learns
// the result again from Amazon Pay after the lease.
func (s *Service) record(ctx context.Context, p payment.Payment, h holder, t payment.Transition) (payment.Payment, error) {
	t.Checked = h.check
	var lastErr error
	for i := 0; i < 5; i++ {
		stored, changed, err := s.store.Transition(ctx, p.CheckoutSessionID, t)
		if err == nil {
			if changed {
				s.log.InfoContext(ctx, "payment outcome recorded",
					"checkout_session_id", p.CheckoutSessionID, "order_id", stored.OrderID,
					"outcome", string(stored.Outcome), "reason_code", stored.ReasonCode,
					"charge_id", stored.ChargeID, "charge_permission_id", stored.ChargePermissionID)
			}
			return stored, nil
		}
		if errors.Is(err, store.ErrNotFound) {
			return payment.Payment{}, newError(KindInternal, ReasonPaymentNotFound, "the attempt disappeared", err, nil)
		}
		lastErr = err
		if !sleep(ctx, time.Duration(100<<i)*time.Millisecond) {
			break
		}
	}
	s.log.ErrorContext(ctx, "could not record a learned outcome; the reconciler will learn it again",
		"checkout_session_id", p.CheckoutSessionID, "outcome", string(t.Outcome), "error", errString(lastErr))
	return payment.Payment{}, storeError(lastErr)
}

// withdraw removes an attempt that Amazon Pay answered was wrong, and
// returns e.
func (s *Service) withdraw(ctx context.Context, p payment.Payment, h holder, e *Error) (payment.Payment, error) {
	if p.Outcome != payment.Completing {
		// A payment a caller was already told about stays; just look again
		// later, no sooner than Amazon asked (a throttled reconciliation).
		s.log.WarnContext(ctx, "amazon pay rejected a reconciliation", "checkout_session_id", p.CheckoutSessionID, "reason", e.Reason)
		_, _ = s.markUnknownAfter(ctx, p, h, RetryDelay(e.Err))
		return payment.Payment{}, e
	}
	if err := s.store.DeleteAttempt(ctx, p.CheckoutSessionID, h.owner); err != nil {
		// Another worker holds the attempt now (or the store is down): it will
		// reach the same answer itself.
		s.log.WarnContext(ctx, "could not withdraw attempt", "checkout_session_id", p.CheckoutSessionID, "error", err.Error())
	}
	return payment.Payment{}, e
}

// markUnknown records that Amazon Pay's answer is not known yet and
// schedules the next reconciliation.
func (s *Service) markUnknown(ctx context.Context, p payment.Payment, h holder) (payment.Payment, error) {
	return s.markUnknownAfter(ctx, p, h, 0)
}

// markUnknownAfter is markUnknown with the next reconciliation no sooner
// than atLeast from now (Amazon's Retry-After, or the rate limit's pause),
// so that throttling never brings the next call forward.
func (s *Service) markUnknownAfter(ctx context.Context, p payment.Payment, h holder, atLeast time.Duration) (payment.Payment, error) {
	now := s.cfg.Now().UTC()
	next := now.Add(max(s.reconcileDelay(p.CheckAttempts), atLeast))
	if p.Outcome == payment.Completing {
		return s.record(ctx, p, h, payment.Transition{Outcome: payment.Unknown, NextCheckTime: next, Time: now})
	}
	stored, err := s.store.Reschedule(ctx, p.CheckoutSessionID, h.owner, next, now)
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			return s.store.Get(ctx, p.CheckoutSessionID)
		}
		return payment.Payment{}, storeError(err)
	}
	return stored, nil
}

// reconcileDelay is the exponential backoff, with ±20% jitter so that
// replicas do not move in step.
func (s *Service) reconcileDelay(attempts int) time.Duration {
	return checks.Backoff(s.cfg.ReconcileFirstDelay, s.cfg.ReconcileMaxInterval, attempts, 0.2)
}

// keepLease keeps the payment leased to owner until stop is called.
func (s *Service) keepLease(ctx context.Context, id, owner string) (stop func()) {
	return checks.Keep(ctx, s.store, id, owner, s.cfg.InflightLease, s.cfg.Now, s.log)
}

// Get returns the stored payment of a checkout session.
func (s *Service) Get(ctx context.Context, checkoutSessionID string) (payment.Payment, error) {
	p, err := s.store.Get(ctx, payment.CanonicalCheckoutSessionID(checkoutSessionID))
	return p, lookupError(err)
}

// GetByOrder returns the most recent stored payment of an order.
func (s *Service) GetByOrder(ctx context.Context, orderID string) (payment.Payment, error) {
	p, err := s.store.GetLatestByOrder(ctx, orderID)
	return p, lookupError(err)
}

// Watch calls fn with the stored payment of a checkout session, then again
// after each re-read (a stored change of the payment or of an operation on
// its charge permission, or the periodic recheck; fn skips repeats), until
// fn returns false or fails, or ctx ends.
// fn's error is returned as is. Errors of the store end the watch with an
// *Error: not found if nothing is stored for the session, the store being
// unavailable otherwise (the caller watches again later).
func (s *Service) Watch(ctx context.Context, checkoutSessionID string, fn func(payment.Payment) (more bool, err error)) error {
	checkoutSessionID = payment.CanonicalCheckoutSessionID(checkoutSessionID)
	var fnErr error
	err := watch.FollowAll(ctx, s.hub, s.store, checkoutSessionID, s.cfg.WatchRecheck, func(p payment.Payment) (bool, error) {
		more, err := fn(p)
		fnErr = err
		return more, err
	})
	switch {
	case err == nil:
		return nil
	case fnErr != nil:
		return fnErr
	case errors.Is(err, store.ErrNotFound):
		return newError(KindNotFound, ReasonPaymentNotFound, "no payment is stored for this checkout session", err, nil)
	default:
		return storeError(err)
	}
}

func lookupError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return newError(KindNotFound, ReasonPaymentNotFound, "no payment is stored for this key", err, nil)
	default:
		return storeError(err)
	}
}

func storeError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return newError(KindUnavailable, ReasonStoreUnavailable, "the payment store is unavailable; retry the same call", err, nil)
}

func (s *Service) leaseOwner() string { return checks.Owner(s.cfg.Owner) }

func toPrice(m payment.Money) amazonpay.Price {
	return amazonpay.Price{Amount: m.Amount, CurrencyCode: m.CurrencyCode}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sleep waits d or until ctx ends; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
