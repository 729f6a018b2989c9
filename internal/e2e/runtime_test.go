package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/embeddedsim"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles/tlstest"
)

// healthOf asks the server's gRPC health service about name.
func healthOf(t testing.TB, p *proc, name string) (healthpb.HealthCheckResponse_ServingStatus, metadata.MD) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(p.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: name}, grpc.Header(&md))
	if err != nil {
		t.Fatalf("health %q: %v", name, err)
	}
	return resp.GetStatus(), md
}

// probeHTTP GETs path on the metrics listener and returns the status code
// and the JSON body.
func probeHTTP(t testing.TB, addr, path string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}

// eventually waits until cond holds, failing after within.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProbesDuringDatabaseOutage: with PostgreSQL cut off, readiness goes
// NOT_SERVING (gRPC "" and "readiness", HTTP /readyz 503) while liveness
// stays SERVING (gRPC "liveness", /livez 200): a liveness probe must not
// restart replicas because of the database. Back together once it is
// reachable again.
func TestProbesDuringDatabaseOutage(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.lis.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()

	a := newAmazonSim(t, time.Second)
	env := a.serverEnv(t, u.String())
	metricsAddr := freeAddr(t)
	env["METRICS_ADDR"], env["HEALTH_CHECK_INTERVAL"] = metricsAddr, "200ms"
	p := startProc(t, env)

	ready := func() bool {
		st, _ := healthOf(t, p, "readiness")
		code, _ := probeHTTP(t, metricsAddr, "/readyz")
		return st == healthpb.HealthCheckResponse_SERVING && code == http.StatusOK
	}
	notReady := func() bool {
		st, _ := healthOf(t, p, "readiness")
		all, _ := healthOf(t, p, "")
		code, body := probeHTTP(t, metricsAddr, "/readyz")
		return st == healthpb.HealthCheckResponse_NOT_SERVING && all == healthpb.HealthCheckResponse_NOT_SERVING &&
			code == http.StatusServiceUnavailable && body["reason"] == "database unreachable"
	}
	live := func() {
		t.Helper()
		if st, _ := healthOf(t, p, "liveness"); st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("liveness %v, want SERVING", st)
		}
		if code, body := probeHTTP(t, metricsAddr, "/livez"); code != http.StatusOK {
			t.Errorf("/livez %d %v, want 200", code, body)
		}
	}
	eventually(t, 10*time.Second, "ready", ready)
	live()

	proxy.cut()
	eventually(t, 20*time.Second, "NOT_SERVING with the database cut", notReady)
	live()

	proxy.restore()
	eventually(t, 20*time.Second, "ready again with the database back", ready)
	live()
	p.stop(t, 20*time.Second)
}

// TestDrainAfterSIGTERM: after SIGTERM readiness is NOT_SERVING at once,
// while calls arriving during SHUTDOWN_DRAIN_DELAY, on connections opened
// before and after the signal, succeed; then the process exits 0.
func TestDrainAfterSIGTERM(t *testing.T) {
	t.Parallel()
	const drain = 4 * time.Second
	a := newAmazonSim(t, time.Second)
	env := a.serverEnv(t, sqliteURL(t))
	metricsAddr := freeAddr(t)
	env["METRICS_ADDR"], env["SHUTDOWN_DRAIN_DELAY"] = metricsAddr, drain.String()
	p := startProc(t, env)
	ctx := t.Context()
	first := a.newSession(t, ctx, sessionSpec{Amount: "12.00", Scenario: "Authorized"})
	second := a.newSession(t, ctx, sessionSpec{Amount: "13.00", Scenario: "Authorized"})

	signaled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "NOT_SERVING after SIGTERM", func() bool {
		st, _ := healthOf(t, p, "")
		return st == healthpb.HealthCheckResponse_NOT_SERVING
	})
	if code, body := probeHTTP(t, metricsAddr, "/readyz"); code != http.StatusServiceUnavailable || body["reason"] != "shutting down" {
		t.Errorf("/readyz while draining: %d %v", code, body)
	}
	if st, _ := healthOf(t, p, "liveness"); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("liveness while draining: %v, want SERVING", st)
	}

	// A call on the connection opened before the signal, and one on a
	// connection opened during the drain, as a load balancer not yet
	// updated would send.
	resp, err := p.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: first, OrderId: "o-drain-1", ChargeAmount: usd("12.00")})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Errorf("completion during the drain on an open connection: %v %v", resp, err)
	}
	// The harness's key ID is a SANDBOX- one.
	if m := resp.GetPayment().GetAmazonPayMode(); m != pb.AmazonPayMode_AMAZON_PAY_MODE_SANDBOX {
		t.Errorf("payment mode %v, want SANDBOX", m)
	}
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err = pb.NewPaymentCompletionServiceClient(conn).CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: second, OrderId: "o-drain-2", ChargeAmount: usd("13.00")})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Errorf("completion during the drain on a new connection: %v %v", resp, err)
	}
	if time.Since(signaled) >= drain {
		t.Logf("the calls ended %v after SIGTERM, past the drain delay %v (a loaded machine)", time.Since(signaled), drain)
	}

	select {
	case <-p.exited:
	case <-time.After(drain + 30*time.Second):
		t.Fatal("server still running long after the drain delay and grace")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	if took := time.Since(signaled); took < drain {
		t.Errorf("exited %v after SIGTERM, before the drain delay %v", took, drain)
	}
}

