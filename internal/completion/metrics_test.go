package completion_test

import (
	"sync"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storefake"
)

// answers records what the Metrics hook was told.
type answers struct {
	mu  sync.Mutex
	got []string
}

func (a *answers) CompletionAnswered(o payment.Outcome, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, string(o)+"/"+reason)
}

func TestMetricsToldEveryAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		az   *fakeAmazon
		req  completion.Request
		want string
	}{
		{"completed", &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: ok200}}, request(), "completed/"},
		{"pending", &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{v: completedSession, info: accepted202}}, request(), "pending/"},
		{"unknown", &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errLost}, session: answer[amazonpay.CheckoutSession]{err: errLost}}, request(), "unknown/"},
		{"rejected", &fakeAmazon{complete: answer[amazonpay.CheckoutSession]{err: errAmount}}, request(), "/" + completion.ReasonAmountMismatch},
		{"invalid", &fakeAmazon{}, completion.Request{}, "/" + completion.ReasonInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := &answers{}
			svc := newService(storefake.New(), tt.az, completion.Config{Metrics: m})
			_, _ = svc.Complete(t.Context(), tt.req)
			if len(m.got) != 1 || m.got[0] != tt.want {
				t.Errorf("Metrics told %v, want [%s]", m.got, tt.want)
			}
		})
	}
}
