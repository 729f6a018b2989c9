package ipn_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1.
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paymentcompletion/paymentcompletion/internal/ipn"
	"github.com/paymentcompletion/paymentcompletion/internal/metrics"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// The test's own SNS: a CA, a signing certificate it issued, and an
// untrusted one, served over HTTPS; messages are signed here from AWS's
// documented algorithm, independently of the package's verifier.

type keyPair struct {
	key     *rsa.PrivateKey
	certPEM []byte
}

var (
	fixtureOnce sync.Once
	caPool      *x509.CertPool
	trusted     keyPair // issued by the trusted CA
	untrusted   keyPair // self-signed
	otherKey    *rsa.PrivateKey
)

func fixtures(t *testing.T) {
	t.Helper()
	fixtureOnce.Do(func() {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test SNS CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		caPool = x509.NewCertPool()
		caPool.AddCert(ca)
		issue := func(parent *x509.Certificate, parentKey crypto.Signer) keyPair {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
				KeyUsage: x509.KeyUsageDigitalSignature,
			}
			if parent == nil {
				parent, parentKey = tmpl, k
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
			if err != nil {
				panic(err)
			}
			return keyPair{key: k, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
		}
		trusted = issue(ca, caKey)
		untrusted = issue(nil, nil)
		otherKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	})
}

// sns serves the certificates and a SubscribeURL, counting requests.
type sns struct {
	srv      *httptest.Server
	fetches  atomic.Int64
	confirms atomic.Int64
}

func newSNS(t *testing.T) *sns {
	fixtures(t)
	s := &sns{}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/trusted.pem":
			s.fetches.Add(1)
			_, _ = w.Write(trusted.certPEM)
		case "/untrusted.pem":
			s.fetches.Add(1)
			_, _ = w.Write(untrusted.certPEM)
		case "/confirm":
			s.confirms.Add(1)
		default:
			s.fetches.Add(1)
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sns) host() string { return strings.TrimPrefix(s.srv.URL, "https://") }

type fakeStore struct {
	mu     sync.Mutex
	nudges []store.ObjectRef
	err    error
	match  int
}

func (f *fakeStore) Nudge(_ context.Context, ref store.ObjectRef, _ time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	f.nudges = append(f.nudges, ref)
	return f.match, nil
}

func (f *fakeStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.nudges)
}

const merchant = "MERCHANT1"

type envelope map[string]string

func ipnBody(merchantID, objectType, objectID string) string {
	b, _ := json.Marshal(map[string]string{
		"MerchantID": merchantID, "ObjectType": objectType, "ObjectId": objectID,
		"ChargePermissionId": "S01-1", "NotificationType": "STATE_CHANGE", "NotificationId": "n-1", "NotificationVersion": "V2",
	})
	return string(b)
}

func notification(s *sns, at time.Time) envelope {
	return envelope{
		"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:1:topic",
		"Message": ipnBody(merchant, "CHARGE", "S01-1-C1"), "Timestamp": at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"SignatureVersion": "1", "SigningCertURL": s.srv.URL + "/trusted.pem", "UnsubscribeURL": s.srv.URL + "/unsub",
	}
}

// sign signs e as SNS does, with key.
func sign(e envelope, key *rsa.PrivateKey) envelope {
	names := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if e["Type"] != "Notification" {
		names = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, n := range names {
		v, ok := e[n]
		if !ok {
			continue
		}
		b.WriteString(n + "\n" + v + "\n")
	}
	var sig []byte
	if e["SignatureVersion"] == "2" {
		sum := sha256.Sum256([]byte(b.String()))
		sig, _ = rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	} else {
		sum := sha1.Sum([]byte(b.String())) //nolint:gosec // SNS SignatureVersion 1.
		sig, _ = rsa.SignPKCS1v15(nil, key, crypto.SHA1, sum[:])
	}
	out := envelope{}
	for k, v := range e {
		out[k] = v
	}
	out["Signature"] = base64.StdEncoding.EncodeToString(sig)
	return out
}

func (e envelope) body() []byte {
	b, _ := json.Marshal(e)
	return b
}

func newReceiver(t *testing.T, s *sns, st *fakeStore, mod func(*ipn.Config)) *ipn.Receiver {
	t.Helper()
	roots := caPool.Clone()
	roots.AddCert(s.srv.Certificate())
	cfg := ipn.Config{
		Verifier:   ipn.VerifierConfig{ExtraHosts: []string{s.host()}, Roots: roots},
		MerchantID: merchant,
		Store:      st,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := ipn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func post(r http.Handler, body []byte) int {
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, ipn.Path, bytes.NewReader(body)))
	return rec.Code
}

// series renders the series of the metric name in reg, sorted, as
// `name{label="value",...} value` (histograms: their sample count).
func series(t *testing.T, reg prometheus.Gatherer, name string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"=\""+l.GetValue()+"\"")
			}
			v := m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			out = append(out, fmt.Sprintf("%s{%s} %g", name, strings.Join(labels, ","), v))
		}
	}
	slices.Sort(out)
	return out
}