// runRefused runs the server binary with env and returns its exit status
// and output; it must exit by itself.
func runRefused(t *testing.T, env map[string]string) (int, string) {
	t.Helper()
	cmd := exec.Command(serverBinary(t))
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("server still running after 60s:\n%s", out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestSimulatorRefusedInProduction: without Amazon Pay credentials, each
// sign of production makes the server refuse to start, naming the missing
// credentials settings and the sign; EMBEDDED_SIMULATOR=false refuses the
// simulator everywhere.
func TestSimulatorRefusedInProduction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "server")
	pair := ca.Server(t, dir, "server", time.Now().Add(time.Hour))
	callers := filepath.Join(dir, "callers.json")
	if err := os.WriteFile(callers, []byte(`{"callers": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		sign string
	}{
		{"public_address", map[string]string{"LISTEN_ADDR": "0.0.0.0:0", "ALLOW_PLAINTEXT": "true"}, "LISTEN_ADDR"},
		{"postgres", map[string]string{"DATABASE_URL": pgtest.URL(t)}, "DATABASE_URL is PostgreSQL"},
		{"tls", map[string]string{"TLS_CERT_FILE": pair.CertFile, "TLS_KEY_FILE": pair.Key}, "TLS_CERT_FILE is set"},
		{"callers_file", map[string]string{"AUTH_CALLERS_FILE": callers}, "AUTH_CALLERS_FILE is set"},
		{"simulator_refused", map[string]string{"EMBEDDED_SIMULATOR": "false"}, "EMBEDDED_SIMULATOR=false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DATA_DIR": t.TempDir(), "LISTEN_ADDR": "127.0.0.1:0", "SIMULATOR_ADDR": "127.0.0.1:0"}
			for k, v := range tt.env {
				env[k] = v
			}
			code, out := runRefused(t, env)
			if code != 2 {
				t.Errorf("exit %d, want 2 (configuration refused):\n%s", code, out)
			}
			for _, want := range []string{"AMAZON_PAY_PUBLIC_KEY_ID", "AMAZON_PAY_PRIVATE_KEY_FILE", tt.sign} {
				if !strings.Contains(out, want) {
					t.Errorf("output does not name %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, `"msg":"serving"`) {
				t.Errorf("served:\n%s", out)
			}
		})
	}
}

// TestExplicitSimulatorShowsMode: EMBEDDED_SIMULATOR=true runs the
// simulator on PostgreSQL, and the mode shows in the start log, on every
// Payment, in build_info and in both kinds of health answers.
func TestExplicitSimulatorShowsMode(t *testing.T) {
	t.Parallel()
	dataDir, simAddr, metricsAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	p := startProc(t, map[string]string{
		"DATABASE_URL": pgtest.URL(t), "EMBEDDED_SIMULATOR": "true", "DATA_DIR": dataDir,
		"SIMULATOR_ADDR": simAddr, "METRICS_ADDR": metricsAddr, "SHUTDOWN_GRACE": "2s",
	})
	if !strings.Contains(p.output(), `"amazon_pay_mode":"simulator"`) {
		t.Errorf("start log does not name the mode:\n%s", p.output())
	}

	// A buyer pays at the embedded simulator, as democheckout does.
	key, pool, err := embeddedsim.Load(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	c, err := amazonpay.New(amazonpay.Config{PublicKeyID: embeddedsim.KeyID, PrivateKey: key, Region: "na", Endpoint: "https://" + simAddr, RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	sess, _, err := c.CreateCheckoutSession(ctx, amazonpay.CreateCheckoutSessionRequest{
		WebCheckoutDetails: amazonpay.WebCheckoutDetails{CheckoutReviewReturnURL: "https://shop.example/review"},
		StoreID:            "amzn1.application-oa2-client.e2e",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.UpdateCheckoutSession(ctx, sess.CheckoutSessionID, amazonpay.UpdateCheckoutSessionRequest{
		WebCheckoutDetails: &amazonpay.WebCheckoutDetails{CheckoutResultReturnURL: "https://shop.example/result"},
		PaymentDetails:     &amazonpay.PaymentDetails{PaymentIntent: "Authorize", ChargeAmount: &amazonpay.Price{Amount: "14.00", CurrencyCode: "USD"}},
	}); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	r, err := hc.Post("https://"+simAddr+"/simulator/checkoutSessions/"+sess.CheckoutSessionID+"/buyer", "application/json", strings.NewReader(`{"scenario":"Authorized"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Body.Close()

	resp, err := p.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: sess.CheckoutSessionID, OrderId: "o-sim-mode", ChargeAmount: usd("14.00")})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("complete: %v %v", resp, err)
	}
	if m := resp.GetPayment().GetAmazonPayMode(); m != pb.AmazonPayMode_AMAZON_PAY_MODE_SIMULATOR {
		t.Errorf("CompleteCheckout payment mode %v, want SIMULATOR", m)
	}
	got, err := p.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "o-sim-mode"}})
	if err != nil || got.GetPayment().GetAmazonPayMode() != pb.AmazonPayMode_AMAZON_PAY_MODE_SIMULATOR {
		t.Errorf("GetPayment: %v %v, want mode SIMULATOR", got, err)
	}
	list, err := p.Client.ListPayments(ctx, &pb.ListPaymentsRequest{})
	if err != nil || len(list.GetPayments()) != 1 || list.GetPayments()[0].GetAmazonPayMode() != pb.AmazonPayMode_AMAZON_PAY_MODE_SIMULATOR {
		t.Errorf("ListPayments: %v %v, want one payment with mode SIMULATOR", list, err)
	}

	m, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(m.Body)
	_ = m.Body.Close()
	if !strings.Contains(string(body), `paymentcompletion_build_info{`) || !strings.Contains(string(body), `mode="simulator"`) {
		t.Errorf("build_info without mode=\"simulator\":\n%s", grepLines(string(body), "build_info"))
	}
	if st, md := healthOf(t, p, ""); st != healthpb.HealthCheckResponse_SERVING || strings.Join(md.Get("amazon-pay-mode"), ",") != "simulator" {
		t.Errorf("gRPC health: %v, metadata %v; want SERVING with amazon-pay-mode simulator", st, md)
	}
	if code, body := probeHTTP(t, metricsAddr, "/readyz"); code != http.StatusOK || body["amazon-pay-mode"] != "simulator" {
		t.Errorf("/readyz: %d %v, want 200 with amazon-pay-mode simulator", code, body)
	}
	p.stop(t, 20*time.Second)
}

