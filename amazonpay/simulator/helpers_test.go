package simulator_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// Test keys are generated once per test binary: RSA key generation is slow.
// testKey(t, i) for i < 3 is RSA-2048, as Amazon Pay requires of merchants;
// fastKey is RSA-1024, for benchmarks that sign many requests outside the
// time they measure.
var (
	testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
		return []*rsa.PrivateKey{generateKey(2048), generateKey(2048), generateKey(2048)}
	})
	fastKey = sync.OnceValue(func() *rsa.PrivateKey { return generateKey(1024) })
)

func testKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	return testKeys()[i]
}

func generateKey(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

// registerSigner registers key under keyID at sim for the default merchant
// and returns a signer (signature version 2) for it.
func registerSigner(t testing.TB, sim *simulator.Simulator, keyID string, key *rsa.PrivateKey) *signer {
	t.Helper()
	if err := sim.RegisterPublicKey(keyID, &key.PublicKey, ""); err != nil {
		t.Fatalf("RegisterPublicKey: %v", err)
	}
	return &signer{key: key, keyID: keyID, algorithm: "AMZN-PAY-RSASSA-PSS-V2"}
}

// signer is the tests' own Amazon Pay request signer, written from the
// published signing rules independently of the project's client.
type signer struct {
	key       *rsa.PrivateKey
	keyID     string
	algorithm string // "AMZN-PAY-RSASSA-PSS" or "AMZN-PAY-RSASSA-PSS-V2"
	extended  bool   // send x-amz-pay-date in extended ISO form (as the Node SDK)
	region    string
	// omit lists headers left out of SignedHeaders (they are still sent).
	omit map[string]bool
	// dateOffset shifts x-amz-pay-date from the clock.
	dateOffset time.Duration
	// saltOverride, when > 0, signs with this salt length instead.
	saltOverride int
}

func (s *signer) sign(r *http.Request, body []byte, now time.Time) {
	date := now.Add(s.dateOffset).UTC()
	if s.extended {
		r.Header.Set("x-amz-pay-date", date.Format("2006-01-02T15:04:05Z"))
	} else {
		r.Header.Set("x-amz-pay-date", date.Format("20060102T150405Z"))
	}
	r.Header.Set("accept", "application/json")
	r.Header.Set("content-type", "application/json")
	r.Header.Set("x-amz-pay-host", r.URL.Host)
	region := s.region
	if region == "" {
		region = "na"
	}
	r.Header.Set("x-amz-pay-region", region)

	var names []string
	for name := range r.Header {
		n := strings.ToLower(name)
		if n == "user-agent" || n == "x-amz-pay-simulation-code" || s.omit[n] {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	signedHeaders := strings.Join(names, ";")
	var canon strings.Builder
	canon.WriteString(r.Method + "\n" + r.URL.EscapedPath() + "\n" + r.URL.RawQuery + "\n")
	for _, n := range names {
		canon.WriteString(n + ":" + strings.TrimSpace(r.Header.Get(n)) + "\n")
	}
	sum := sha256.Sum256(body)
	canon.WriteString("\n" + signedHeaders + "\n" + hex.EncodeToString(sum[:]))
	csum := sha256.Sum256([]byte(canon.String()))
	sts := s.algorithm + "\n" + hex.EncodeToString(csum[:])
	digest := sha256.Sum256([]byte(sts))
	salt := 20
	if s.algorithm == "AMZN-PAY-RSASSA-PSS-V2" {
		salt = 32
	}
	if s.saltOverride > 0 {
		salt = s.saltOverride
	}
	sig, err := rsa.SignPSS(rand.Reader, s.key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256})
	if err != nil {
		panic(err)
	}
	r.Header.Set("authorization", fmt.Sprintf("%s PublicKeyId=%s, SignedHeaders=%s, Signature=%s",
		s.algorithm, s.keyID, signedHeaders, base64.StdEncoding.EncodeToString(sig)))
}

// harness is a simulator behind a real socket with a fake clock and a
// registered default-merchant key.
type harness struct {
	t      *testing.T
	sim    *simulator.Simulator
	srv    *httptest.Server
	clock  *simulator.FakeClock
	signer *signer
	prefix string
	// base and client, when set, address a simulator in another process
	// instead of srv.
	base   string
	client *http.Client
}

func (h *harness) url() string {
	if h.base != "" {
		return h.base
	}
	return h.srv.URL
}

func (h *harness) httpClient() *http.Client {
	if h.client != nil {
		return h.client
	}
	return h.srv.Client()
}

var epoch = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func newHarness(t *testing.T, opts simulator.Options) *harness {
	t.Helper()
	clock, _ := opts.Clock.(*simulator.FakeClock)
	if clock == nil {
		clock = simulator.NewFakeClock(epoch)
		opts.Clock = clock
	}
	sim, err := simulator.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		if err := sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	h := &harness{t: t, sim: sim, srv: srv, clock: clock, prefix: "/sandbox/v2"}
	h.signer = registerSigner(t, sim, "SIMTESTKEY0", testKey(t, 0))
	return h
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r response) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (r response) reason() string { return r.str("reasonCode") }

// call sends a signed API request. body may be nil, a string or a value to
// marshal. Extra headers are set before signing (so they are signed).
func (h *harness) call(s *signer, method, path string, body any, headers map[string]string) response {
	h.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			h.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, h.url()+path, bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if s == nil {
		s = h.signer
	}
	s.sign(req, b, h.clock.Now())
	return h.send(req)
}

func (h *harness) send(req *http.Request) response {
	h.t.Helper()
	resp, err := h.httpClient().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			h.t.Fatalf("%s %s: answer is not JSON: %q", req.Method, req.URL.Path, raw)
		}
	}
	return out
}

