package e2e_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/amazongate"
)

// BenchmarkThrottledCompletions: 50 checkout sessions whose Complete
// Checkout Session calls Amazon Pay throttles (429, no Retry-After) for 10 s
// while the storefront retries each of them every second. It reports how
// many Complete calls reached Amazon Pay (the simulator's call counts,
// throttled ones included) during the throttling and in all, against the
// configured limit (Amazon's live quota, 4/s with a burst of 20), and checks
// that every session completes exactly once after the throttling ends. The
// "unlimited" run is the same without the client-side limit, for
// comparison.
//
//	go test -run '^$' -bench ThrottledCompletions -benchtime 1x ./internal/e2e/
func BenchmarkThrottledCompletions(b *testing.B) {
	const (
		sessions      = 50
		throttleFor   = 10 * time.Second
		retryInterval = time.Second
	)
	for _, tc := range []struct {
		name  string
		rates amazongate.Rates
	}{
		{"live_quota", amazongate.Rates{}},
		{"unlimited", amazongate.Rates{Off: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				a := newAmazonSim(b, time.Second)
				svc := startService(b, a, serviceOptions{AmazonRates: &tc.rates})
				ctx := context.Background()
				ids := make([]string, sessions)
				for i := range ids {
					ids[i] = a.newSession(b, ctx, sessionSpec{Amount: "25.00", Scenario: "Authorized"})
				}
				completes := func() int {
					n := 0
					for _, id := range ids {
						n += a.calls(b, id)["CompleteCheckoutSession"]
					}
					return n
				}
				a.fault(b, "CompleteCheckoutSession", "http429", 1_000_000, 0)

				start := time.Now()
				var (
					wg          sync.WaitGroup
					mu          sync.Mutex
					answers     = map[codes.Code]int{}
					completedAt = make([]time.Duration, sessions)
					charges     = make([]string, sessions)
					failures    []string
				)
				for i, id := range ids {
					wg.Go(func() {
						req := &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: fmt.Sprintf("o-%d", i), ChargeAmount: usd("25.00")}
						for next := start; time.Since(start) < throttleFor+60*time.Second; next = next.Add(retryInterval) {
							time.Sleep(time.Until(next))
							cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
							resp, err := svc.Client.CompleteCheckout(cctx, req)
							cancel()
							mu.Lock()
							answers[status.Code(err)]++
							mu.Unlock()
							if err != nil {
								continue
							}
							mu.Lock()
							if o := resp.GetPayment().GetOutcome(); o != pb.Outcome_OUTCOME_COMPLETED {
								failures = append(failures, fmt.Sprintf("%s answered %s", id, describe(resp.GetPayment())))
							}
							completedAt[i], charges[i] = time.Since(start), resp.GetPayment().GetChargeId()
							mu.Unlock()
							return
						}
						mu.Lock()
						failures = append(failures, id+" never completed")
						mu.Unlock()
					})
				}
				time.Sleep(time.Until(start.Add(throttleFor)))
				a.clearFaults(b)
				during := completes()
				wg.Wait()
				elapsed := time.Since(start)
				total := completes()
				for _, f := range failures {
					b.Error(f)
				}
				// Exactly once: Amazon's session is Completed with the one
				// charge the storefront was told about, and nothing waits.
				az := a.newClient(b, amazonpay.RetryPolicy{MaxAttempts: 1}, 5*time.Second)
				last := time.Duration(0)
				for i, id := range ids {
					sess, _, err := az.GetCheckoutSession(ctx, id)
					if err != nil || sess.StatusDetails.State != "Completed" || sess.ChargeID != charges[i] {
						b.Errorf("%s: %v at Amazon, charge %q; the storefront was told %q", id, err, sess.ChargeID, charges[i])
					}
					last = max(last, completedAt[i])
				}
				limitDuring := 20 + 4*throttleFor.Seconds()
				b.ReportMetric(float64(during), "completes_during_throttling")
				b.ReportMetric(limitDuring, "limit_during_throttling")
				b.ReportMetric(float64(total), "completes_total")
				b.ReportMetric(20+4*elapsed.Seconds(), "limit_total")
				b.ReportMetric((last - throttleFor).Seconds(), "s_to_all_completed_after_throttling")
				b.ReportMetric(float64(answers[codes.Unavailable]), "unavailable_answers")
				b.Logf("%s: %d Complete calls reached Amazon during %v of throttling (limit %v), %d in all over %v (limit %.0f); answers %v; last completion %v after the throttling ended",
					tc.name, during, throttleFor, limitDuring, total, elapsed.Round(time.Millisecond), 20+4*elapsed.Seconds(), answers, (last - throttleFor).Round(time.Millisecond))
				if tc.name == "live_quota" && (float64(during) > limitDuring || float64(total) > 20+4*elapsed.Seconds()) {
					b.Errorf("Amazon received %d Complete calls in %v of throttling and %d in %v: above the limit", during, throttleFor, total, elapsed)
				}
			}
		})
	}
}
