// Package e2e_test drives the whole service end to end: the real gRPC
// server and interceptors, the real Amazon Pay client, real stores and the
// Amazon Pay simulator, over real sockets.
package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

func TestCompleteScenarios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spec   sessionSpec
		want   pb.Outcome
		reason string
		state  pb.ChargeState
		charge bool
		// settled: the outcome a pending payment settles to.
		settled       pb.Outcome
		settledReason string
	}{
		{name: "authorized", spec: sessionSpec{Amount: "14.00", Scenario: "Authorized"},
			want: pb.Outcome_OUTCOME_COMPLETED, state: pb.ChargeState_CHARGE_STATE_AUTHORIZED, charge: true},
		{name: "authorize_with_capture", spec: sessionSpec{Amount: "14.00", Intent: "AuthorizeWithCapture", Scenario: "Authorized"},
			want: pb.Outcome_OUTCOME_COMPLETED, state: pb.ChargeState_CHARGE_STATE_CAPTURED, charge: true},
		{name: "confirm_has_no_charge", spec: sessionSpec{Amount: "14.00", Intent: "Confirm", Scenario: "Authorized"},
			want: pb.Outcome_OUTCOME_COMPLETED, charge: false},
		{name: "jpy", spec: sessionSpec{Amount: "1000", Currency: "JPY", Scenario: "Authorized"},
			want: pb.Outcome_OUTCOME_COMPLETED, state: pb.ChargeState_CHARGE_STATE_AUTHORIZED, charge: true},
		{name: "buyer_canceled", spec: sessionSpec{Amount: "14.00", Scenario: "BuyerCanceled"},
			want: pb.Outcome_OUTCOME_CANCELED, reason: "BuyerCanceled"},
		{name: "declined", spec: sessionSpec{Amount: "14.00", Scenario: "Declined"},
			want: pb.Outcome_OUTCOME_DECLINED, reason: "Declined"},
		{name: "pending_then_authorized", spec: sessionSpec{Amount: "14.00", CanHandlePending: true, Scenario: "PendingThenAuthorized"},
			want: pb.Outcome_OUTCOME_PENDING, state: pb.ChargeState_CHARGE_STATE_AUTHORIZATION_INITIATED, charge: true,
			settled: pb.Outcome_OUTCOME_COMPLETED},
		{name: "pending_then_declined", spec: sessionSpec{Amount: "14.00", CanHandlePending: true, Scenario: "PendingThenDeclined"},
			want: pb.Outcome_OUTCOME_PENDING, state: pb.ChargeState_CHARGE_STATE_AUTHORIZATION_INITIATED, charge: true,
			settled: pb.Outcome_OUTCOME_DECLINED, settledReason: "HardDeclined"},
	}
	// Pending authorizations settle 2s after Complete, leaving time (even
	// on a busy machine) to open the watch that must see PENDING first.
	a := newAmazonSim(t, 2*time.Second)
	svc := startService(t, a, serviceOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			id := a.newSession(t, ctx, tt.spec)
			money := &pb.Money{Amount: tt.spec.Amount, CurrencyCode: "USD"}
			if tt.spec.Currency != "" {
				money.CurrencyCode = tt.spec.Currency
			}
			resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{
				CheckoutSessionId: id, OrderId: "order-" + tt.name, ChargeAmount: money,
			})
			if err != nil {
				t.Fatalf("CompleteCheckout: %v", err)
			}
			p := resp.GetPayment()
			if p.GetOutcome() != tt.want || p.GetReasonCode() != tt.reason || p.GetChargeState() != tt.state {
				t.Fatalf("got %s, want %s reason=%q state=%s", describe(p), tt.want, tt.reason, tt.state)
			}
			var watched func() []*pb.Payment
			if tt.settled != pb.Outcome_OUTCOME_UNSPECIFIED {
				// Watch from right after the answer, while still pending.
				watched = startWatch(t, svc.Client, id, 20*time.Second)
			}
			if (p.GetChargeId() != "") != tt.charge {
				t.Errorf("charge id %q, want present=%v", p.GetChargeId(), tt.charge)
			}
			if tt.want == pb.Outcome_OUTCOME_COMPLETED && p.GetChargePermissionId() == "" {
				t.Error("completed payment without charge permission id")
			}
			if got := a.calls(t, id)["CompleteCheckoutSession"]; got != 1 {
				t.Errorf("Complete reached Amazon %d times, want 1", got)
			}

			// A repeat is answered from the store.
			again, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{
				CheckoutSessionId: id, OrderId: "order-" + tt.name, ChargeAmount: money,
			})
			if err != nil {
				t.Fatalf("repeat: %v", err)
			}
			if got := again.GetPayment().GetOutcome(); got != tt.want && (tt.settled == pb.Outcome_OUTCOME_UNSPECIFIED || got != tt.settled) {
				t.Fatalf("repeat answered %s, want %s (or its settled outcome)", describe(again.GetPayment()), tt.want)
			}
			if got := a.calls(t, id)["CompleteCheckoutSession"]; got != 1 {
				t.Errorf("after a repeat Complete reached Amazon %d times, want 1", got)
			}

			if tt.settled != pb.Outcome_OUTCOME_UNSPECIFIED {
				seen := watched()
				last := seen[len(seen)-1]
				if last.GetOutcome() != tt.settled || last.GetReasonCode() != tt.settledReason {
					t.Fatalf("settled as %s, want %s %q", describe(last), tt.settled, tt.settledReason)
				}
				if seen[0].GetOutcome() != pb.Outcome_OUTCOME_PENDING {
					t.Errorf("watch started at %s, want PENDING", describe(seen[0]))
				}
				got, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}})
				if err != nil || got.GetPayment().GetOutcome() != tt.settled || got.GetPayment().GetSettleTime() == nil {
					t.Fatalf("GetPayment after settlement: %v %v", err, got)
				}
			}

			if p.GetChargeId() != "" {
				ch, err := svc.Client.GetCharge(ctx, &pb.GetChargeRequest{ChargeId: p.GetChargeId()})
				if err != nil {
					t.Fatalf("GetCharge: %v", err)
				}
				if ch.GetCharge().GetChargeAmount().GetAmount() != tt.spec.Amount || ch.GetCharge().GetState() == pb.ChargeState_CHARGE_STATE_UNSPECIFIED {
					t.Errorf("GetCharge = %v", ch.GetCharge())
				}
			}
			if p.GetChargePermissionId() != "" {
				cp, err := svc.Client.GetChargePermission(ctx, &pb.GetChargePermissionRequest{ChargePermissionId: p.GetChargePermissionId()})
				if err != nil {
					t.Fatalf("GetChargePermission: %v", err)
				}
				if cp.GetChargePermission().GetBuyer().GetEmail() == "" || cp.GetChargePermission().GetState() == pb.ChargePermissionState_CHARGE_PERMISSION_STATE_UNSPECIFIED {
					t.Errorf("GetChargePermission lacks buyer or state: state=%s", cp.GetChargePermission().GetState())
				}
			}
			byOrder, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "order-" + tt.name}})
			if err != nil || byOrder.GetPayment().GetCheckoutSessionId() != id {
				t.Fatalf("GetPayment by order: %v %v", err, byOrder)
			}
		})
	}
}

