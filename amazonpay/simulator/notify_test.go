package simulator_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA.
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// verifySNS checks an SNS HTTP(S) message the way AWS documents it
// ("Verifying the signatures of Amazon SNS messages"), independently of the
// simulator's code: the SigningCertURL must be https and end in .pem on the
// expected host; the certificate, fetched over HTTPS, must chain to roots;
// the base64 Signature must verify with its key over "name\nvalue\n" of
// Message, MessageId, Subject (if present), Timestamp, TopicArn and Type,
// with SHA1withRSA for SignatureVersion 1 and SHA256withRSA for 2.
func verifySNS(body []byte, host string, client *http.Client, roots *x509.CertPool) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object of strings: %w", err)
	}
	for _, k := range []string{"Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"} {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("missing %s", k)
		}
	}
	if m["Type"] != "Notification" {
		return nil, fmt.Errorf("type %q", m["Type"])
	}
	u, err := url.Parse(m["SigningCertURL"])
	if err != nil || u.Scheme != "https" || !strings.HasSuffix(u.Path, ".pem") || u.Host != host {
		return nil, fmt.Errorf("untrusted SigningCertURL %q", m["SigningCertURL"])
	}
	resp, err := client.Get(u.String())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	certPEM, _ := io.ReadAll(resp.Body)
	block, _ := pem.Decode(certPEM)
	if resp.StatusCode != 200 || block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no certificate at %s (%d)", u, resp.StatusCode)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("certificate chain: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA certificate")
	}
	var text strings.Builder
	for _, k := range []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"} {
		if v, ok := m[k]; ok {
			text.WriteString(k + "\n" + v + "\n")
		}
	}
	sig, err := base64.StdEncoding.DecodeString(m["Signature"])
	if err != nil {
		return nil, err
	}
	switch m["SignatureVersion"] {
	case "1":
		sum := sha1.Sum([]byte(text.String())) //nolint:gosec // SignatureVersion 1.
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256([]byte(text.String()))
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		err = fmt.Errorf("signature version %q", m["SignatureVersion"])
	}
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return m, nil
}

// receiver is an IPN endpoint that records what reaches it and answers
// with the status answer returns for the nth request (1-based).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	got    chan struct{}
	answer func(n int) int
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	t.Helper()
	r := &receiver{got: make(chan struct{}, 1000), answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.heads = append(r.heads, req.Header.Clone())
		n := len(r.bodies)
		r.mu.Unlock()
		w.WriteHeader(r.answer(n))
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait blocks until n requests arrived (or fails after a generous bound).
func (r *receiver) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		have := len(r.bodies)
		r.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("%d of %d notifications arrived", have, n)
		}
	}
}

// tlsSim is a simulator served by simulator.Serve, with the tests' signer.
type tlsSim struct {
	t      *testing.T
	sim    *simulator.Simulator
	srv    *simulator.Server
	client *http.Client
	signer *signer
	clock  *simulator.FakeClock
}

func newTLSSim(t *testing.T, opts simulator.Options) *tlsSim {
	t.Helper()
	clock := simulator.NewFakeClock(epoch)
	opts.Clock = clock
	sim, err := simulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := simulator.Serve(context.Background(), "127.0.0.1:0", sim, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(); _ = sim.Close() })
	ts := &tlsSim{t: t, sim: sim, srv: srv, clock: clock,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool, MinVersion: tls.VersionTLS12}}},
		signer: registerSigner(t, sim, "SIMTLSKEY0", testKey(t, 0)),
	}
	return ts
}

func (ts *tlsSim) do(req *http.Request) response {
	ts.t.Helper()
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (ts *tlsSim) call(method, path string, body any) response {
	ts.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, ts.srv.URL+path, bytes.NewReader(b))
	if method == http.MethodPost {
		req.Header.Set("x-amz-pay-idempotency-key", key()["x-amz-pay-idempotency-key"])
	}
	ts.signer.sign(req, b, ts.clock.Now())
	return ts.do(req)
}

func (ts *tlsSim) control(method, path string, body any) response {
	ts.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, ts.srv.URL+"/simulator/"+path, rd)
	return ts.do(req)
}