// wantCounted checks the receiver's counts of messages, all of them.
func wantCounted(t *testing.T, m *metrics.Metrics, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := series(t, m.Registry(), "paymentcompletion_ipn_notifications_total"); !slices.Equal(got, want) {
		t.Errorf("ipn_notifications_total:\n got %q\nwant %q", got, want)
	}
}

func TestReceiverAcceptsSignedNotifications(t *testing.T) {
	t.Parallel()
	s := newSNS(t)
	st := &fakeStore{match: 1}
	woken := 0
	m := metrics.New(metrics.Build{})
	r := newReceiver(t, s, st, func(c *ipn.Config) { c.Wake = func() { woken++ }; c.Metrics = m })
	now := time.Now()
	for _, v := range []string{"1", "2"} {
		e := notification(s, now)
		e["SignatureVersion"] = v
		if code := post(r, sign(e, trusted.key).body()); code != http.StatusOK {
			t.Errorf("SignatureVersion %s: status %d, want 200", v, code)
		}
	}
	withSubject := notification(s, now)
	withSubject["Subject"] = "a subject is signed too"
	if code := post(r, sign(withSubject, trusted.key).body()); code != http.StatusOK {
		t.Errorf("with Subject: status %d, want 200", code)
	}
	for _, typ := range []string{"CHARGE_PERMISSION", "REFUND"} {
		e := notification(s, now)
		e["Message"] = ipnBody(merchant, typ, "X-1")
		if code := post(r, sign(e, trusted.key).body()); code != http.StatusOK {
			t.Errorf("%s: status %d, want 200", typ, code)
		}
	}
	if st.count() != 5 || st.nudges[0] != (store.ObjectRef{Type: store.ObjectCharge, ID: "S01-1-C1", ChargePermissionID: "S01-1"}) ||
		st.nudges[3].Type != store.ObjectChargePermission || st.nudges[4].Type != store.ObjectRefund {
		t.Errorf("nudges = %v", st.nudges)
	}
	if woken != 5 {
		t.Errorf("tracker woken %d times, want 5", woken)
	}
	// The certificate was fetched once.
	if n := s.fetches.Load(); n != 1 {
		t.Errorf("certificate fetched %d times, want 1", n)
	}
	// An object nobody tracks is acknowledged; an unknown object type too.
	st.match = 0
	e := notification(s, now)
	e["Message"] = ipnBody(merchant, "ORDER", "X-2")
	if code := post(r, sign(notification(s, now), trusted.key).body()); code != http.StatusOK {
		t.Errorf("untracked object: status %d, want 200", code)
	}
	if code := post(r, sign(e, trusted.key).body()); code != http.StatusOK {
		t.Errorf("unknown object type: status %d, want 200", code)
	}
	wantCounted(t, m,
		`paymentcompletion_ipn_notifications_total{reason="notification",result="accepted"} 5`,
		`paymentcompletion_ipn_notifications_total{reason="unmatched",result="accepted"} 1`,
		`paymentcompletion_ipn_notifications_total{reason="untracked_type",result="accepted"} 1`)
	// Every recorded nudge, matched or not, is timed.
	if got := series(t, m.Registry(), "paymentcompletion_ipn_nudge_seconds"); !slices.Equal(got, []string{"paymentcompletion_ipn_nudge_seconds{} 6"}) {
		t.Errorf("ipn_nudge_seconds observations: %q, want 6", got)
	}
}

