package e2e_test

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// The command-line client, built once next to the server binary.
var (
	clientOnce   sync.Once
	clientPath   string
	clientErr    error
	clientOutput []byte
)

func clientBinary(t testing.TB) string {
	t.Helper()
	dir := filepath.Dir(serverBinary(t)) // builds the server first: it owns buildDir
	clientOnce.Do(func() {
		clientPath = filepath.Join(dir, "client")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", clientPath, "./client")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		clientOutput, clientErr = cmd.CombinedOutput()
	})
	if clientErr != nil {
		t.Fatalf("build client: %v\n%s", clientErr, clientOutput)
	}
	return clientPath
}

// cli runs the client against srv with -json, decodes what it printed into
// out (when not nil) and returns its exit status.
func cli(t *testing.T, srv *proc, out proto.Message, args ...string) int {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), clientBinary(t), append([]string{"-addr", srv.Addr, "-json", "-timeout", "20s"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("client %v: %v", args, err)
		}
		code = exit.ExitCode()
	}
	if out != nil && (code == 0 || code == 10) {
		if err := protojson.Unmarshal(stdout.Bytes(), out); err != nil {
			t.Fatalf("client %v printed %q (stderr %q): %v", args, stdout.String(), stderr.String(), err)
		}
	}
	if code != 0 && code != 10 {
		t.Logf("client %v: exit %d, stderr %s", args, code, stderr.String())
	}
	return code
}

