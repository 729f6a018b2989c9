package amazonpay

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// recordingPacer admits the first `admit` attempts and records what it was
// asked and told.
type recordingPacer struct {
	mu       sync.Mutex
	admit    int
	waits    []string
	answered []int
	after    []time.Duration
}

var errHeldBack = errors.New("held back")

func (p *recordingPacer) Wait(_ context.Context, op string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waits = append(p.waits, op)
	if len(p.waits) > p.admit {
		return errHeldBack
	}
	return nil
}

func (p *recordingPacer) Answered(_ string, status int, retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answered = append(p.answered, status)
	p.after = append(p.after, retryAfter)
}

// TestPacer checks that a pacer is asked before every attempt and told each
// answer, that a first attempt it holds back is not sent (an unsent
// *TransportError wrapping its error), and that a retry it holds back ends
// the call with the last answer.
func TestPacer(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n%2 == 1 {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, `{"reasonCode":"TooManyRequests","message":"slow down"}`)
			return
		}
		writeJSON(w, http.StatusOK, chargeJSON)
	})
	cfg := testConfig(f.URL)
	cfg.Retry.MaxBackoff = time.Millisecond // caps the wait for Retry-After
	c := newTestClient(t, cfg)

	t.Run("admitted", func(t *testing.T) {
		p := &recordingPacer{admit: 10}
		if _, info, err := c.GetCharge(t.Context(), "S01-1-C1", WithPacer(p)); err != nil || info.Attempts != 2 {
			t.Fatalf("GetCharge = %v after %d attempts, want success after 2", err, info.Attempts)
		}
		if len(p.waits) != 2 || p.waits[0] != "GetCharge" || len(p.answered) != 2 || p.answered[0] != 429 || p.answered[1] != 200 || p.after[0] != time.Second {
			t.Errorf("pacer asked %v, told %v %v", p.waits, p.answered, p.after)
		}
	})
	t.Run("first attempt held back", func(t *testing.T) {
		before := len(f.recorded())
		p := &recordingPacer{admit: 0}
		_, _, err := c.GetCharge(t.Context(), "S01-1-C1", WithPacer(p))
		var te *TransportError
		if !errors.As(err, &te) || te.MayHaveBeenApplied || !errors.Is(err, errHeldBack) || Classify(err).Class != ClassNotSent {
			t.Fatalf("err = %v, want an unsent *TransportError wrapping the pacer's error", err)
		}
		if got := len(f.recorded()); got != before {
			t.Errorf("%d requests sent, want none", got-before)
		}
	})
	t.Run("retry held back", func(t *testing.T) {
		p := &recordingPacer{admit: 1}
		_, info, err := c.GetCharge(t.Context(), "S01-1-C1", WithPacer(p))
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || info.Attempts != 1 || Classify(err).Class != ClassThrottled {
			t.Fatalf("err = %v after %d attempts, want the first 429", err, info.Attempts)
		}
	})
}