// order creates, pays, completes and captures a checkout; it returns the
// charge and charge permission ids.
func (ts *tlsSim) order(intent string) (string, string) {
	ts.t.Helper()
	r := ts.call("POST", "/v2/checkoutSessions", sessionBody(intent, false, "14.00", "USD"))
	mustStatus(ts.t, r, 201)
	id := r.str("checkoutSessionId")
	mustStatus(ts.t, ts.control("POST", "checkoutSessions/"+id+"/buyer", map[string]string{"scenario": "Authorized"}), 200)
	c := ts.call("POST", "/v2/checkoutSessions/"+id+"/complete", map[string]any{"chargeAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}})
	mustStatus(ts.t, c, 200)
	return c.str("chargeId"), c.str("chargePermissionId")
}

func TestNotificationsDeliveredAndVerified(t *testing.T) {
	t.Parallel()
	ts := newTLSSim(t, simulator.Options{})
	rcv := newReceiver(t, func(int) int { return 200 })
	other := newReceiver(t, func(int) int { return 200 })
	for _, v := range []string{"1", "2"} {
		r := ts.control("POST", "notificationEndpoints", map[string]string{"url": rcv.srv.URL + "/ipn/v" + v, "signatureVersion": v})
		mustStatus(t, r, 201)
	}
	// Another merchant's endpoint hears nothing of this merchant.
	mustStatus(t, ts.control("POST", "notificationEndpoints", map[string]string{"url": other.srv.URL, "merchantId": "OTHERMERCHANT"}), 201)
	list := ts.control("GET", "notificationEndpoints?merchantId=default", nil)
	mustStatus(t, list, 200)
	if n := len(list.body["notificationEndpoints"].([]any)); n != 2 {
		t.Fatalf("endpoints: %s", list.raw)
	}

	chargeID, cpID := ts.order("Authorize")
	mustStatus(t, ts.call("POST", "/v2/charges/"+chargeID+"/capture", map[string]any{"captureAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}}), 200)

	refund := ts.call("POST", "/v2/refunds", map[string]any{"chargeId": chargeID, "refundAmount": map[string]any{"amount": "4.00", "currencyCode": "USD"}})
	mustStatus(t, refund, 201)
	ts.clock.Advance(simulator.DefaultPendingDelay) // the refund settles Refunded

	// Authorized, Captured (charge), Closed (permission) and Refunded, to
	// both endpoints.
	rcv.wait(t, 8)
	host := strings.TrimPrefix(ts.srv.URL, "https://")
	seen := map[string]int{}
	rcv.mu.Lock()
	bodies, heads := rcv.bodies, rcv.heads
	rcv.mu.Unlock()
	for i, b := range bodies {
		env, err := verifySNS(b, host, ts.client, ts.srv.CertPool)
		if err != nil {
			t.Fatalf("notification %d does not verify: %v\n%s", i, err, b)
		}
		if got := heads[i].Get("x-amz-sns-message-type"); got != "Notification" || heads[i].Get("x-amz-sns-message-id") != env["MessageId"] ||
			!strings.HasPrefix(heads[i].Get("Content-Type"), "text/plain") {
			t.Errorf("headers %v", heads[i])
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", env["Timestamp"]); err != nil {
			t.Errorf("timestamp %q", env["Timestamp"])
		}
		var msg map[string]string
		if err := json.Unmarshal([]byte(env["Message"]), &msg); err != nil {
			t.Fatalf("message %q: %v", env["Message"], err)
		}
		if msg["MerchantID"] != "default" || msg["ChargePermissionId"] != cpID || msg["NotificationType"] != "STATE_CHANGE" ||
			msg["NotificationVersion"] != "V2" || msg["NotificationId"] == "" || len(msg) != 7 {
			t.Errorf("message %v", msg)
		}
		seen[msg["ObjectType"]+" "+msg["ObjectId"]+" v"+env["SignatureVersion"]]++
		if env["UnsubscribeURL"] == "" {
			t.Errorf("no UnsubscribeURL: %s", b)
		}
	}
	for _, v := range []string{"1", "2"} {
		if seen["CHARGE "+chargeID+" v"+v] != 2 || seen["CHARGE_PERMISSION "+cpID+" v"+v] != 1 || seen["REFUND "+refund.str("refundId")+" v"+v] != 1 {
			t.Errorf("notifications seen: %v", seen)
		}
	}

	// A tampered message no longer verifies.
	var env map[string]string
	_ = json.Unmarshal(bodies[0], &env)
	env["Message"] = strings.Replace(env["Message"], chargeID, chargeID+"X", 1)
	tampered, _ := json.Marshal(env)
	if _, err := verifySNS(tampered, host, ts.client, ts.srv.CertPool); err == nil {
		t.Error("tampered message verified")
	}
	// Nor does one whose certificate does not chain to the simulator's CA.
	if _, err := verifySNS(bodies[0], host, ts.client, x509.NewCertPool()); err == nil {
		t.Error("verified without trusting the simulator's CA")
	}

	// The unsubscribe link removes the endpoint.
	unsub := env["UnsubscribeURL"]
	resp, err := ts.client.Get(unsub)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("unsubscribe: %v %v", err, resp)
	}
	resp.Body.Close()
	list = ts.control("GET", "notificationEndpoints?merchantId=default", nil)
	if n := len(list.body["notificationEndpoints"].([]any)); n != 1 {
		t.Errorf("after unsubscribe: %s", list.raw)
	}
	other.mu.Lock()
	defer other.mu.Unlock()
	if len(other.bodies) != 0 {
		t.Errorf("another merchant's endpoint got %d notifications", len(other.bodies))
	}
}

// deliveries returns the control API's delivery list.
func (ts *tlsSim) deliveries() []map[string]any {
	ts.t.Helper()
	r := ts.control("GET", "notifications", nil)
	mustStatus(ts.t, r, 200)
	var out []map[string]any
	for _, d := range r.body["notifications"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

func TestNotificationsNeverBlockTheAPI(t *testing.T) {
	t.Parallel()
	ts := newTLSSim(t, simulator.Options{NotificationAttempts: 1000, NotificationBackoff: time.Millisecond})
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)
	failing := newReceiver(t, func(int) int { return 500 })
	for _, u := range []string{hung.URL, hung.URL, hung.URL, hung.URL, hung.URL, failing.srv.URL} {
		mustStatus(t, ts.control("POST", "notificationEndpoints", map[string]string{"url": u}), 201)
	}
	// Every worker is stuck on a receiver that never answers: the API
	// still answers, because notifying only queues.
	for range 3 {
		chargeID, _ := ts.order("Authorize")
		mustStatus(t, ts.call("POST", "/v2/charges/"+chargeID+"/capture", map[string]any{"captureAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}}), 200)
	}
	// Close stops the workers, also those waiting on a receiver, and with
	// them every retry.
	done := make(chan error, 1)
	go func() { done <- ts.sim.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not stop the deliveries")
	}
	failing.mu.Lock()
	n := len(failing.bodies)
	failing.mu.Unlock()
	for _, d := range ts.deliveries() {
		if d["state"] == "delivered" {
			t.Errorf("delivered: %v", d)
		}
	}
	failing.mu.Lock()
	defer failing.mu.Unlock()
	if len(failing.bodies) != n {
		t.Errorf("retries went on after Close: %d then %d", n, len(failing.bodies))
	}
}

func TestNotificationEndpointsControl(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	for _, body := range []map[string]string{
		{"url": "not a url"},
		{"url": "ftp://x.example/"},
		{"url": "https://x.example/", "signatureVersion": "3"},
	} {
		mustStatus(t, h.control("POST", "notificationEndpoints", body), 400)
	}
	r := h.control("POST", "notificationEndpoints", map[string]string{"url": "https://shop.example/ipn", "merchantId": "M1"})
	mustStatus(t, r, 201)
	if r.str("signatureVersion") != "1" || r.str("merchantId") != "M1" || r.str("id") == "" {
		t.Errorf("created %s", r.raw)
	}
	all := h.control("GET", "notificationEndpoints", nil)
	mustStatus(t, all, 200)
	if n := len(all.body["notificationEndpoints"].([]any)); n != 1 {
		t.Errorf("list %s", all.raw)
	}
	mustStatus(t, h.control("DELETE", "notificationEndpoints/"+r.str("id"), nil), 200)
	mustStatus(t, h.control("DELETE", "notificationEndpoints/"+r.str("id"), nil), 404)
	mustStatus(t, h.control("GET", "sns/SimpleNotificationService-0000.pem", nil), 404)

	id, err := h.sim.AddNotificationEndpoint("http://127.0.0.1:1/ipn", "", "2")
	if err != nil || id == "" {
		t.Fatalf("AddNotificationEndpoint: %q %v", id, err)
	}
	if _, err := h.sim.AddNotificationEndpoint("mailto:x", "", ""); err == nil {
		t.Error("a mailto endpoint was accepted")
	}
	all = h.control("GET", "notificationEndpoints?merchantId=default", nil)
	if eps := all.body["notificationEndpoints"].([]any); len(eps) != 1 || eps[0].(map[string]any)["signatureVersion"] != "2" {
		t.Errorf("list %s", all.raw)
	}
}

func TestNotificationEndpointsPersist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sim, err := simulator.New(simulator.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	resp, err := http.Post(srv.URL+"/simulator/notificationEndpoints", "application/json", strings.NewReader(`{"url":"https://shop.example/ipn","signatureVersion":"2"}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("register: %v %v", err, resp)
	}
	resp.Body.Close()
	srv.Close()
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	sim, err = simulator.New(simulator.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	srv = httptest.NewServer(sim)
	defer srv.Close()
	resp, err = http.Get(srv.URL + "/simulator/notificationEndpoints")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(b, []byte(`"url":"https://shop.example/ipn"`)) || !bytes.Contains(b, []byte(`"signatureVersion":"2"`)) {
		t.Errorf("after restart: %s", b)
	}
}
