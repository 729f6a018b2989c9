package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// TestOverloadRefusesAtOnce sends 500 concurrent completions to a service
// that serves 100 at once, while Amazon Pay answers each Complete after 1 s:
// the calls beyond the limit are refused with UNAVAILABLE, reason
// OVERLOADED and a RetryInfo delay, having recorded nothing and sent
// nothing to Amazon Pay; GetPayment keeps answering from the store
// meanwhile; and once the load is over every refused call succeeds when
// retried, each session completed by exactly one Complete call.
func TestOverloadRefusesAtOnce(t *testing.T) {
	t.Parallel()
	const (
		calls = 500
		limit = 100
	)
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{MaxInFlight: limit})
	ctx := context.Background()
	complete := func(ctx context.Context, id string) (*pb.CompleteCheckoutResponse, error) {
		return svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "order-load", ChargeAmount: usd("10.00")})
	}
	sessions := prepareSessions(t, a, calls+1)
	done, sessions := sessions[0], sessions[1:]
	if _, err := complete(ctx, done); err != nil {
		t.Fatal(err)
	}
	a.fault(t, "CompleteCheckoutSession", "latency", calls, time.Second)

	type result struct {
		outcome pb.Outcome
		err     error
	}
	results := make([]result, calls)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, id := range sessions {
		wg.Go(func() {
			<-start
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			resp, err := complete(cctx, id)
			results[i] = result{resp.GetPayment().GetOutcome(), err}
		})
	}
	reads := make(chan error, 1)
	go func() {
		// Reads do not need Amazon Pay and are not limited with it.
		var err error
		for range 20 {
			if _, err = svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: done}}); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		reads <- err
	}()
	close(start)
	wg.Wait()
	if err := <-reads; err != nil {
		t.Errorf("GetPayment during the load: %v", err)
	}

	var refused []string
	completed := 0
	for i, r := range results {
		id := sessions[i]
		switch {
		case r.err == nil && r.outcome == pb.Outcome_OUTCOME_COMPLETED:
			completed++
			if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 1 {
				t.Errorf("completed session %s: %d Complete calls, want 1", id, n)
			}
		case r.err != nil:
			code, reason, _, _ := errorInfo(t, r.err)
			delay := retryDelay(r.err)
			if code != codes.Unavailable || reason != "OVERLOADED" || delay <= 0 {
				t.Errorf("call %d: %v (reason %s, retry delay %v); want UNAVAILABLE OVERLOADED with a retry delay", i, r.err, reason, delay)
				continue
			}
			refused = append(refused, id)
			if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 0 {
				t.Errorf("refused session %s reached Amazon Pay %d times", id, n)
			}
			if _, err := svc.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}}); status.Code(err) != codes.NotFound {
				t.Errorf("refused session %s: GetPayment = %v, want NOT_FOUND (nothing recorded)", id, err)
			}
		default:
			t.Errorf("call %d answered %v", i, r.outcome)
		}
	}
	t.Logf("%d completed, %d refused", completed, len(refused))
	if len(refused) == 0 || completed < limit {
		t.Fatalf("%d completed and %d refused; want the limit (%d) served and the rest refused", completed, len(refused), limit)
	}

	// The load is over: the retries go through, at once.
	a.clearFaults(t)
	for _, id := range refused {
		resp, err := complete(ctx, id)
		if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
			t.Fatalf("retry of %s: %v %v", id, resp.GetPayment().GetOutcome(), err)
		}
		if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 1 {
			t.Errorf("retried session %s: %d Complete calls, want 1", id, n)
		}
	}
}

// retryDelay returns the google.rpc.RetryInfo delay of a status error, 0
// when it has none.
func retryDelay(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}
