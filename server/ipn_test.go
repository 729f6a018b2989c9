package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/embeddedsim"
)

// TestEmbeddedSimulatorNotifiesTheServer runs the server as "go run
// ./server" does, with no IPN setting, and the first poll of a pending
// authorization an hour away: the simulator's notification, sent to the
// receiver the server registered there, settles the payment within
// seconds. With the manual clock (SIMULATOR_CLOCK=manual) moved hours past
// IPN_MAX_AGE before the checkout, the notifications carry that simulated
// time and are still accepted.
func TestEmbeddedSimulatorNotifiesTheServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		// advanceBefore moves the manual clock before the checkout,
		// advanceAfter after it, so the pending authorization settles.
		advanceBefore, advanceAfter string
	}{
		{name: "real clock", env: map[string]string{"SIMULATOR_PENDING_DELAY": "1s"}},
		{name: "manual clock moved past IPN_MAX_AGE", env: map[string]string{"SIMULATOR_CLOCK": "manual", "IPN_MAX_AGE": "1h"},
			advanceBefore: "3h", advanceAfter: "1m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testEmbeddedSimulatorNotifies(t, tt.env, tt.advanceBefore, tt.advanceAfter)
		})
	}
}

func testEmbeddedSimulatorNotifies(t *testing.T, extraEnv map[string]string, advanceBefore, advanceAfter string) {
	dir := t.TempDir()
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{"TRACKER_FIRST_POLL": "1h", "TRACKER_MAX_INTERVAL": "1h", "METRICS_ADDR": metricsAddr}
	maps.Copy(env, extraEnv)
	logs, stop := startRun(t, []string{"-listen-addr", addr, "-data-dir", dir, "-simulator-addr", "127.0.0.1:0"}, env)
	defer func() { _ = stop() }()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"simulator_url":"([^"]+)"`).FindStringSubmatch(logs.String())
	if m == nil || !regexp.MustCompile(`"msg":"serving Amazon Pay notifications"`).MatchString(logs.String()) {
		t.Fatalf("no simulator_url or notification listener logged:\n%s", logs)
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "simulator", "simulator-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	key, err := embeddedsim.LoadOrCreateKey(embeddedsim.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	az, err := amazonpay.New(amazonpay.Config{PublicKeyID: embeddedsim.KeyID, PrivateKey: key, Region: "na", Endpoint: m[1], RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	advance := func(d string) {
		t.Helper()
		if d == "" {
			return
		}
		r, err := hc.Post(m[1]+"/simulator/clock", "application/json", strings.NewReader(`{"advance":"`+d+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("advance the simulator's clock by %s: status %d", d, r.StatusCode)
		}
	}
	advance(advanceBefore)
	ctx := t.Context()
	sess, _, err := az.CreateCheckoutSession(ctx, amazonpay.CreateCheckoutSessionRequest{
		WebCheckoutDetails: amazonpay.WebCheckoutDetails{CheckoutReviewReturnURL: "https://shop.example/review"},
		StoreID:            "amzn1.application-oa2-client.server-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := az.UpdateCheckoutSession(ctx, sess.CheckoutSessionID, amazonpay.UpdateCheckoutSessionRequest{
		WebCheckoutDetails: &amazonpay.WebCheckoutDetails{CheckoutResultReturnURL: "https://shop.example/result"},
		PaymentDetails: &amazonpay.PaymentDetails{
			PaymentIntent: "Authorize", CanHandlePendingAuthorization: true,
			ChargeAmount: &amazonpay.Price{Amount: "14.00", CurrencyCode: "USD"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	r, err := hc.Post(m[1]+"/simulator/checkoutSessions/"+sess.CheckoutSessionID+"/buyer", "application/json",
		bytes.NewReader([]byte(`{"scenario":"PendingThenAuthorized"}`)))
	if err != nil || r.StatusCode >= 300 {
		t.Fatalf("buyer: %v %v", r, err)
	}
	r.Body.Close()

	c := pb.NewPaymentCompletionServiceClient(conn)
	resp, err := c.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{
		CheckoutSessionId: sess.CheckoutSessionID, OrderId: "order-ipn", ChargeAmount: &pb.Money{Amount: "14.00", CurrencyCode: "USD"},
	})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_PENDING {
		t.Fatalf("CompleteCheckout = %v, %v; want PENDING", resp, err)
	}
	advance(advanceAfter)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	stream, err := c.WatchPayment(wctx, &pb.WatchPaymentRequest{CheckoutSessionId: sess.CheckoutSessionID})
	if err != nil {
		t.Fatal(err)
	}
	var last *pb.Payment
	for {
		u, err := stream.Recv()
		if err != nil {
			break
		}
		last = u.GetPayment()
	}
	if last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("watched payment ended as %v, want COMPLETED (by notification; the first poll is an hour away)\n%s", last, logs)
	}

	// The notification is counted and timed; the Authorized charge's
	// expiry check waits among the operations.
	mr, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Body.Close()
	body, _ := io.ReadAll(mr.Body)
	for _, want := range []string{
		`paymentcompletion_ipn_notifications_total{reason="notification",result="accepted"} `,
		`paymentcompletion_ipn_nudge_seconds_count `,
		`paymentcompletion_operations_backlog{kind="expiry",state="sending"} 1`,
		`paymentcompletion_operations_oldest_unknown_seconds{kind="capture"} 0`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The poll the notification brought forward logs in a trace of its
	// own.
	settled := 0
	for _, l := range logs.Lines(t) {
		if l["msg"] == "pending payment settled" {
			settled++
			if l["trace_id"] == nil || l["span_id"] == nil {
				t.Errorf("background log line without trace_id and span_id: %v", l)
			}
		}
	}
	if settled != 1 {
		t.Errorf("%d \"pending payment settled\" log lines, want 1", settled)
	}
}