func TestReceiverRefuses(t *testing.T) {
	t.Parallel()
	s := newSNS(t)
	now := time.Now()
	valid := func() envelope { return notification(s, now) }
	with := func(k, v string) envelope {
		e := valid()
		e[k] = v
		return e
	}
	tampered := sign(valid(), trusted.key)
	tampered["Message"] = ipnBody(merchant, "CHARGE", "S01-1-C2")
	huge := with("Message", strings.Repeat("x", ipn.DefaultMaxBody))
	full := sign(valid(), trusted.key).body()
	subscription := func(subscribeURL string) envelope {
		return envelope{
			"Type": "SubscriptionConfirmation", "MessageId": "m-2", "TopicArn": "arn:aws:sns:us-east-1:1:topic",
			"Message": "You have chosen to subscribe", "Timestamp": now.UTC().Format(time.RFC3339),
			"SignatureVersion": "1", "SigningCertURL": s.srv.URL + "/trusted.pem", "SubscribeURL": subscribeURL,
			"Token": "tok",
		}
	}
	tests := []struct {
		name    string
		body    []byte
		want    int
		reason  string // the refusal's reason label
		fetches bool   // whether the receiver may fetch the trusted certificate
	}{
		{"bad signature", tampered.body(), 403, "signature", true},
		{"signed by another key", sign(valid(), otherKey).body(), 403, "signature", true},
		{"certificate not issued by a trusted CA", sign(with("SigningCertURL", s.srv.URL+"/untrusted.pem"), untrusted.key).body(), 403, "cert", true},
		{"certificate on a foreign host", sign(with("SigningCertURL", "https://evil.example/cert.pem"), trusted.key).body(), 403, "cert_host", false},
		{"certificate over http", sign(with("SigningCertURL", strings.Replace(s.srv.URL, "https:", "http:", 1)+"/trusted.pem"), trusted.key).body(), 403, "cert_host", false},
		{"host suffix trick", sign(with("SigningCertURL", "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"), trusted.key).body(), 403, "cert_host", false},
		{"user info trick", sign(with("SigningCertURL", "https://"+s.host()+"@evil.example/trusted.pem"), trusted.key).body(), 403, "cert_host", false},
		{"host in the path", sign(with("SigningCertURL", "https://evil.example/"+s.host()+"/trusted.pem"), trusted.key).body(), 403, "cert_host", false},
		{"path traversal", sign(with("SigningCertURL", s.srv.URL+"/x/../trusted.pem"), trusted.key).body(), 403, "cert_host", false},
		{"encoded path", sign(with("SigningCertURL", s.srv.URL+"/%2e%2e/trusted.pem"), trusted.key).body(), 403, "cert_host", false},
		{"query", sign(with("SigningCertURL", s.srv.URL+"/trusted.pem?x=1"), trusted.key).body(), 403, "cert_host", false},
		{"not a certificate path", sign(with("SigningCertURL", s.srv.URL+"/confirm"), trusted.key).body(), 403, "cert_host", false},
		{"replayed old message", sign(with("Timestamp", now.Add(-2*time.Hour).UTC().Format(time.RFC3339)), trusted.key).body(), 403, "age", false},
		{"timestamp in the future", sign(with("Timestamp", now.Add(time.Hour).UTC().Format(time.RFC3339)), trusted.key).body(), 403, "age", false},
		{"unknown signature version", sign(with("SignatureVersion", "3"), trusted.key).body(), 403, "signature", false},
		{"wrong merchant", sign(with("Message", ipnBody("OTHER", "CHARGE", "S01-1-C1")), trusted.key).body(), 403, "merchant", true},
		{"message not an IPN", sign(with("Message", "not json"), trusted.key).body(), 400, "malformed", true},
		{"truncated body", full[:len(full)/2], 400, "malformed", false},
		{"oversized body", sign(huge, trusted.key).body(), 413, "too_large", false},
		{"not JSON", []byte("Type=Notification"), 400, "malformed", false},
		{"JSON not an object", []byte(`["Notification"]`), 400, "malformed", false},
		{"trailing data", append(append([]byte{}, full...), []byte(`{}`)...), 400, "malformed", false},
		{"unknown type", sign(with("Type", "Telegram"), trusted.key).body(), 400, "malformed", false},
		{"missing signature", func() []byte { e := valid(); return e.body() }(), 400, "malformed", false},
		{"subscribe URL on a foreign host", sign(subscription("https://evil.example/confirm"), trusted.key).body(), 403, "cert_host", true},
		{"subscribe URL over http", sign(subscription(strings.Replace(s.srv.URL, "https:", "http:", 1)+"/confirm"), trusted.key).body(), 403, "cert_host", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &fakeStore{match: 1}
			m := metrics.New(metrics.Build{})
			r := newReceiver(t, s, st, func(c *ipn.Config) { c.Metrics = m })
			before := s.fetches.Load()
			if code := post(r, tt.body); code != tt.want {
				t.Errorf("status %d, want %d", code, tt.want)
			}
			wantCounted(t, m, `paymentcompletion_ipn_notifications_total{reason="`+tt.reason+`",result="refused"} 1`)
			if st.count() != 0 {
				t.Errorf("refused message nudged %v", st.nudges)
			}
			if got := s.fetches.Load() - before; got > 0 && !tt.fetches {
				t.Errorf("%d fetches from the certificate host, want none", got)
			}
		})
	}
	if n := s.confirms.Load(); n != 0 {
		t.Errorf("SubscribeURL fetched %d times, want never", n)
	}

	// An allowed SubscribeURL is fetched, once.
	m := metrics.New(metrics.Build{})
	r := newReceiver(t, s, &fakeStore{}, func(c *ipn.Config) { c.Metrics = m })
	if code := post(r, sign(subscription(s.srv.URL+"/confirm"), trusted.key).body()); code != 200 || s.confirms.Load() != 1 {
		t.Errorf("subscription confirmation: status %d, %d fetches; want 200, 1", code, s.confirms.Load())
	}
	wantCounted(t, m, `paymentcompletion_ipn_notifications_total{reason="subscribed",result="accepted"} 1`)
}

