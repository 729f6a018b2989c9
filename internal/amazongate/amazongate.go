// Package amazongate is the way every caller in the process reaches Amazon
// Pay: completions, the reconciler, the tracker and the live reads all hold
// the same Gate, which bounds the Amazon Pay calls in flight at once and
// the callers waiting for one, so that a slow Amazon cannot pile up
// goroutines and connections without bound, and paces every attempt
// (retries included) with one client-side rate limit per operation
// (Rates: Amazon's live quotas by default), paused when Amazon Pay
// throttles, with calls a buyer waits on ahead of background work
// (Background). It decides nothing about payments: a refused call is
// reported as a call that was not sent (amazonpay.ClassNotSent), wrapping
// an *overload.Error or a *RateError, and each caller handles it as it
// handles any unsent call.
package amazongate

import (
	"context"
	"runtime"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/overload"
)

// Gate wraps an Amazon Pay client. It implements the Amazon Pay interfaces
// of completion, the tracker and the API.
type Gate struct {
	c     *amazonpay.Client
	calls *overload.Limiter
	// signing holds one token per Complete request being signed: an RSA
	// signature is most of a completion's CPU, and thousands of
	// completions arriving together would otherwise each start one at
	// once, filling the scheduler's run queue so that every other
	// goroutine (a GetPayment, a WatchPayment, the store's writer) waits
	// behind all of them. SigningPlaces keeps one CPU free of signatures
	// when there is more than one, so that reads stay fast however many
	// completions queue to be signed.
	signing chan struct{}
	// pace is the rate limit per operation; nil: none.
	pace *pacer
}

var _ completion.Amazon = (*Gate)(nil)