// control calls the unsigned control API.
func (h *harness) control(method, path string, body any) response {
	h.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			h.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, h.url()+"/simulator/"+path, bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.send(req)
}

func mustStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body %s", r.status, want, r.raw)
	}
}

// sessionBody is a typical Create Checkout Session request that leaves only
// the buyer to act.
func sessionBody(intent string, pending bool, amount, currency string) map[string]any {
	return map[string]any{
		"storeId": "amzn1.application-oa2-client.0123456789abcdef",
		"webCheckoutDetails": map[string]any{
			"checkoutReviewReturnUrl": "https://shop.example/review",
			"checkoutResultReturnUrl": "https://shop.example/result",
		},
		"paymentDetails": map[string]any{
			"paymentIntent":                 intent,
			"canHandlePendingAuthorization": pending,
			"chargeAmount":                  map[string]any{"amount": amount, "currencyCode": currency},
		},
		"merchantMetadata": map[string]any{"merchantReferenceId": "order-1"},
	}
}

// newSession creates a session and returns its id.
func (h *harness) newSession(intent string, pending bool) string {
	h.t.Helper()
	r := h.call(nil, "POST", h.prefix+"/checkoutSessions", sessionBody(intent, pending, "14.00", "USD"), nil)
	mustStatus(h.t, r, 201)
	return r.str("checkoutSessionId")
}

func (h *harness) buyer(id, scenario string) response {
	h.t.Helper()
	return h.control("POST", "checkoutSessions/"+id+"/buyer", map[string]string{"scenario": scenario})
}

func (h *harness) complete(id, amount, currency string, headers map[string]string) response {
	h.t.Helper()
	return h.call(nil, "POST", h.prefix+"/checkoutSessions/"+id+"/complete",
		map[string]any{"chargeAmount": map[string]any{"amount": amount, "currencyCode": currency}}, headers)
}

func (h *harness) calls(id string) map[string]int {
	h.t.Helper()
	r := h.control("GET", "checkoutSessions/"+id+"/calls", nil)
	mustStatus(h.t, r, 200)
	out := map[string]int{}
	for k, v := range r.body {
		out[k] = int(v.(float64))
	}
	return out
}

func pemOf(t testing.TB, pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
