package simulator_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// inMemory drives a simulator through ServeHTTP, without sockets, so a
// synctest bubble holds every goroutine involved.
type inMemory struct {
	t      *testing.T
	sim    *simulator.Simulator
	signer *signer
}

func (m *inMemory) do(method, path string, body any, signed bool) response {
	m.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req := httptest.NewRequest(method, "https://sim.test"+path, bytes.NewReader(b))
	if signed {
		if method == http.MethodPost {
			req.Header.Set("x-amz-pay-idempotency-key", key()["x-amz-pay-idempotency-key"])
		}
		m.signer.sign(req, b, time.Now())
	}
	rec := httptest.NewRecorder()
	m.sim.ServeHTTP(rec, req)
	out := response{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(out.raw, &out.body)
	return out
}

// TestNotificationRetries checks which answers SNS retries (5xx, 429) and
// which are final (2xx delivered, another 4xx failed), within the attempts.
func TestNotificationRetries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []int
		wantHits  int
		wantState string
	}{
		{"server_errors_then_ok", []int{503, 502, 200}, 3, "delivered"},
		{"throttled_then_ok", []int{429, 204}, 2, "delivered"},
		{"client_error_is_final", []int{400}, 1, "failed"},
		{"not_found_is_final", []int{503, 404}, 2, "failed"},
		{"attempts_are_bounded", []int{500, 500, 500, 500, 500}, 3, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				hits := 0
				client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					mu.Lock()
					defer mu.Unlock()
					hits++
					return &http.Response{StatusCode: tc.statuses[min(hits, len(tc.statuses))-1], Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: r}, nil
				})}
				m := newInMemory(t, simulator.Options{NotificationClient: client, NotificationAttempts: 3})
				m.order()
				time.Sleep(time.Minute)
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				if hits != tc.wantHits {
					t.Errorf("%d attempts, want %d", hits, tc.wantHits)
				}
				ds := m.do("GET", "/simulator/notifications", nil, false)
				list := ds.body["notifications"].([]any)
				if len(list) != 1 || list[0].(map[string]any)["state"] != tc.wantState || list[0].(map[string]any)["attempts"] != float64(tc.wantHits) {
					t.Errorf("deliveries %s", ds.raw)
				}
			})
		})
	}
}

// newInMemory is a simulator on synctest's clock with the tests' key and
// one notification endpoint (SignatureVersion 2).
func newInMemory(t *testing.T, opts simulator.Options) *inMemory {
	t.Helper()
	sim, err := simulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	sim.SetPublicURL("https://sim.test")
	m := &inMemory{t: t, sim: sim, signer: registerSigner(t, sim, "SIMSYNCKEY0", testKey(t, 0))}
	if _, err := sim.AddNotificationEndpoint("https://shop.test/ipn", "", "2"); err != nil {
		t.Fatal(err)
	}
	return m
}

// order creates, pays and completes a checkout: one notification (the
// charge is Authorized).
func (m *inMemory) order() {
	m.t.Helper()
	r := m.do("POST", "/v2/checkoutSessions", sessionBody("Authorize", false, "14.00", "USD"), true)
	mustStatus(m.t, r, 201)
	id := r.str("checkoutSessionId")
	mustStatus(m.t, m.do("POST", "/simulator/checkoutSessions/"+id+"/buyer", map[string]string{"scenario": "Authorized"}, false), 200)
	mustStatus(m.t, m.do("POST", "/v2/checkoutSessions/"+id+"/complete",
		map[string]any{"chargeAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}}, true), 200)
}

// TestNotificationBackoffSchedule checks, on synctest's clock, that a
// failing delivery is retried after 1 s, 2 s and 4 s (the default backoff,
// doubling) and stops at the default 4 attempts, and that a delivery whose
// receiver answers 2xx on the last attempt is delivered.
func TestNotificationBackoffSchedule(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []int
		wantState string
	}{
		{"delivered_on_the_last_attempt", []int{503, 500, 429, 204}, "delivered"},
		{"given_up_after_four", []int{500, 500, 500, 500}, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var (
					mu     sync.Mutex
					at     []time.Duration
					bodies [][]byte
				)
				start := time.Now()
				client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					defer mu.Unlock()
					at = append(at, time.Since(start))
					bodies = append(bodies, b)
					status := 500
					if len(at) <= len(tc.statuses) {
						status = tc.statuses[len(at)-1]
					}
					return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: r}, nil
				})}
				m := newInMemory(t, simulator.Options{NotificationClient: client})
				m.order()

				time.Sleep(time.Minute) // synctest's clock: every retry comes due
				synctest.Wait()

				mu.Lock()
				defer mu.Unlock()
				want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}
				if len(at) != len(want) {
					t.Fatalf("attempts at %v, want %v", at, want)
				}
				for i := range want {
					if at[i] != want[i] {
						t.Errorf("attempt %d at %v, want %v", i+1, at[i], want[i])
					}
					if !bytes.Equal(bodies[i], bodies[0]) {
						t.Errorf("attempt %d sent another message", i+1)
					}
				}
				ds := m.do("GET", "/simulator/notifications", nil, false)
				list := ds.body["notifications"].([]any)
				if len(list) != 1 || list[0].(map[string]any)["state"] != tc.wantState || list[0].(map[string]any)["attempts"] != float64(4) {
					t.Errorf("deliveries %s", ds.raw)
				}

				// Without Serve the certificate is self-signed: trusting it,
				// the message verifies, its certificate fetched from the
				// simulator (in memory) at SigningCertURL.
				var env map[string]string
				if err := json.Unmarshal(bodies[0], &env); err != nil {
					t.Fatal(err)
				}
				fetch := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					rec := httptest.NewRecorder()
					m.sim.ServeHTTP(rec, r)
					return rec.Result(), nil
				})}
				cert := m.do("GET", strings.TrimPrefix(env["SigningCertURL"], "https://sim.test"), nil, false)
				roots := x509.NewCertPool()
				if !roots.AppendCertsFromPEM(cert.raw) {
					t.Fatalf("no certificate at %s: %s", env["SigningCertURL"], cert.raw)
				}
				if _, err := verifySNS(bodies[0], "sim.test", fetch, roots); err != nil {
					t.Errorf("does not verify: %v", err)
				}
			})
		})
	}
}