// TestReadinessFollowsAmazonPayCredentials: a server whose key Amazon Pay
// does not know (403 InvalidRequestSignature) serves but is not ready,
// /readyz naming the reason, while liveness is SERVING; once the key is
// registered (an operator fixed the account), readiness turns SERVING by
// itself.
func TestReadinessFollowsAmazonPayCredentials(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "new-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	const keyID = "SANDBOX-E2ENOTYETREGISTEREDKEY01"
	env := a.serverEnv(t, sqliteURL(t))
	metricsAddr := freeAddr(t)
	env["AMAZON_PAY_PUBLIC_KEY_ID"], env["AMAZON_PAY_PRIVATE_KEY_FILE"] = keyID, keyFile
	env["METRICS_ADDR"], env["HEALTH_CHECK_INTERVAL"] = metricsAddr, "200ms"

	p := launchProc(t, env, insecure.NewCredentials())
	conn := p.conn

	eventually(t, 60*time.Second, "live and not ready for the rejected key", func() bool {
		resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "liveness"})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return false
		}
		code, body := probeHTTP(t, metricsAddr, "/readyz")
		return code == http.StatusServiceUnavailable && body["reason"] == "amazon pay credentials rejected"
	})
	if st, _ := healthOf(t, p, ""); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("readiness %v with rejected credentials, want NOT_SERVING", st)
	}

	if err := a.sim.RegisterPublicKey(keyID, &key.PublicKey, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "ready once the key is registered", func() bool {
		st, _ := healthOf(t, p, "")
		code, _ := probeHTTP(t, metricsAddr, "/readyz")
		return st == healthpb.HealthCheckResponse_SERVING && code == http.StatusOK
	})
	p.stop(t, 20*time.Second)
}