// New returns a Gate over c that lets maxCalls calls be in flight at once
// and up to maxQueued more wait for a place; a call beyond both fails at
// once, unsent. Its rate limits are Amazon's live quotas (LiveQuotas)
// unless an option says otherwise.
func New(c *amazonpay.Client, maxCalls, maxQueued int, opts ...Option) (*Gate, error) {
	l, err := overload.New("Amazon Pay calls", maxCalls, maxQueued)
	if err != nil {
		return nil, err
	}
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	g := &Gate{c: c, calls: l, signing: make(chan struct{}, SigningPlaces(runtime.GOMAXPROCS(0)))}
	if !o.rates.Off {
		if g.pace, err = newPacer(o.rates); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// SigningPlaces is how many Complete requests a Gate signs at once on procs
// CPUs: one fewer than the CPUs, at least one. The signatures of a burst
// then take at most procs-1 CPUs and the rest serve everything else; the
// price is a lower peak rate of completions (one RSA-2048 signature costs
// 1 to 2 ms of CPU, so each signing place still serves several
// hundred completions a second).
func SigningPlaces(procs int) int { return max(procs-1, 1) }

// Option adjusts a Gate.
type Option func(*options)

type options struct{ rates Rates }

// WithRates sets the Gate's rate limits.
func WithRates(r Rates) Option { return func(o *options) { o.rates = r } }

// paced adds the Gate's pacer to a call's options.
func (g *Gate) paced(opts []amazonpay.CallOption) []amazonpay.CallOption {
	if g.pace == nil {
		return opts
	}
	return append(opts[:len(opts):len(opts)], amazonpay.WithPacer(g.pace))
}

// throttled wraps the error of a call whose last answer was a throttling
// one with the pause its operation now keeps (a ThrottledError), so that
// the caller can say when to retry even without a Retry-After.
func (g *Gate) throttled(op string, err error) error {
	if err == nil || g.pace == nil || !amazonpay.Classify(err).LastThrottled() {
		return err
	}
	return &ThrottledError{Err: err, Pause: g.pace.pauseLeft(op)}
}

// InUse reports how many calls are in flight and how many wait.
func (g *Gate) InUse() (inFlight, waiting int) { return g.calls.InUse() }

// Size reports how many calls may be in flight at once and how many more
// may wait.
func (g *Gate) Size() (maxCalls, maxQueued int) { return g.calls.Size() }

// enter takes a place for one call (with the client's retries). Its error
// is an unsent call's: a *amazonpay.TransportError with MayHaveBeenApplied
// false, wrapping the *overload.Error of a full gate or the context's end.
func (g *Gate) enter(ctx context.Context) (release func(), err error) {
	release, err = g.calls.Acquire(ctx)
	if err != nil {
		return nil, &amazonpay.TransportError{Err: err}
	}
	return release, nil
}

// PrepareComplete implements completion.Amazon. Preparing (signing) needs
// no place among the calls in flight, only one of the signing places
// (SigningPlaces), and sending needs a place. With a signing place free the
// call is signed now, ahead, as the caller asks; with none (a burst of
// completions) it is signed by Sign, or by Send, so that no goroutine waits
// just to sign ahead: thousands of those would hold thousands of stacks for
// nothing.
func (g *Gate) PrepareComplete(id string, req amazonpay.CompleteCheckoutSessionRequest) (completion.CompleteCall, error) {
	select {
	case g.signing <- struct{}{}:
	default:
		return &gatedComplete{g: g, id: id, req: req}, nil
	}
	defer func() { <-g.signing }()
	call, err := g.c.PrepareCompleteCheckoutSession(id, req, g.paced(nil)...)
	if err != nil {
		return nil, err
	}
	return &gatedComplete{g: g, call: call}, nil
}

// gatedComplete is a Complete Checkout Session call, signed ahead (call)
// or still to be signed (id and req). It is used by one goroutine.
type gatedComplete struct {
	g    *Gate
	call *amazonpay.PreparedCompleteCheckoutSession
	id   string
	req  amazonpay.CompleteCheckoutSessionRequest
}

// Sign implements completion.CompleteCall: it waits for a signing place
// until ctx ends (then it returns ctx's error) and signs the call, unless
// it is signed already. Nothing is sent.
func (c *gatedComplete) Sign(ctx context.Context) error {
	if c.call != nil {
		return nil
	}
	select {
	case c.g.signing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	call, err := c.g.c.PrepareCompleteCheckoutSession(c.id, c.req, c.g.paced(nil)...)
	<-c.g.signing
	if err != nil {
		return err
	}
	c.call = call
	return nil
}

// Send implements completion.CompleteCall, signing the call first if Sign
// did not.
func (c *gatedComplete) Send(ctx context.Context) (*amazonpay.CheckoutSession, amazonpay.CallInfo, error) {
	if err := c.Sign(ctx); err != nil {
		// Not signed (the context ended, or input the client refuses,
		// which the domain validates first): nothing was sent.
		return nil, amazonpay.CallInfo{}, &amazonpay.TransportError{Err: err}
	}
	release, err := c.g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	sess, info, err := c.call.Send(ctx)
	return sess, info, c.g.throttled("CompleteCheckoutSession", err)
}

// GetCheckoutSession implements completion.Amazon.
func (g *Gate) GetCheckoutSession(ctx context.Context, id string, opts ...amazonpay.CallOption) (*amazonpay.CheckoutSession, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	sess, info, err := g.c.GetCheckoutSession(ctx, id, g.paced(opts)...)
	return sess, info, g.throttled("GetCheckoutSession", err)
}

// GetCharge implements completion.Amazon and the tracker's ChargeReader.
func (g *Gate) GetCharge(ctx context.Context, id string, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	ch, info, err := g.c.GetCharge(ctx, id, g.paced(opts)...)
	return ch, info, g.throttled("GetCharge", err)
}

// GetChargePermission serves the API's live read.
func (g *Gate) GetChargePermission(ctx context.Context, id string, opts ...amazonpay.CallOption) (*amazonpay.ChargePermission, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	cp, info, err := g.c.GetChargePermission(ctx, id, g.paced(opts)...)
	return cp, info, g.throttled("GetChargePermission", err)
}

// CaptureCharge implements chargeops.Amazon.
func (g *Gate) CaptureCharge(ctx context.Context, id string, req amazonpay.CaptureChargeRequest, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	ch, info, err := g.c.CaptureCharge(ctx, id, req, g.paced(opts)...)
	return ch, info, g.throttled("CaptureCharge", err)
}

// CancelCharge implements chargeops.Amazon.
func (g *Gate) CancelCharge(ctx context.Context, id string, req amazonpay.CancelChargeRequest, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	ch, info, err := g.c.CancelCharge(ctx, id, req, g.paced(opts)...)
	return ch, info, g.throttled("CancelCharge", err)
}

// CreateRefund implements chargeops.Amazon.
func (g *Gate) CreateRefund(ctx context.Context, req amazonpay.CreateRefundRequest, opts ...amazonpay.CallOption) (*amazonpay.Refund, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	rf, info, err := g.c.CreateRefund(ctx, req, g.paced(opts)...)
	return rf, info, g.throttled("CreateRefund", err)
}

// GetRefund implements chargeops.Amazon.
func (g *Gate) GetRefund(ctx context.Context, id string, opts ...amazonpay.CallOption) (*amazonpay.Refund, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	rf, info, err := g.c.GetRefund(ctx, id, g.paced(opts)...)
	return rf, info, g.throttled("GetRefund", err)
}

// CreateCharge implements chargeops.Amazon.
func (g *Gate) CreateCharge(ctx context.Context, req amazonpay.CreateChargeRequest, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	ch, info, err := g.c.CreateCharge(ctx, req, g.paced(opts)...)
	return ch, info, g.throttled("CreateCharge", err)
}

// CloseChargePermission implements chargeops.Amazon.
func (g *Gate) CloseChargePermission(ctx context.Context, id string, req amazonpay.CloseChargePermissionRequest, opts ...amazonpay.CallOption) (*amazonpay.ChargePermission, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	cp, info, err := g.c.CloseChargePermission(ctx, id, req, g.paced(opts)...)
	return cp, info, g.throttled("CloseChargePermission", err)
}

// UpdateChargePermission implements chargeops.Amazon.
func (g *Gate) UpdateChargePermission(ctx context.Context, id string, req amazonpay.UpdateChargePermissionRequest, opts ...amazonpay.CallOption) (*amazonpay.ChargePermission, amazonpay.CallInfo, error) {
	release, err := g.enter(ctx)
	if err != nil {
		return nil, amazonpay.CallInfo{}, err
	}
	defer release()
	cp, info, err := g.c.UpdateChargePermission(ctx, id, req, g.paced(opts)...)
	return cp, info, g.throttled("UpdateChargePermission", err)
}