// waitRefundCLI runs refund-get until it exits 0 (Refunded).
func waitRefundCLI(t *testing.T, srv *proc, refundID string) *pb.Refund {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r pb.Refund
		code := cli(t, srv, &r, "refund-get", "-id", refundID)
		if code == 0 && r.GetState() == pb.RefundState_REFUND_STATE_REFUNDED {
			return &r
		}
		if code != 10 || time.Now().After(deadline) {
			t.Fatalf("refund-get %s: exit %d, %v; want Refunded (exit 0)", refundID, code, &r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWholeOrdersThroughServerAndClient carries an order of each payment
// intent to its end through the server binary and the command-line client,
// checking the exit statuses and what Amazon Pay received.
func TestWholeOrdersThroughServerAndClient(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	srv := startProc(t, a.serverEnv(t, sqliteURL(t)))
	clientBinary(t)

	t.Run("authorize_partial_capture_then_the_rest", func(t *testing.T) {
		t.Parallel()
		// The order is 30.00; the checkout authorizes the first shipment's
		// 10.00, of which 8.00 ships; the second shipment's 20.00 gets a
		// charge of its own, captured at once.
		id := a.newSession(t, t.Context(), sessionSpec{Amount: "10.00", Total: &amazonpay.Price{Amount: "30.00", CurrencyCode: "USD"}, Scenario: "Authorized"})
		var p pb.Payment
		if code := cli(t, srv, &p, "complete", "-session", id, "-order", "cli-auth", "-amount", "10.00", "-currency", "USD", "-total-amount", "30.00"); code != 0 ||
			p.GetChargeState() != pb.ChargeState_CHARGE_STATE_AUTHORIZED {
			t.Fatalf("complete: exit %d, %v", code, &p)
		}
		var capt pb.CaptureChargeResponse
		if code := cli(t, srv, &capt, "capture", "-id", p.GetChargeId(), "-amount", "8.00", "-currency", "USD", "-key", "ship-1"); code != 0 ||
			capt.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_CAPTURED || capt.GetCharge().GetCaptureAmount().GetAmount() != "8.00" {
			t.Fatalf("partial capture: exit %d, %v", code, &capt)
		}
		var again pb.CaptureChargeResponse
		if code := cli(t, srv, &again, "capture", "-id", p.GetChargeId(), "-amount", "8.00", "-currency", "USD", "-key", "ship-1"); code != 0 ||
			again.GetCharge().GetCaptureAmount().GetAmount() != "8.00" {
			t.Errorf("repeated capture: exit %d, %v", code, &again)
		}
		if code := cli(t, srv, nil, "capture", "-id", p.GetChargeId(), "-amount", "2.00", "-currency", "USD", "-key", "ship-1b"); code != 5 {
			t.Errorf("a second capture of the charge: exit %d, want 5 (FAILED_PRECONDITION)", code)
		}
		var rest pb.CreateChargeResponse
		if code := cli(t, srv, &rest, "charge-create", "-permission", p.GetChargePermissionId(), "-amount", "20.00", "-currency", "USD", "-key", "ship-2", "-capture-now"); code != 0 ||
			rest.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_CAPTURED {
			t.Fatalf("the rest: exit %d, %v", code, &rest)
		}
		var got pb.Payment
		if code := cli(t, srv, &got, "payment", "-order", "cli-auth"); code != 0 || got.GetCapturedAmount().GetAmount() != "28.00" ||
			got.GetOutstandingAmount() != nil || len(got.GetCharges()) != 2 || got.GetChargeState() != pb.ChargeState_CHARGE_STATE_CAPTURED {
			t.Errorf("payment: exit %d, captured %v outstanding %v charges %v charge_state %v; want 28.00, none, two, the completion's charge CAPTURED", code, got.GetCapturedAmount(), got.GetOutstandingAmount(), got.GetCharges(), got.GetChargeState())
		}
		calls := a.calls(t, id)
		if calls["CaptureCharge"] != 1 || calls["CreateCharge"] != 1 || calls["CompleteCheckoutSession"] != 1 {
			t.Errorf("calls at Amazon %v, want one Complete, one Capture, one Create Charge", calls)
		}
	})

	t.Run("authorize_with_capture_then_refunds", func(t *testing.T) {
		t.Parallel()
		id := a.newSession(t, t.Context(), sessionSpec{Amount: "40.00", Intent: "AuthorizeWithCapture", Scenario: "Authorized"})
		var p pb.Payment
		if code := cli(t, srv, &p, "complete", "-session", id, "-order", "cli-awc", "-amount", "40.00", "-currency", "USD"); code != 0 ||
			p.GetCapturedAmount().GetAmount() != "40.00" {
			t.Fatalf("complete: exit %d, %v", code, &p)
		}
		var first pb.RefundChargeResponse
		if code := cli(t, srv, &first, "refund", "-id", p.GetChargeId(), "-amount", "15.00", "-currency", "USD", "-key", "cm-1"); code != 10 ||
			first.GetRefund().GetState() != pb.RefundState_REFUND_STATE_REFUND_INITIATED {
			t.Fatalf("refund: exit %d, %v; want PENDING (exit 10)", code, &first)
		}
		waitRefundCLI(t, srv, first.GetRefund().GetRefundId())
		var rest pb.RefundChargeResponse
		if code := cli(t, srv, &rest, "refund", "-id", p.GetChargeId(), "-amount", "25.00", "-currency", "USD", "-key", "cm-2"); code != 10 {
			t.Fatalf("refund of the rest: exit %d, %v", code, &rest)
		}
		waitRefundCLI(t, srv, rest.GetRefund().GetRefundId())
		// refund-get reads Amazon; the payment shows what the worker's poll
		// of the refund recorded, a moment later.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var got pb.Payment
			code := cli(t, srv, &got, "payment", "-order", "cli-awc")
			if code == 0 && refunded("40.00", 2)(&got) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("payment: exit %d, refunded %v refunds %v; want 40.00 in two", code, got.GetRefundedAmount(), got.GetRefunds())
			}
			time.Sleep(200 * time.Millisecond)
		}
		if n := a.calls(t, id)["CreateRefund"]; n != 2 {
			t.Errorf("%d refunds reached Amazon, want 2", n)
		}
	})

	t.Run("confirm_then_charge_then_capture", func(t *testing.T) {
		t.Parallel()
		id := a.newSession(t, t.Context(), sessionSpec{Amount: "25.00", Intent: "Confirm", Scenario: "Authorized"})
		var p pb.Payment
		if code := cli(t, srv, &p, "complete", "-session", id, "-order", "cli-confirm", "-amount", "25.00", "-currency", "USD"); code != 0 ||
			p.GetChargeId() != "" || p.GetChargePermissionId() == "" {
			t.Fatalf("complete: exit %d, %v; want no charge yet", code, &p)
		}
		var ch pb.CreateChargeResponse
		if code := cli(t, srv, &ch, "charge-create", "-permission", p.GetChargePermissionId(), "-amount", "25.00", "-currency", "USD", "-key", "ship-all"); code != 0 ||
			ch.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_AUTHORIZED {
			t.Fatalf("charge-create: exit %d, %v", code, &ch)
		}
		var capt pb.CaptureChargeResponse
		if code := cli(t, srv, &capt, "capture", "-id", ch.GetCharge().GetChargeId(), "-amount", "25.00", "-currency", "USD", "-key", "ship-all"); code != 0 ||
			capt.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_CAPTURED {
			t.Fatalf("capture: exit %d, %v", code, &capt)
		}
		var got pb.Payment
		if code := cli(t, srv, &got, "payment", "-order", "cli-confirm"); code != 0 || got.GetCapturedAmount().GetAmount() != "25.00" || len(got.GetCharges()) != 1 {
			t.Errorf("payment: exit %d, captured %v charges %v; want 25.00 on one", code, got.GetCapturedAmount(), got.GetCharges())
		}
		calls := a.calls(t, id)
		if calls["CreateCharge"] != 1 || calls["CaptureCharge"] != 1 {
			t.Errorf("calls at Amazon %v, want one Create Charge and one Capture", calls)
		}
	})
}