// errorInfo returns the ErrorInfo reason and the BadRequest field paths of
// a status error.
func errorInfo(t testing.TB, err error) (codes.Code, string, map[string]string, []string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a status error: %v", err)
	}
	var reason string
	var md map[string]string
	var fields []string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason, md = d.GetReason(), d.GetMetadata()
			if d.GetDomain() != "paymentcompletion" {
				t.Errorf("ErrorInfo domain %q", d.GetDomain())
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return st.Code(), reason, md, fields
}

func TestCompleteRejectsWithoutRecording(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := t.Context()

	t.Run("amount_mismatch_then_right_amount", func(t *testing.T) {
		t.Parallel()
		id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", Scenario: "Authorized"})
		_, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-mismatch", ChargeAmount: usd("15.00")})
		if code, reason, md, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "AMOUNT_MISMATCH" || md["amazon_reason_code"] != "AmountMismatch" {
			t.Fatalf("got %v %s %v", code, reason, md)
		}
		if _, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}}); status.Code(err) != codes.NotFound {
			t.Fatalf("a rejected attempt was recorded: %v", err)
		}
		// The storefront fixes the amount and succeeds with the same session.
		resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-mismatch", ChargeAmount: usd("14.00")})
		if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
			t.Fatalf("corrected completion: %v %v", err, resp)
		}
	})

	t.Run("session_not_ready", func(t *testing.T) {
		t.Parallel()
		id := a.newSession(t, ctx, sessionSpec{Amount: "14.00"})
		_, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-notready", ChargeAmount: usd("14.00")})
		if code, reason, _, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "CHECKOUT_SESSION_NOT_READY" {
			t.Fatalf("got %v %s", code, reason)
		}
		if _, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}}); status.Code(err) != codes.NotFound {
			t.Fatalf("a rejected attempt was recorded: %v", err)
		}
	})

	t.Run("unknown_session", func(t *testing.T) {
		t.Parallel()
		_, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: "bd504926-f659-4ad7-a1a9-9a747aaf5275", OrderId: "o-unknown", ChargeAmount: usd("14.00")})
		if code, reason, _, _ := errorInfo(t, err); code != codes.NotFound || reason != "CHECKOUT_SESSION_NOT_FOUND" {
			t.Fatalf("got %v %s", code, reason)
		}
	})

	t.Run("session_bound_to_other_order", func(t *testing.T) {
		t.Parallel()
		id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", Scenario: "Authorized"})
		if _, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-first", ChargeAmount: usd("14.00")}); err != nil {
			t.Fatal(err)
		}
		for _, req := range []*pb.CompleteCheckoutRequest{
			{CheckoutSessionId: id, OrderId: "o-second", ChargeAmount: usd("14.00")},
			{CheckoutSessionId: id, OrderId: "o-first", ChargeAmount: usd("14.01")},
			{CheckoutSessionId: id, OrderId: "o-first", ChargeAmount: usd("14.00"), TotalOrderAmount: usd("20.00")},
		} {
			_, err := svc.Client.CompleteCheckout(ctx, req)
			if code, reason, md, _ := errorInfo(t, err); code != codes.FailedPrecondition || reason != "SESSION_BOUND_TO_OTHER_REQUEST" || md["order_id"] != "o-first" {
				t.Fatalf("%v: got %v %s %v", req, code, reason, md)
			}
		}
		got, _ := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}})
		if got.GetPayment().GetOrderId() != "o-first" || got.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
			t.Fatalf("stored payment changed: %v", got)
		}
		if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 1 {
			t.Fatalf("Complete reached Amazon %d times", n)
		}
	})
}

