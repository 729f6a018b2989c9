package amazonpay

import (
	"encoding/json"
	"net/http"
	"testing"
)

func BenchmarkSign(b *testing.B) {
	for _, alg := range []Algorithm{AlgorithmV1, AlgorithmV2} {
		b.Run(string(alg), func(b *testing.B) {
			s, err := NewSigner(testKeyID, testKey(), alg)
			if err != nil {
				b.Fatal(err)
			}
			sts := StringToSign(alg, docsCanonical)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(sts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCanonicalRequest(b *testing.B) {
	h := docsHeaders()
	body := []byte(docsBody)
	b.ReportAllocs()
	for b.Loop() {
		names := SignedHeaderNames(h)
		_ = StringToSign(AlgorithmV2, CanonicalRequest(http.MethodPost, "/live/v2/checkoutSessions", "", h, names, body))
	}
}

func BenchmarkIdempotencyKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = IdempotencyKey("complete", "bd504926-f659-4ad7-a1a9-9a747aaf5275")
	}
}

func BenchmarkDecodeCheckoutSession(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(sessionJSON)))
	for b.Loop() {
		var s CheckoutSession
		if err := json.Unmarshal([]byte(sessionJSON), &s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTrip is a full signed GetCharge against a local server
// (keep-alive connection, no signature check on the server side so that
// only the client's cost and the loopback round trip are measured).
func BenchmarkRoundTrip(b *testing.B) {
	srv := newPlainServer(b, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, chargeJSON)
	})
	c := newTestClient(b, testConfig(srv.URL))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.GetCharge(b.Context(), "S01-5105180-3221187-C056351"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripParallel runs GetCharge from many goroutines at once
// through the pooled transport.
func BenchmarkRoundTripParallel(b *testing.B) {
	srv := newPlainServer(b, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, chargeJSON)
	})
	c := newTestClient(b, testConfig(srv.URL))
	b.ReportAllocs()
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.GetCharge(b.Context(), "S01-5105180-3221187-C056351"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