func TestReceiverMethodPathRateAndStore(t *testing.T) {
	t.Parallel()
	s := newSNS(t)
	st := &fakeStore{match: 1}
	m := metrics.New(metrics.Build{})
	r := newReceiver(t, s, st, func(c *ipn.Config) { c.Rate, c.Burst, c.Metrics = 0.001, 2, m })
	body := sign(notification(s, time.Now()), trusted.key).body()
	for _, tt := range []struct {
		method, path string
		want         int
	}{{http.MethodGet, ipn.Path, 405}, {http.MethodPost, "/other", 404}} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, bytes.NewReader(body)))
		if rec.Code != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rec.Code, tt.want)
		}
	}
	if first, second := post(r, body), post(r, body); first != 200 || second != 200 {
		t.Fatalf("a burst's worth of messages was refused: %d, %d", first, second)
	}
	if code := post(r, body); code != http.StatusTooManyRequests {
		t.Errorf("beyond the source's rate: %d, want 429", code)
	}
	// Another source has its own budget.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, ipn.Path, bytes.NewReader(body))
	req.RemoteAddr = "192.0.2.7:4444"
	r.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("another source: %d, want 200", rec.Code)
	}
	// The wrong method and path are not messages: not counted.
	wantCounted(t, m,
		`paymentcompletion_ipn_notifications_total{reason="notification",result="accepted"} 3`,
		`paymentcompletion_ipn_notifications_total{reason="rate",result="refused"} 1`)

	// With an allow-list of topics, another topic is refused.
	m = metrics.New(metrics.Build{})
	pinned := newReceiver(t, s, st, func(c *ipn.Config) { c.Verifier.TopicArns = []string{"arn:aws:sns:us-east-1:1:other"}; c.Metrics = m })
	if code := post(pinned, body); code != http.StatusForbidden {
		t.Errorf("topic not allowed: %d, want 403", code)
	}
	wantCounted(t, m, `paymentcompletion_ipn_notifications_total{reason="topic",result="refused"} 1`)
	pinned = newReceiver(t, s, st, func(c *ipn.Config) { c.Verifier.TopicArns = []string{"arn:aws:sns:us-east-1:1:topic"} })
	if code := post(pinned, body); code != http.StatusOK {
		t.Errorf("allowed topic: %d, want 200", code)
	}

	// A store that cannot record the nudge asks SNS to deliver again.
	down := &fakeStore{err: errors.New("store: unavailable")}
	m = metrics.New(metrics.Build{})
	r = newReceiver(t, s, down, func(c *ipn.Config) { c.Metrics = m })
	if code := post(r, body); code != http.StatusServiceUnavailable {
		t.Errorf("store down: %d, want 503", code)
	}
	wantCounted(t, m, `paymentcompletion_ipn_notifications_total{reason="store",result="refused"} 1`)
	if got := series(t, m.Registry(), "paymentcompletion_ipn_nudge_seconds"); !slices.Equal(got, []string{"paymentcompletion_ipn_nudge_seconds{} 0"}) {
		t.Errorf("a nudge not recorded was timed: %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"Type":"Notification","MessageId":"m","TopicArn":"t","Message":"{}","Timestamp":"2026-01-01T00:00:00.000Z","SignatureVersion":"1","Signature":"AA==","SigningCertURL":"https://sns.us-east-1.amazonaws.com/a.pem"}`))
	f.Add([]byte(`{"Type":"SubscriptionConfirmation","Subject":null}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	v := ipn.NewVerifier(ipn.VerifierConfig{Client: &http.Client{Transport: refuseAll{}}})
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ipn.Parse(body)
		if err != nil {
			if !errors.Is(err, ipn.ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		switch m.Type {
		case ipn.TypeNotification, ipn.TypeSubscriptionConfirmation, ipn.TypeUnsubscribeConfirmation:
		default:
			t.Fatalf("Parse accepted Type %q", m.Type)
		}
		if len(m.StringToSign()) == 0 {
			t.Fatal("empty canonical string")
		}
		// Nothing unsigned is trusted; no fetch leaves the allowed hosts.
		if err := v.Verify(t.Context(), m); err == nil {
			t.Fatal("Verify accepted a message without a valid signature")
		}
	})
}

// refuseAll is a transport that fails every request and checks it is on
// an allowed host.
type refuseAll struct{}

func (refuseAll) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" || !strings.HasPrefix(r.URL.Host, "sns.") || !strings.HasSuffix(r.URL.Hostname(), ".amazonaws.com") && !strings.HasSuffix(r.URL.Hostname(), ".amazonaws.com.cn") {
		panic("fetch from a host that is not allowed: " + r.URL.String())
	}
	return nil, errors.New("no network in tests")
}

// TestReceiverJudgesTimestampsOnTheSendersClock: a sender on a simulated
// clock 25 hours ahead (the embedded simulator's manual clock, advanced)
// stamps its messages in simulated time; with SenderNow following that
// clock they are accepted, while the certificate is still judged on real
// time, and a message old by the sender's clock is still refused.
func TestReceiverJudgesTimestampsOnTheSendersClock(t *testing.T) {
	t.Parallel()
	s := newSNS(t)
	simulated := time.Now().Add(25 * time.Hour)
	tests := []struct {
		name      string
		senderNow func() time.Time
		stamp     time.Time
		want      int
	}{
		{"simulated time, sender's clock followed", func() time.Time { return simulated }, simulated, http.StatusOK},
		{"simulated time, real clock", nil, simulated, http.StatusForbidden},
		{"old on the sender's clock", func() time.Time { return simulated }, simulated.Add(-2 * time.Hour), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReceiver(t, s, &fakeStore{match: 1}, func(c *ipn.Config) { c.Verifier.SenderNow = tt.senderNow })
			if code := post(r, sign(notification(s, tt.stamp), trusted.key).body()); code != tt.want {
				t.Errorf("status %d, want %d", code, tt.want)
			}
		})
	}
}
