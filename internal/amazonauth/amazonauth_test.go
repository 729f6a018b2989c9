package amazonauth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/amazonauth"
)

// TestWatch walks the credentials' state through answers of calls and of
// the probe, counting the probes.
func TestWatch(t *testing.T) {
	t.Parallel()
	probeStatus, probes := 0, 0
	w := &amazonauth.Watch{Probe: func(context.Context) int { probes++; return probeStatus }}
	call := func(status int) {
		_, done := w.CallStarted(t.Context(), "GetCharge")
		done(amazonpay.CallInfo{StatusCode: status}, nil)
	}
	check := func(wantRejected bool, wantProbes int) {
		t.Helper()
		err := w.Check(t.Context())
		if errors.Is(err, amazonauth.ErrRejected) != wantRejected || (err != nil && !wantRejected) {
			t.Errorf("Check = %v, want rejected %v", err, wantRejected)
		}
		if probes != wantProbes {
			t.Errorf("%d probes, want %d", probes, wantProbes)
		}
	}
	// Amazon cannot be reached at start: nothing known, ready, and the
	// next check probes again.
	check(false, 1)
	check(false, 2)
	// The probe's 404: accepted; no more probes.
	probeStatus = 404
	check(false, 3)
	check(false, 3)
	// A call is refused 403: rejected, and checks probe until accepted.
	call(403)
	probeStatus = 401
	check(true, 4)
	probeStatus = 0 // Amazon unreachable: still rejected
	check(true, 5)
	probeStatus = 404
	check(false, 6)
	// Answers other than 401/403 (an error too) mean accepted.
	call(401)
	call(500)
	check(false, 6)
	// No status (a timeout) changes nothing.
	call(401)
	call(0)
	probeStatus = 403
	check(true, 7)
}

func TestWatchWithoutProbe(t *testing.T) {
	t.Parallel()
	var w amazonauth.Watch
	if err := w.Check(t.Context()); err != nil {
		t.Errorf("no probe, nothing known: %v", err)
	}
	_, done := w.CallStarted(t.Context(), "CompleteCheckoutSession")
	done(amazonpay.CallInfo{StatusCode: 401}, errors.New("refused"))
	if err := w.Check(t.Context()); !errors.Is(err, amazonauth.ErrRejected) {
		t.Errorf("after a 401: %v, want ErrRejected", err)
	}
}