func TestCompleteBadInputReachesNothing(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", Scenario: "Authorized"})
	tests := []struct {
		name  string
		req   *pb.CompleteCheckoutRequest
		field string
	}{
		{"bad_session_id", &pb.CompleteCheckoutRequest{CheckoutSessionId: "not-a-uuid", OrderId: "o1", ChargeAmount: usd("14.00")}, "checkout_session_id"},
		{"missing_order", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, ChargeAmount: usd("14.00")}, "order_id"},
		{"order_with_space", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o 1", ChargeAmount: usd("14.00")}, "order_id"},
		{"missing_amount", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o1"}, "charge_amount"},
		{"one_decimal", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o1", ChargeAmount: usd("14.0")}, "charge_amount"},
		{"jpy_decimals", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o1", ChargeAmount: &pb.Money{Amount: "1000.00", CurrencyCode: "JPY"}}, "charge_amount"},
		{"unknown_currency", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o1", ChargeAmount: &pb.Money{Amount: "14.00", CurrencyCode: "XXX"}}, "charge_amount.currency_code"},
		{"zero", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o1", ChargeAmount: usd("0.00")}, "charge_amount"},
		{"negative", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o1", ChargeAmount: usd("-14.00")}, "charge_amount"},
		{"over_maximum", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o1", ChargeAmount: usd("150000.01")}, "charge_amount"},
		{"total_other_currency", &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o1", ChargeAmount: usd("14.00"), TotalOrderAmount: &pb.Money{Amount: "14.00", CurrencyCode: "EUR"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Client.CompleteCheckout(ctx, tt.req)
			code, reason, _, fields := errorInfo(t, err)
			if code != codes.InvalidArgument || reason != "INVALID_REQUEST" {
				t.Fatalf("got %v %q, want INVALID_ARGUMENT INVALID_REQUEST", code, reason)
			}
			if tt.field != "" && !contains(fields, tt.field) {
				t.Errorf("field violations %v lack %q", fields, tt.field)
			}
		})
	}
	if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 0 {
		t.Fatalf("invalid requests reached Amazon %d times", n)
	}
	if _, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}}); status.Code(err) != codes.NotFound {
		t.Fatalf("an invalid request was stored: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestConcurrentDuplicatesCompleteOnce(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", Scenario: "Authorized"})
	// A slow Amazon keeps the first call in flight while the others arrive.
	a.fault(t, "CompleteCheckoutSession", "latency", 1, 300*time.Millisecond)

	const n = 50
	var wg sync.WaitGroup
	results := make([]*pb.Payment, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-dup", ChargeAmount: usd("14.00")})
			results[i], errs[i] = resp.GetPayment(), err
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if results[i].GetOutcome() != pb.Outcome_OUTCOME_COMPLETED || results[i].GetChargeId() != results[0].GetChargeId() {
			t.Fatalf("call %d answered %s, call 0 %s", i, describe(results[i]), describe(results[0]))
		}
	}
	if got := a.calls(t, id)["CompleteCheckoutSession"]; got != 1 {
		t.Fatalf("%d duplicates reached Amazon %d times, want once", n, got)
	}
}

func TestCompleteThroughFaults(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	// The client gives up on an attempt after 1.5s (long enough that only
	// the timeout fault, not a busy machine, ends one) and tries 3 times.
	svc := startService(t, a, serviceOptions{AttemptTimeout: 1500 * time.Millisecond, MaxAttempts: 3})

	tests := []struct {
		name   string
		faults func(t testing.TB)
		// want is the first answer; final is what it settles to.
		want, final pb.Outcome
		// completes is how many Complete requests reach Amazon.
		completes int
	}{
		{"http500_then_success", func(t testing.TB) { a.fault(t, "CompleteCheckoutSession", "http500", 2, 0) },
			pb.Outcome_OUTCOME_COMPLETED, pb.Outcome_OUTCOME_COMPLETED, 3},
		{"http429_then_success", func(t testing.TB) { a.fault(t, "CompleteCheckoutSession", "http429", 2, 0) },
			pb.Outcome_OUTCOME_COMPLETED, pb.Outcome_OUTCOME_COMPLETED, 3},
		{"timeout_then_success", func(t testing.TB) { a.fault(t, "CompleteCheckoutSession", "timeout", 1, 0) },
			pb.Outcome_OUTCOME_COMPLETED, pb.Outcome_OUTCOME_COMPLETED, 2},
		{"reset_then_success", func(t testing.TB) { a.fault(t, "CompleteCheckoutSession", "reset", 1, 0) },
			pb.Outcome_OUTCOME_COMPLETED, pb.Outcome_OUTCOME_COMPLETED, 2},
		{"lost_response", func(t testing.TB) { a.fault(t, "CompleteCheckoutSession", "lostResponse", 1, 0) },
			pb.Outcome_OUTCOME_COMPLETED, pb.Outcome_OUTCOME_COMPLETED, 2},
		// Retries exhausted, and the session cannot be read either: the
		// answer is unknown and the reconciler settles it once Amazon is back.
		{"lost_responses_and_amazon_down", func(t testing.TB) {
			a.fault(t, "CompleteCheckoutSession", "lostResponse", 3, 0)
			a.fault(t, "GetCheckoutSession", "http503", 3, 0)
		}, pb.Outcome_OUTCOME_UNKNOWN, pb.Outcome_OUTCOME_COMPLETED, 3},
		// Amazon throttling every attempt: TestCompleteThrottled.
	}
	// Faults are global to the simulator: run the cases one after another.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			id := a.newSession(t, ctx, sessionSpec{Amount: "25.00", Scenario: "Authorized"})
			tt.faults(t)
			defer a.clearFaults(t)
			resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-" + tt.name, ChargeAmount: usd("25.00")})
			if err != nil {
				t.Fatalf("CompleteCheckout: %v", err)
			}
			if got := resp.GetPayment().GetOutcome(); got != tt.want {
				t.Fatalf("answered %s, want %s", describe(resp.GetPayment()), tt.want)
			}
			seen := waitFinal(t, svc.Client, id, 20*time.Second)
			if last := seen[len(seen)-1]; last.GetOutcome() != tt.final || last.GetChargeId() == "" {
				t.Fatalf("settled as %s, want %s", describe(last), tt.final)
			}
			if got := a.calls(t, id)["CompleteCheckoutSession"]; got != tt.completes {
				t.Errorf("Complete reached Amazon %d times, want %d", got, tt.completes)
			}
		})
	}
}

