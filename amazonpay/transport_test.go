package amazonpay

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/logtest"
)

// TestVerifierRejectsTampering makes sure the test verifier can fail: a
// request signed by the client verifies, and every tampered copy does not.
func TestVerifierRejectsTampering(t *testing.T) {
	t.Parallel()
	var captured *http.Request
	var body []byte
	c := newTestClient(t, Config{
		PublicKeyID: testKeyID, PrivateKey: testKey(), Region: "eu",
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			captured = r
			body, _ = io.ReadAll(r.Body)
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(sessionJSON)), Request: r}, nil
		})},
	})
	if _, _, err := c.CompleteCheckoutSession(t.Context(), "s-1", CompleteCheckoutSessionRequest{ChargeAmount: Price{"1.00", "EUR"}}); err != nil {
		t.Fatal(err)
	}
	// Make the captured client request look like a server-side one.
	serverSide := func() *http.Request {
		r := captured.Clone(t.Context())
		r.Host = captured.URL.Host
		r.RequestURI = captured.URL.RequestURI()
		return r
	}
	if _, err := verifySignature(&testKey().PublicKey, serverSide(), body); err != nil {
		t.Fatalf("untampered request rejected: %v", err)
	}
	tamper := []struct {
		name string
		edit func(r *http.Request, body []byte) []byte
	}{
		{"body", func(_ *http.Request, b []byte) []byte { return bytes.Replace(b, []byte("1.00"), []byte("9.00"), 1) }},
		{"date", func(r *http.Request, b []byte) []byte { r.Header.Set("X-Amz-Pay-Date", "20300101T000000Z"); return b }},
		{"idempotency_key", func(r *http.Request, b []byte) []byte { r.Header.Set("X-Amz-Pay-Idempotency-Key", "other"); return b }},
		{"path", func(r *http.Request, b []byte) []byte { r.RequestURI = "/v2/checkoutSessions/s-2/complete"; return b }},
		{"method", func(r *http.Request, b []byte) []byte { r.Method = http.MethodPut; return b }},
		{"algorithm_swapped", func(r *http.Request, b []byte) []byte {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AMZN-PAY-RSASSA-PSS-V2 ", "AMZN-PAY-RSASSA-PSS ", 1))
			return b
		}},
		{"region_unsigned", func(r *http.Request, b []byte) []byte {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-amz-pay-region", "", 1))
			return b
		}},
	}
	for _, tt := range tamper {
		r := serverSide()
		b := tt.edit(r, bytes.Clone(body))
		if _, err := verifySignature(&testKey().PublicKey, r, b); err == nil {
			t.Errorf("%s: tampered request verified", tt.name)
		}
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	var protos sync.Map
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		body, _ := io.ReadAll(r.Body)
		if _, err := verifySignature(&testKey().PublicKey, r, body); err != nil {
			t.Errorf("signature: %v", err)
		}
		writeJSON(w, http.StatusOK, chargeJSON)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the expected handshake failure
	srv.StartTLS()
	t.Cleanup(srv.Close)

	t.Run("private_ca_http2", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AddCert(srv.Certificate())
		cfg := testConfig(srv.URL)
		cfg.RootCAs = roots
		c := newTestClient(t, cfg)
		if _, _, err := c.GetCharge(t.Context(), "S01-1-C1"); err != nil {
			t.Fatal(err)
		}
		if _, ok := protos.Load("HTTP/2.0"); !ok {
			t.Error("default client did not negotiate HTTP/2")
		}
	})

	t.Run("unknown_authority_not_retried", func(t *testing.T) {
		var logs logtest.Buffer
		cfg := testConfig(srv.URL) // system roots
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c := newTestClient(t, cfg)
		_, info, err := c.GetCharge(t.Context(), "S01-1-C1")
		var te *TransportError
		if !errors.As(err, &te) || te.MayHaveBeenApplied || info.Attempts != 1 {
			t.Errorf("err = %v, attempts %d; want a not-applied TransportError after 1 attempt", err, info.Attempts)
		}
		// A certificate that does not verify is a configuration (or
		// interception) problem, not unavailability: its own class, and an
		// ERROR line with the cause.
		if f := Classify(err); f.Class != ClassTLSFailed {
			t.Errorf("Classify = %v, want %v", f.Class, ClassTLSFailed)
		}
		line := logs.String()
		for _, want := range []string{`"level":"ERROR"`, "certificate signed by unknown authority", EnvCAFile, `"op":"GetCharge"`} {
			if !strings.Contains(line, want) {
				t.Errorf("log lacks %s:\n%s", want, line)
			}
		}
	})

	t.Run("plain_http_to_tls_is_not_a_certificate_problem", func(t *testing.T) {
		// Another TLS failure (the server answers plain HTTP): not a
		// certificate problem.
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		t.Cleanup(plain.Close)
		c := newTestClient(t, testConfig(strings.Replace(plain.URL, "http://", "https://", 1)))
		_, _, err := c.GetCharge(t.Context(), "S01-1-C1")
		if f := Classify(err); err == nil || f.Class == ClassTLSFailed {
			t.Errorf("Classify(%v) = %v, want another class", err, f.Class)
		}
	})
}

// TestConcurrentCalls runs hundreds of calls at once through one client.
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	const n = 300
	f := newFakeAmazon(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		cur := inFlight.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		if cur == n {
			close(release)
		}
		select {
		case <-release:
		case <-time.After(time.Minute): // fail below instead of hanging
		}
		inFlight.Add(-1)
		routes(w, r, 0)
	})
	c := newTestClient(t, testConfig(f.URL))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, _, err := c.GetCharge(t.Context(), "S01-1-C1"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// All n requests were held open together: the pool did not serialize
	// them.
	if peak.Load() != n {
		t.Errorf("peak concurrency %d, want %d", peak.Load(), n)
	}
}
