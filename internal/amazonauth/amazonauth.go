// Package amazonauth tells whether Amazon Pay accepts the service's
// credentials, for the readiness probe. It watches every answer Amazon Pay
// gives (as an amazonpay.CallObserver): 401 or 403 means the credentials
// are rejected, any other answer that they are accepted. While it knows
// nothing yet, or the credentials are rejected, a check asks Amazon Pay
// itself with a signed read of a checkout session that does not exist (a
// 404 says the signature was accepted), so readiness learns of a fix, or
// of a transient refusal, without waiting for traffic; once they are
// accepted a check costs nothing.
//
// An Amazon Pay that cannot be reached says nothing about the credentials:
// it leaves the state as it was, so an outage at Amazon never takes
// replicas out of rotation.
package amazonauth

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
)

// ErrRejected is Check's answer while Amazon Pay refuses the credentials.
var ErrRejected = errors.New("amazon pay rejects the service's credentials (401/403)")

// ProbeSessionID is the checkout session the probe reads: a well-formed
// ID no session has.
const ProbeSessionID = "00000000-0000-4000-8000-000000000000"

// state values.
const (
	unknown int32 = iota
	accepted
	rejected
)

// Watch follows whether the credentials are accepted. The zero value is
// ready to use; set Probe before calling Check.
type Watch struct {
	state atomic.Int32
	// Probe makes one signed call to Amazon Pay and returns its status
	// (0 when none was received).
	Probe func(ctx context.Context) int
}

// CallStarted implements amazonpay.CallObserver.
func (w *Watch) CallStarted(ctx context.Context, _ string) (context.Context, func(amazonpay.CallInfo, error)) {
	return ctx, func(info amazonpay.CallInfo, _ error) { w.observe(info.StatusCode) }
}

// observe records what an answer's status says about the credentials.
func (w *Watch) observe(status int) {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		w.state.Store(rejected)
	case status != 0:
		w.state.Store(accepted)
	}
}

// Check returns ErrRejected while Amazon Pay refuses the credentials, nil
// otherwise. Unless they are known to be accepted it probes first.
func (w *Watch) Check(ctx context.Context) error {
	if w.state.Load() != accepted && w.Probe != nil {
		w.observe(w.Probe(ctx))
	}
	if w.state.Load() == rejected {
		return ErrRejected
	}
	return nil
}

// ProbeWith returns a Probe reading ProbeSessionID with c.
func ProbeWith(c *amazonpay.Client) func(ctx context.Context) int {
	return func(ctx context.Context) int {
		_, info, _ := c.GetCheckoutSession(ctx, ProbeSessionID)
		return info.StatusCode
	}
}
