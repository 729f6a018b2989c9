package e2e_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1.
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/ipn"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeopen"
)

// newAmazonSimTLS serves the simulator as the server embeds it: over
// HTTPS with its own CA, which issues the notifications' signing
// certificate.
func newAmazonSimTLS(t testing.TB, pendingDelay time.Duration) (*amazonSim, *simulator.Server) {
	t.Helper()
	sim, err := simulator.New(simulator.Options{PendingDelay: pendingDelay, NotificationBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.RegisterPublicKey(simtest.KeyID, &simtest.Key().PublicKey, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := simulator.Serve(ctx, "127.0.0.1:0", sim, t.TempDir())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		sctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(sctx)
		_ = sim.Close()
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = srv.CertPool
	a := &amazonSim{t: t, sim: sim, URL: srv.URL, KeyID: simtest.KeyID, Key: simtest.Key(), roots: srv.CertPool,
		httpc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	setup := amazonpay.RetryPolicy{MaxAttempts: 2, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxElapsed: 5 * time.Second}
	a.client = a.newClient(t, setup, 5*time.Second)
	a.jpClient = a.regionClient(t, "jp", setup, 5*time.Second)
	return a, srv
}

// ipnConfig is the receiver's configuration trusting srv, as the server
// builds it for its embedded simulator.
func ipnConfigFor(srv *simulator.Server) *ipn.Config {
	return &ipn.Config{
		Verifier:   ipn.VerifierConfig{ExtraHosts: []string{srv.Addr}, Roots: srv.CertPool},
		MerchantID: "default",
		// Every notification comes from one loopback address here; SNS
		// sends from many.
		Rate: 1000, Burst: 2000,
	}
}

// startIPNService starts the service with its receiver registered at the
// simulator, and the first poll of a pending authorization an hour away:
// only a notification can settle one quickly.
func startIPNService(t testing.TB, a *amazonSim, srv *simulator.Server) *service {
	t.Helper()
	svc := startService(t, a, serviceOptions{TrackerFirstPoll: time.Hour, IPN: ipnConfigFor(srv)})
	if _, err := a.sim.AddNotificationEndpoint(svc.IPNURL, "", "2"); err != nil {
		t.Fatal(err)
	}
	return svc
}

// completePending completes a checkout whose authorization stays pending.
func completePending(t testing.TB, a *amazonSim, svc *service, scenario string) *pb.Payment {
	t.Helper()
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", CanHandlePending: true, Scenario: scenario})
	resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "order-" + id, ChargeAmount: usd("14.00")})
	if err != nil {
		t.Fatalf("CompleteCheckout: %v", err)
	}
	if p := resp.GetPayment(); p.GetOutcome() != pb.Outcome_OUTCOME_PENDING {
		t.Fatalf("completed as %s, want PENDING", describe(p))
	}
	return resp.GetPayment()
}

func TestIPNSettlesPendingAuthorizationsAtOnce(t *testing.T) {
	t.Parallel()
	a, srv := newAmazonSimTLS(t, time.Second)
	svc := startIPNService(t, a, srv)
	for _, tt := range []struct {
		scenario string
		want     pb.Outcome
	}{{"PendingThenAuthorized", pb.Outcome_OUTCOME_COMPLETED}, {"PendingThenDeclined", pb.Outcome_OUTCOME_DECLINED}} {
		t.Run(tt.scenario, func(t *testing.T) {
			t.Parallel()
			p := completePending(t, a, svc, tt.scenario)
			// Polling would first look after an hour.
			seen := waitFinal(t, svc.Client, p.GetCheckoutSessionId(), 20*time.Second)
			if last := seen[len(seen)-1]; last.GetOutcome() != tt.want {
				t.Fatalf("settled as %s, want %s", describe(last), tt.want)
			}
		})
	}
}

// capture is an endpoint of the test's own that keeps what the simulator
// sends it, and counts requests to /subscribe.
type capture struct {
	srv        *httptest.Server
	mu         sync.Mutex
	bodies     [][]byte
	subscribes atomic.Int64
}

func newCapture(t testing.TB) *capture {
	c := &capture{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/subscribe" {
			c.subscribes.Add(1)
			return
		}
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, b)
		c.mu.Unlock()
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// all returns the bodies captured so far.
func (c *capture) all() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.bodies)
}

