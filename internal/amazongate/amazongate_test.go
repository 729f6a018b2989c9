package amazongate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
	"github.com/paymentcompletion/paymentcompletion/internal/amazongate"
	"github.com/paymentcompletion/paymentcompletion/internal/overload"
)

// TestGateBoundsCallsInFlight: with two places and a queue of one, two
// calls reach the simulator (held by its latency fault), a third waits,
// and a fourth is refused at once, unsent, without reaching Amazon Pay.
func TestGateBoundsCallsInFlight(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	srv := simtest.Start(t, simtest.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && bytes.Contains([]byte(r.URL.Path), []byte("/checkoutSessions/")) {
				reached.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}})
	body, _ := json.Marshal(map[string]any{"operation": "GetCheckoutSession", "kind": "latency", "count": 3, "latency": "1s"})
	resp, err := http.Post(srv.URL+"/simulator/faults", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("add fault: %v %v", resp, err)
	}
	resp.Body.Close()
	c := srv.Client(t, amazonpay.RetryPolicy{MaxAttempts: 1}, 0)
	g, err := amazongate.New(c, 2, 1)
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	const session = "6f1c2b0e-8a4d-4f3e-9b2a-1c5d7e9f0a2b"
	var wg sync.WaitGroup
	results := make([]amazonpay.Class, 3)
	call := func(i int) {
		defer wg.Done()
		_, _, err := g.GetCheckoutSession(ctx, session)
		results[i] = amazonpay.Classify(err).Class
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	wg.Add(2)
	go call(0)
	go call(1)
	waitFor("two calls at the simulator", func() bool { return reached.Load() == 2 })
	wg.Add(1)
	go call(2)
	waitFor("a queued call", func() bool { _, waiting := g.InUse(); return waiting == 1 })

	_, _, err = g.GetCheckoutSession(ctx, session)
	if f := amazonpay.Classify(err); f.Class != amazonpay.ClassNotSent {
		t.Errorf("refused call classifies as %v, want %v: %v", f.Class, amazonpay.ClassNotSent, err)
	}
	if oe, ok := overload.AsError(err); !ok || oe.RetryAfter <= 0 {
		t.Errorf("refused call: %v; want an *overload.Error with a retry delay", err)
	}
	if n := reached.Load(); n != 2 {
		t.Errorf("%d calls reached the simulator while the gate was full, want 2", n)
	}
	wg.Wait()
	for i, cl := range results {
		if cl != amazonpay.ClassNotFound {
			t.Errorf("admitted call %d: %v, want the simulator's answer (not found)", i, cl)
		}
	}
	if n := reached.Load(); n != 3 {
		t.Errorf("%d calls reached the simulator, want 3", n)
	}
	if inFlight, waiting := g.InUse(); inFlight != 0 || waiting != 0 {
		t.Errorf("after the calls: %d in flight, %d waiting", inFlight, waiting)
	}
}

// TestSigningPlaces: one CPU is left free of signatures when there is more
// than one.
func TestSigningPlaces(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ procs, want int }{{1, 1}, {2, 1}, {4, 3}, {16, 15}} {
		if got := amazongate.SigningPlaces(tt.procs); got != tt.want {
			t.Errorf("SigningPlaces(%d) = %d, want %d", tt.procs, got, tt.want)
		}
	}
}
