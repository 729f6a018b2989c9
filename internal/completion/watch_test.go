package completion_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storefake"
)

// TestWatchStoreOutage: a store outage ends a watch with the store being
// unavailable (which callers retry), not an internal error, and watches
// work again once the store is back.
func TestWatchStoreOutage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := storefake.New()
		now := time.Now().UTC()
		st.Put(storedAttempt(payment.Unknown, now))
		svc := newService(st, &fakeAmazon{}, completion.Config{WatchRecheck: time.Second})

		wantUnavailable := func(err error) {
			t.Helper()
			e, ok := completion.AsError(err)
			if !ok || e.Kind != completion.KindUnavailable || e.Reason != completion.ReasonStoreUnavailable {
				t.Errorf("Watch = %v, want the store unavailable", err)
			}
		}
		// An open watch, then the store goes away.
		var seen int
		err := svc.Watch(t.Context(), sessionID, func(p payment.Payment) (bool, error) {
			seen++
			st.SetFail("Get", storefake.ErrDown)
			return true, nil
		})
		wantUnavailable(err)
		if seen != 1 {
			t.Errorf("saw %d updates before the outage, want 1", seen)
		}
		// A new watch during the outage.
		wantUnavailable(svc.Watch(t.Context(), sessionID, func(payment.Payment) (bool, error) { return true, nil }))

		// The store is back.
		st.SetFail("Get", nil)
		err = svc.Watch(t.Context(), sessionID, func(p payment.Payment) (bool, error) { return false, nil })
		if err != nil {
			t.Errorf("Watch after the outage: %v", err)
		}
	})
}

func TestWatchErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := storefake.New()
		svc := newService(st, &fakeAmazon{}, completion.Config{})
		err := svc.Watch(t.Context(), "cs-none", func(payment.Payment) (bool, error) { return true, nil })
		if e, ok := completion.AsError(err); !ok || e.Kind != completion.KindNotFound || e.Reason != completion.ReasonPaymentNotFound {
			t.Errorf("Watch of nothing = %v, want payment not found", err)
		}
		st.Put(storedAttempt(payment.Unknown, time.Now().UTC()))
		sendErr := errors.New("stream broken")
		if err := svc.Watch(t.Context(), sessionID, func(payment.Payment) (bool, error) { return false, sendErr }); err != sendErr {
			t.Errorf("Watch = %v, want fn's error as is", err)
		}
	})
}