func (c *capture) first(t testing.TB, within time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c.mu.Lock()
		n := len(c.bodies)
		var b []byte
		if n > 0 {
			b = c.bodies[0]
		}
		c.mu.Unlock()
		if n > 0 {
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		if time.Now().After(deadline) {
			t.Fatal("no notification captured")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func encode(m map[string]string) []byte {
	b, _ := json.Marshal(m)
	return b
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// signWith signs m as SNS does (SignatureVersion 1) with a key of the
// test's own.
func signWith(m map[string]string, key *rsa.PrivateKey) map[string]string {
	m = with(m, "SignatureVersion", "1")
	names := []string{"Message", "MessageId", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		names = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + "\n" + m[n] + "\n")
	}
	sum := sha1.Sum([]byte(b.String())) //nolint:gosec // SNS SignatureVersion 1.
	sig, _ := rsa.SignPKCS1v15(nil, key, crypto.SHA1, sum[:])
	return with(m, "Signature", base64.StdEncoding.EncodeToString(sig))
}

func postIPN(t testing.TB, url string, body []byte) int {
	t.Helper()
	resp, err := http.Post(url, "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestIPNForgedMessagesChangeNothing sends the receiver what an attacker
// could: each is refused with a 4xx, and none makes the service ask Amazon
// Pay anything.
func TestIPNForgedMessagesChangeNothing(t *testing.T) {
	t.Parallel()
	a, srv := newAmazonSimTLS(t, time.Hour) // nothing settles by itself
	svc := startIPNService(t, a, srv)
	cap := newCapture(t)
	if _, err := a.sim.AddNotificationEndpoint(cap.srv.URL+"/ipn", "", "1"); err != nil {
		t.Fatal(err)
	}
	p := completePending(t, a, svc, "PendingThenAuthorized")
	id := p.GetCheckoutSessionId()
	// The completion's change of the charge permission is announced: a
	// genuine message, to tamper with.
	genuine := cap.first(t, 10*time.Second)
	waitQuiet(t, a, svc, id)
	before := a.calls(t, id)["GetCharge"]
	stored, err := svc.Store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}

	chargeMsg := strings.Replace(strings.Replace(genuine["Message"], `"CHARGE_PERMISSION"`, `"CHARGE"`, 1),
		`"ObjectId":"`+p.GetChargePermissionId()+`"`, `"ObjectId":"`+p.GetChargeId()+`"`, 1)
	host := strings.TrimPrefix(srv.URL, "https://")
	certURL := genuine["SigningCertURL"]
	full := encode(genuine)
	tests := []struct {
		name string
		body []byte
	}{
		{"bad signature", encode(with(genuine, "Message", chargeMsg))},
		{"signed by another certificate's key", encode(signWith(with(genuine, "Message", chargeMsg), simtest.Key()))},
		{"certificate on a foreign host", encode(with(genuine, "SigningCertURL", "https://evil.example/cert.pem"))},
		{"certificate over http", encode(with(genuine, "SigningCertURL", strings.Replace(certURL, "https:", "http:", 1)))},
		{"certificate URL with user info", encode(with(genuine, "SigningCertURL", strings.Replace(certURL, host, host+"@evil.example", 1)))},
		{"certificate path trick", encode(with(genuine, "SigningCertURL", srv.URL+"/simulator/../simulator/sns/x.pem"))},
		{"truncated body", full[:len(full)/2]},
		{"oversized body", encode(with(genuine, "Message", strings.Repeat("x", 64<<10)))},
		{"not JSON", []byte("hello")},
		{"unknown type", encode(with(genuine, "Type", "Telegram"))},
		{"subscribe URL on a foreign host", encode(signWith(map[string]string{
			"Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": genuine["TopicArn"], "Message": "subscribe",
			"Timestamp": time.Now().UTC().Format(time.RFC3339), "SigningCertURL": certURL,
			"SubscribeURL": cap.srv.URL + "/subscribe", "Token": "t",
		}, simtest.Key()))},
	}
	for _, tt := range tests {
		if code := postIPN(t, svc.IPNURL, tt.body); code/100 != 4 {
			t.Errorf("%s: status %d, want 4xx", tt.name, code)
		}
	}
	// A replay beyond the age window, and a genuine message of another
	// merchant, checked by receivers over the same store.
	for _, tt := range []struct {
		name string
		mod  func(*ipn.Config)
	}{
		{"replayed old message", func(c *ipn.Config) { c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) } }},
		{"wrong merchant", func(c *ipn.Config) { c.MerchantID = "another-merchant" }},
	} {
		c := ipnConfigFor(srv)
		c.Store, c.Logger = svc.Store, slog.New(slog.NewTextHandler(io.Discard, nil))
		tt.mod(c)
		r, err := ipn.New(*c)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, ipn.Path, bytes.NewReader(full)))
		if rec.Code/100 != 4 {
			t.Errorf("%s: status %d, want 4xx", tt.name, rec.Code)
		}
	}
	// A forged message that nudged the payment (before its 4xx) would be
	// polled now: wait for that to be over.
	waitQuiet(t, a, svc, id)
	if got := a.calls(t, id)["GetCharge"]; got != before {
		t.Errorf("forged messages made %d Get Charge calls, want none", got-before)
	}
	if n := cap.subscribes.Load(); n != 0 {
		t.Errorf("a foreign SubscribeURL was fetched %d times", n)
	}
	after, err := svc.Store.Get(t.Context(), id)
	if err != nil || after.Outcome != stored.Outcome || !after.NextCheckTime.Equal(stored.NextCheckTime) {
		t.Errorf("payment after forged messages: %+v, %v; before %+v", after, err, stored)
	}
	// The genuine message again (SNS redelivers): acknowledged, harmless.
	if code := postIPN(t, svc.IPNURL, full); code != http.StatusOK {
		t.Errorf("genuine duplicate: status %d, want 200", code)
	}
}

