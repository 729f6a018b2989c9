package e2e_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles/tlstest"
)

// TestProductionSettings runs the server binary as an operator would put it
// in front of payments: mTLS, named callers, metrics and tracing on, at
// debug level. A storefront completes a payment carrying its own trace and
// request ID; the test checks the answer's headers, the permissions, the
// metrics scraped before and after, and that every log line of the call
// names its trace, request ID and caller.
func TestProductionSettings(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Hour)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "server")
	clientCA := tlstest.NewCA(t, dir, "clients")
	srvPair := ca.Server(t, dir, "server", time.Now().Add(time.Hour))
	shop := clientCA.Client(t, dir, "shop-backend", "")
	sum := sha256.Sum256([]byte("storefront-token"))
	callersFile := filepath.Join(dir, "callers.json")
	if err := os.WriteFile(callersFile, fmt.Appendf(nil, `{"callers": [
		{"name": "storefront", "token_sha256": %q, "methods": ["CompleteCheckout", "GetPayment", "WatchPayment"]},
		{"name": "support", "client_cert_subject": "CN=support-tool", "methods": ["*"]}]}`, hex.EncodeToString(sum[:])), 0o600); err != nil {
		t.Fatal(err)
	}
	metricsAddr := freeAddr(t)
	env := a.serverEnv(t, sqliteURL(t))
	for k, v := range map[string]string{
		"TLS_CERT_FILE": srvPair.CertFile, "TLS_KEY_FILE": srvPair.Key, "TLS_CLIENT_CA_FILE": clientCA.File,
		"AUTH_CALLERS_FILE": callersFile, "METRICS_ADDR": metricsAddr, "LOG_LEVEL": "debug",
	} {
		env[k] = v
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	cert, err := tls.LoadX509KeyPair(shop.CertFile, shop.Key)
	if err != nil {
		t.Fatal(err)
	}
	p := startProcWith(t, env, credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}))

	scrape := func() string {
		t.Helper()
		r, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %d %v", r.StatusCode, err)
		}
		return string(b)
	}
	const completedSeries = `paymentcompletion_completions_total{outcome="completed",reason=""} `
	if before := scrape(); strings.Contains(before, completedSeries) {
		t.Fatalf("a completion counted before any:\n%s", grepLines(before, "completions_total"))
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	call := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer storefront-token",
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01", "x-request-id", "checkout-77")
	id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", Scenario: "Authorized"})
	var hdr metadata.MD
	resp, err := p.Client.CompleteCheckout(call, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-prod", ChargeAmount: usd("14.00")}, grpc.Header(&hdr))
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("CompleteCheckout = %v, %v; want COMPLETED", resp, err)
	}
	if got := hdr.Get("x-request-id"); len(got) != 1 || got[0] != "checkout-77" {
		t.Errorf("response x-request-id = %v, want checkout-77", got)
	}
	_, err = p.Client.GetCharge(call, &pb.GetChargeRequest{ChargeId: resp.GetPayment().GetChargeId()})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("storefront GetCharge: %v, want PERMISSION_DENIED", err)
	}

	after := scrape()
	for _, want := range []string{
		completedSeries + "1",
		`grpc_server_handled_total{grpc_code="OK",grpc_method="CompleteCheckout",grpc_service="paymentcompletion.v1.PaymentCompletionService",grpc_type="unary"} 1`,
		`grpc_server_handled_total{grpc_code="PermissionDenied",grpc_method="GetCharge"`,
		`grpc_server_handling_seconds_bucket{grpc_method="CompleteCheckout"`,
		`paymentcompletion_amazonpay_calls_total{operation="CompleteCheckoutSession",status="200"} 1`,
		`paymentcompletion_amazonpay_call_duration_seconds_count{operation="CompleteCheckoutSession"} 1`,
		`paymentcompletion_store_operation_duration_seconds_count{operation="CreateAttempt"}`,
		`paymentcompletion_payments_unsettled{outcome="pending"} 0`,
		`paymentcompletion_tracker_lag_seconds 0`,
		`paymentcompletion_operations_unknown_past_budget{kind="refund"} 0`,
		// The limits at rest (the defaults): the completion answered, so
		// its place is free.
		`paymentcompletion_limit_in_use{limit="completions"} 0`,
		`paymentcompletion_limit_size{limit="completions"} 10000`,
		`paymentcompletion_limit_waiting{limit="amazonpay_calls"} 0`,
		`paymentcompletion_limit_size{limit="amazonpay_calls"} 512`,
		"go_goroutines ", "process_resident_memory_bytes ", `paymentcompletion_build_info{`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(after, "paymentcompletion_", "grpc_server_handled_total"))
	}

	// Every line of the call names its trace (the caller's), a span, the
	// request ID and the caller; the finish line is one of them.
	var lines, finish int
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines, finish = 0, 0
		sc := bufio.NewScanner(strings.NewReader(p.output()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil || m["request_id"] != "checkout-77" {
				continue
			}
			lines++
			if m["trace_id"] != traceID || m["span_id"] == nil || m["span_id"] == "" || m["caller"] != "storefront" {
				t.Errorf("log line of the call lacks its trace, span or caller: %s", sc.Text())
			}
			if m["grpc.method"] == "CompleteCheckout" && m["grpc.code"] == "OK" {
				finish++
			}
		}
		if finish >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if finish < 1 || lines < 2 {
		t.Errorf("%d log lines of the call, %d finish lines; want the domain's lines and the finish line:\n%s", lines, finish, p.output())
	}
	if strings.Contains(p.output(), "storefront-token") {
		t.Error("the bearer token was logged")
	}
}

// TestVersion checks -version and the start line's build fields.
func TestVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(serverBinary(t), "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("-version: %v\n%s", err, out)
	}
	for _, want := range []string{"paymentcompletion server ", "commit ", "go1."} {
		if !strings.Contains(string(out), want) {
			t.Errorf("-version output lacks %q:\n%s", want, out)
		}
	}
}

func grepLines(s string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
