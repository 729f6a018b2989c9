package e2e_test

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// TestUntrustedAmazonCertificate points the server at Amazon Pay over TLS
// with a certificate it does not trust (no AMAZON_PAY_CA_FILE for a private
// CA, as with an intercepting proxy): the completion fails INTERNAL
// AMAZON_PAY_TLS_FAILED, not as a retryable outage, nothing is sent or
// recorded, and the log has an ERROR line with the cause.
func TestUntrustedAmazonCertificate(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	tlsSrv := httptest.NewUnstartedServer(a.sim)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the expected handshake failures
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	env := a.serverEnv(t, sqliteURL(t))
	env["AMAZON_PAY_ENDPOINT"] = tlsSrv.URL
	srv := startProc(t, env)

	id := a.newSession(t, t.Context(), sessionSpec{Amount: "14.00", Scenario: "Authorized"})
	_, err := srv.Client.CompleteCheckout(t.Context(), &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-tls", ChargeAmount: usd("14.00")})
	code, reason, _, _ := errorInfo(t, err)
	if code != codes.Internal || reason != "AMAZON_PAY_TLS_FAILED" {
		t.Fatalf("CompleteCheckout = %v (reason %q), want INTERNAL AMAZON_PAY_TLS_FAILED", err, reason)
	}
	if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 0 {
		t.Errorf("Complete reached Amazon %d times, want 0", n)
	}
	_, err = srv.Client.GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetPayment after the refused completion: %v, want NotFound (nothing recorded)", err)
	}
	srv.stop(t, 10*time.Second)
	var found bool
	for line := range strings.Lines(srv.output()) {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "certificate signed by unknown authority") {
			found = true
		}
	}
	if !found {
		t.Errorf("no ERROR log line with the certificate failure:\n%s", srv.output())
	}
}