// TestIPNLostNotificationSettlesByPolling: with the receiver unreachable,
// the tracker's polls still settle the payment.
func TestIPNLostNotificationSettlesByPolling(t *testing.T) {
	t.Parallel()
	a, _ := newAmazonSimTLS(t, time.Second)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + ipn.Path
	down.Close() // nothing listens there any more
	if _, err := a.sim.AddNotificationEndpoint(downURL, "", "2"); err != nil {
		t.Fatal(err)
	}
	svc := startService(t, a, serviceOptions{TrackerFirstPoll: 500 * time.Millisecond})
	p := completePending(t, a, svc, "PendingThenAuthorized")
	seen := waitFinal(t, svc.Client, p.GetCheckoutSessionId(), 20*time.Second)
	if last := seen[len(seen)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("settled as %s, want COMPLETED", describe(last))
	}
}

// TestIPNKilledAfterAcknowledgingLosesNothing kills the server (SIGKILL)
// right after its receiver answered 2xx to the notification of a decided
// authorization, while the Get Charge it triggered still hangs, then starts
// it again: with the first poll an hour away, the payment still settles
// within seconds, because the nudge was committed before the 2xx.
func TestIPNKilledAfterAcknowledgingLosesNothing(t *testing.T) {
	t.Parallel()
	a, srv := newAmazonSimTLS(t, time.Second)
	caFile := filepath.Join(t.TempDir(), "simulator-ca.pem")
	if err := os.WriteFile(caFile, srv.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	env := a.serverEnv(t, sqliteURL(t))
	ipnAddr := freeAddr(t)
	for k, v := range map[string]string{
		"AMAZON_PAY_CA_FILE": caFile, "IPN_ADDR": ipnAddr, "IPN_MERCHANT_ID": "default",
		"IPN_CERT_HOSTS": srv.Addr, "IPN_CA_FILE": caFile, "IPN_RATE": "1000",
		"TRACKER_FIRST_POLL": "1h", "TRACKER_MAX_INTERVAL": "1h", "TRACKER_LEASE": "2s",
	} {
		env[k] = v
	}
	p := startProc(t, env)
	if _, err := a.sim.AddNotificationEndpoint("http://"+ipnAddr+ipn.Path, "", "2"); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", CanHandlePending: true, Scenario: "PendingThenAuthorized"})
	resp, err := p.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "order-kill", ChargeAmount: usd("14.00")})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_PENDING {
		t.Fatalf("CompleteCheckout = %v, %v; want PENDING", resp, err)
	}
	chargeID := resp.GetPayment().GetChargeId()
	// The read the notification triggers hangs, so the process dies with
	// the payment unsettled.
	a.fault(t, "GetCharge", "latency", 3, 30*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for !chargeNotificationDelivered(t, a, chargeID) {
		if time.Now().After(deadline) {
			t.Fatal("the charge's notification was not delivered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.kill()
	if !storedPending(t, env["DATABASE_URL"], id) {
		t.Fatal("the payment was settled before the kill; the test proves nothing")
	}
	a.clearFaults(t)

	p = startProc(t, env)
	seen := waitFinal(t, p.Client, id, 20*time.Second)
	if last := seen[len(seen)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("after the restart the payment is %s, want COMPLETED", describe(last))
	}
}

// waitQuiet waits until every notification the simulator sent the
// service was acknowledged (the receiver records what it nudges before
// answering) and the payment id is neither due nor leased: what the
// notifications made due has been polled and rescheduled.
func waitQuiet(t testing.TB, a *amazonSim, svc *service, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out struct {
			Notifications []struct{ URL, State string } `json:"notifications"`
		}
		a.control(t, http.MethodGet, "/simulator/notifications", nil, &out)
		sent, acked := 0, 0
		for _, n := range out.Notifications {
			if n.URL == svc.IPNURL {
				sent++
				if n.State == "delivered" {
					acked++
				}
			}
		}
		p, err := svc.Store.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if sent > 0 && acked == sent && p.NextCheckTime.After(time.Now()) && p.LeaseOwner == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not quiet after 20s: %d of %d notifications acknowledged, next check %v, lease %q", acked, sent, p.NextCheckTime, p.LeaseOwner)
		}
		time.Sleep(5 * time.Millisecond) // paces the polling, asserts nothing
	}
}

// chargeNotificationDelivered reports whether the simulator has had a 2xx
// for a notification of the charge.
func chargeNotificationDelivered(t testing.TB, a *amazonSim, chargeID string) bool {
	var out struct {
		Notifications []struct{ ObjectID, State string } `json:"notifications"`
	}
	a.control(t, http.MethodGet, "/simulator/notifications", nil, &out)
	for _, n := range out.Notifications {
		if n.ObjectID == chargeID && n.State == "delivered" {
			return true
		}
	}
	return false
}

// storedPending reports whether the killed server left the payment
// pending (it had not settled it yet).
func storedPending(t testing.TB, databaseURL, id string) bool {
	t.Helper()
	st, err := storeopen.Open(t.Context(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got.Outcome == payment.Pending
}

// TestIPNReplicasSharePostgres: two replicas on one PostgreSQL database,
// Amazon's notifications going only to the second; payments completed
// through the first settle at once all the same (the nudge is in the
// shared database), and the first's watchers see it.
func TestIPNReplicasSharePostgres(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	a, srv := newAmazonSimTLS(t, time.Second)
	opts := serviceOptions{TrackerFirstPoll: time.Hour, DatabaseURL: dbURL, IPN: ipnConfigFor(srv)}
	first := startService(t, a, opts)
	second := startService(t, a, opts)
	if _, err := a.sim.AddNotificationEndpoint(second.IPNURL, "", "2"); err != nil {
		t.Fatal(err)
	}
	var watches []func() []*pb.Payment
	for range 10 {
		p := completePending(t, a, first, "PendingThenAuthorized")
		watches = append(watches, startWatch(t, first.Client, p.GetCheckoutSessionId(), 20*time.Second))
	}
	for _, recv := range watches {
		seen := recv()
		if last := seen[len(seen)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
			t.Errorf("settled as %s, want COMPLETED", describe(last))
		}
	}
}

// TestIPNSettlesRefundsAtOnce: a refund Amazon decides later is settled
// by its REFUND notification, although the service would first look at it
// an hour later.
func TestIPNSettlesRefundsAtOnce(t *testing.T) {
	t.Parallel()
	a, srv := newAmazonSimTLS(t, time.Second)
	svc := startIPNService(t, a, srv)
	p := completeOrder(t, a, svc, "order-ipn-refund", sessionSpec{Amount: "40.00", Intent: "AuthorizeWithCapture", Scenario: "Authorized"})
	resp, err := svc.Client.RefundCharge(t.Context(), &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("10.00"), IdempotencyKey: "cm-ipn"})
	if err != nil || resp.GetRefund().GetState() != pb.RefundState_REFUND_STATE_REFUND_INITIATED {
		t.Fatalf("RefundCharge = %v, %v; want RefundInitiated", resp, err)
	}
	start := time.Now()
	waitRefund(t, svc, "order-ipn-refund", resp.GetRefund().GetRefundId(), pb.RefundState_REFUND_STATE_REFUNDED)
	t.Logf("refund settled %v after the request (decided after 1s)", time.Since(start))
}
