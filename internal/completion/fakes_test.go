package completion_test

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
)

// answer is one scripted Amazon Pay answer.
type answer[T any] struct {
	v    *T
	info amazonpay.CallInfo
	err  error
	// hold delays the answer (in the test's bubble: fake time).
	hold time.Duration
}

func (a answer[T]) give(ctx context.Context) (*T, amazonpay.CallInfo, error) {
	if a.hold > 0 {
		t := time.NewTimer(a.hold)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, a.info, &amazonpay.TransportError{Err: ctx.Err(), MayHaveBeenApplied: true}
		}
	}
	if a.err == nil && a.v == nil {
		return nil, a.info, errors.New("fake amazon: no answer scripted")
	}
	return a.v, a.info, a.err
}

// fakeAmazon answers with scripted values and counts the calls.
type fakeAmazon struct {
	mu         sync.Mutex
	prepareErr error
	// signWait is how long a Complete call waits to be signed (fake time
	// in the test's bubble), as it would for a signing place under load.
	signWait time.Duration
	complete answer[amazonpay.CheckoutSession]
	session  answer[amazonpay.CheckoutSession]
	charge   answer[amazonpay.Charge]
	calls    map[string]int
}

var _ completion.Amazon = (*fakeAmazon)(nil)

func (f *fakeAmazon) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeAmazon) enter(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
}

func (f *fakeAmazon) PrepareComplete(string, amazonpay.CompleteCheckoutSessionRequest) (completion.CompleteCall, error) {
	if f.prepareErr != nil {
		return nil, f.prepareErr
	}
	return &completeCall{f: f}, nil
}

type completeCall struct {
	f      *fakeAmazon
	signed bool
}

func (c *completeCall) Sign(ctx context.Context) error {
	if c.signed || c.f.signWait <= 0 {
		c.signed = true
		return nil
	}
	t := time.NewTimer(c.f.signWait)
	defer t.Stop()
	select {
	case <-t.C:
		c.signed = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *completeCall) Send(ctx context.Context) (*amazonpay.CheckoutSession, amazonpay.CallInfo, error) {
	if err := c.Sign(ctx); err != nil {
		return nil, amazonpay.CallInfo{}, &amazonpay.TransportError{Err: err}
	}
	c.f.enter("Complete")
	return c.f.complete.give(ctx)
}

func (f *fakeAmazon) GetCheckoutSession(ctx context.Context, _ string, _ ...amazonpay.CallOption) (*amazonpay.CheckoutSession, amazonpay.CallInfo, error) {
	f.enter("GetCheckoutSession")
	return f.session.give(ctx)
}

func (f *fakeAmazon) GetCharge(ctx context.Context, _ string, _ ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	f.enter("GetCharge")
	return f.charge.give(ctx)
}
