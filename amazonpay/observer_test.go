package amazonpay

import (
	"context"
	"sync"
	"testing"
)

type observedCall struct {
	op   string
	info CallInfo
	err  error
}

// recordingObserver records every call.
type recordingObserver struct {
	mu    sync.Mutex
	calls []observedCall
}

func (o *recordingObserver) CallStarted(ctx context.Context, op string) (context.Context, func(CallInfo, error)) {
	return ctx, func(info CallInfo, err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.calls = append(o.calls, observedCall{op: op, info: info, err: err})
	}
}

func TestObserverSeesEveryCall(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t, scripted(503, 200))
	obs := &recordingObserver{}
	cfg := testConfig(f.URL)
	cfg.Observer = obs
	c := newTestClient(t, cfg)
	if _, _, err := c.GetCharge(t.Context(), "S01-1-C1"); err != nil {
		t.Fatal(err)
	}
	f404 := newFakeAmazon(t, scripted(404))
	cfg404 := testConfig(f404.URL)
	cfg404.Observer = obs
	if _, _, err := newTestClient(t, cfg404).GetCheckoutSession(t.Context(), "bd504926-f659-4ad7-a1a9-9a747aaf5275"); err == nil {
		t.Fatal("404 answered no error")
	}
	if len(obs.calls) != 2 {
		t.Fatalf("observed %d calls, want 2: %+v", len(obs.calls), obs.calls)
	}
	got := obs.calls[0]
	if got.op != "GetCharge" || got.info.Attempts != 2 || got.info.StatusCode != 200 || got.info.RequestID != "req-2" || got.err != nil {
		t.Errorf("first call observed as %+v, want GetCharge, 2 attempts, 200, req-2", got)
	}
	got = obs.calls[1]
	if got.op != "GetCheckoutSession" || got.info.Attempts != 1 || got.info.StatusCode != 404 || got.err == nil {
		t.Errorf("second call observed as %+v, want GetCheckoutSession, 1 attempt, 404 with its error", got)
	}
}
