package simulator_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// BenchmarkSignedGetCheckoutSession measures one signed Get Checkout
// Session through the handler (signature verification dominates).
func BenchmarkSignedGetCheckoutSession(b *testing.B) {
	clock := simulator.NewFakeClock(epoch)
	sim, err := simulator.New(simulator.Options{Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	s := registerSigner(b, sim, "BENCHKEY", testKey(b, 0))
	body := `{"storeId":"s","webCheckoutDetails":{"checkoutReviewReturnUrl":"https://a.example/"}}`
	req := httptest.NewRequest("POST", "http://pay-api.amazon.com/v2/checkoutSessions", strings.NewReader(body))
	s.sign(req, []byte(body), clock.Now())
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	if rec.Code != 201 {
		b.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	id := rec.Body.String()[len(`{"checkoutSessionId":"`):][:36]
	get := httptest.NewRequest("GET", "http://pay-api.amazon.com/v2/checkoutSessions/"+id, nil)
	s.sign(get, nil, clock.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := get.Clone(get.Context())
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("get: %d %s", w.Code, w.Body)
		}
	}
}