// TestStoredOutcomeNeverMovesBack checks forward-only outcomes through the
// API: once completed, no later answer changes the payment.
func TestStoredOutcomeNeverMovesBack(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "14.00", Scenario: "Authorized"})
	first, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-fwd", ChargeAmount: usd("14.00")})
	if err != nil {
		t.Fatal(err)
	}
	// The merchant cancels the charge at Amazon; the completed order stays
	// completed (the cancellation is a later business event, not a
	// checkout outcome).
	az := a.newClient(t, amazonpay.RetryPolicy{MaxAttempts: 1}, time.Second)
	if _, _, err := az.CancelCharge(ctx, first.GetPayment().GetChargeId(), amazonpay.CancelChargeRequest{CancellationReason: "test"}); err != nil {
		t.Fatal(err)
	}
	again, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-fwd", ChargeAmount: usd("14.00")})
	if err != nil || again.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("repeat after cancel: %v %v", err, again)
	}
	ch, err := svc.Client.GetCharge(ctx, &pb.GetChargeRequest{ChargeId: first.GetPayment().GetChargeId()})
	if err != nil || ch.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_CANCELED {
		t.Fatalf("GetCharge should show the live state: %v %v", err, ch)
	}
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{})
	ctx := context.Background()
	_, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "nope"}})
	if code, reason, _, _ := errorInfo(t, err); code != codes.NotFound || reason != "PAYMENT_NOT_FOUND" {
		t.Fatalf("GetPayment: %v %s", code, reason)
	}
	_, err = svc.Client.GetCharge(ctx, &pb.GetChargeRequest{ChargeId: "S01-0000000-0000000-C000000"})
	if code, reason, _, _ := errorInfo(t, err); code != codes.NotFound || reason != "CHARGE_NOT_FOUND" {
		t.Fatalf("GetCharge: %v %s", code, reason)
	}
	_, err = svc.Client.GetChargePermission(ctx, &pb.GetChargePermissionRequest{ChargePermissionId: "S01-0000000-0000000"})
	if code, reason, _, _ := errorInfo(t, err); code != codes.NotFound || reason != "CHARGE_PERMISSION_NOT_FOUND" {
		t.Fatalf("GetChargePermission: %v %s", code, reason)
	}
	stream, err := svc.Client.WatchPayment(ctx, &pb.WatchPaymentRequest{CheckoutSessionId: "bd504926-f659-4ad7-a1a9-9a747aaf5275"})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Fatalf("WatchPayment: %v", err)
	}
}
