package e2e_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeopen"
)

// BenchmarkIPNSettlement measures how soon a pending authorization the
// simulator decides is settled in the store and reaches a WatchPayment
// stream, when the tracker's first poll is an hour away (so only the
// notification explains the result). Each iteration completes
// ipnBenchPayments checkouts at ipnBenchRate per second; the decision time
// is the Timestamp of the simulator's CHARGE notification (milliseconds),
// captured by an endpoint of the benchmark's own.
func BenchmarkIPNSettlement(b *testing.B) {
	const (
		ipnBenchPayments = 300
		ipnBenchRate     = 25
	)
	a, srv := newAmazonSimTLS(b, 2*time.Second)
	svc := startIPNService(b, a, srv)
	cap := newCapture(b)
	if _, err := a.sim.AddNotificationEndpoint(cap.srv.URL+"/ipn", "", "1"); err != nil {
		b.Fatal(err)
	}
	var toStore, toWatch []time.Duration
	for b.Loop() {
		type result struct {
			session, charge string
			watched         time.Time
		}
		results := make([]result, ipnBenchPayments)
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / ipnBenchRate)
		for i := range results {
			<-tick.C
			p := completePending(b, a, svc, "PendingThenAuthorized")
			results[i].session, results[i].charge = p.GetCheckoutSessionId(), p.GetChargeId()
			recv := startWatch(b, svc.Client, p.GetCheckoutSessionId(), 60*time.Second)
			wg.Go(func() {
				seen := recv()
				if last := seen[len(seen)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
					b.Errorf("settled as %s", describe(last))
				}
				results[i].watched = time.Now()
			})
		}
		tick.Stop()
		wg.Wait()
		decided := map[string]time.Time{}
		cap.mu.Lock()
		for _, body := range cap.bodies {
			var env, msg map[string]string
			if json.Unmarshal(body, &env) != nil || json.Unmarshal([]byte(env["Message"]), &msg) != nil || msg["ObjectType"] != "CHARGE" {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, env["Timestamp"])
			if err != nil {
				b.Fatal(err)
			}
			if d, ok := decided[msg["ObjectId"]]; !ok || at.Before(d) {
				decided[msg["ObjectId"]] = at
			}
		}
		cap.bodies = nil
		cap.mu.Unlock()
		for _, r := range results {
			at, ok := decided[r.charge]
			if !ok {
				b.Fatalf("no notification of charge %s", r.charge)
			}
			p, err := svc.Store.Get(b.Context(), r.session)
			if err != nil || p.SettleTime.IsZero() {
				b.Fatalf("payment %s: %+v, %v", r.session, p, err)
			}
			toStore = append(toStore, p.SettleTime.Sub(at))
			toWatch = append(toWatch, r.watched.Sub(at))
		}
	}
	pct := func(ds []time.Duration, q float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(toStore)), "payments")
	b.ReportMetric(pct(toStore, 0.50), "store-p50-ms")
	b.ReportMetric(pct(toStore, 0.99), "store-p99-ms")
	b.ReportMetric(pct(toWatch, 0.50), "watch-p50-ms")
	b.ReportMetric(pct(toWatch, 0.99), "watch-p99-ms")
	b.ReportMetric(pct(toWatch, 1), "watch-max-ms")
}

// BenchmarkIPNRefundSettlement is BenchmarkIPNSettlement for refunds: each
// iteration refunds ipnBenchRefunds captured charges at ipnBenchRate per
// second, each decided by the simulator 2 s later; the decision time is
// the Timestamp of its REFUND notification, the stored time the refund
// operation's UpdateTime when it was recorded done. The service's first
// look at a pending refund is an hour away.
func BenchmarkIPNRefundSettlement(b *testing.B) {
	const (
		ipnBenchRefunds = 100
		ipnBenchRate    = 25
	)
	a, srv := newAmazonSimTLS(b, 2*time.Second)
	dbURL := "sqlite:" + filepath.Join(b.TempDir(), "payments.db")
	opts := serviceOptions{TrackerFirstPoll: time.Hour, DatabaseURL: dbURL, IPN: ipnConfigFor(srv)}
	svc := startService(b, a, opts)
	if _, err := a.sim.AddNotificationEndpoint(svc.IPNURL, "", "2"); err != nil {
		b.Fatal(err)
	}
	cap := newCapture(b)
	if _, err := a.sim.AddNotificationEndpoint(cap.srv.URL+"/ipn", "", "1"); err != nil {
		b.Fatal(err)
	}
	reader, err := storeopen.Open(b.Context(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer reader.Close()
	ops := reader.(store.Operations)
	var toStore []time.Duration
	for b.Loop() {
		type refund struct{ op, refundID string }
		refunds := make([]refund, ipnBenchRefunds)
		tick := time.NewTicker(time.Second / ipnBenchRate)
		for i := range refunds {
			<-tick.C
			order := fmt.Sprintf("order-bench-refund-%d-%d", len(toStore), i)
			p := completeOrderB(b, a, svc, order)
			resp, err := svc.Client.RefundCharge(b.Context(), &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("4.00"), IdempotencyKey: "cm"})
			if err != nil {
				b.Fatal(err)
			}
			refunds[i] = refund{op: chargeops.OperationID(payment.OpRefund, p.GetChargeId(), "cm"), refundID: resp.GetRefund().GetRefundId()}
		}
		tick.Stop()
		deadline := time.Now().Add(30 * time.Second)
		decided := map[string]time.Time{}
		for _, r := range refunds {
			for {
				op, err := ops.GetOperation(b.Context(), r.op)
				if err != nil {
					b.Fatal(err)
				}
				if op.State == payment.OpDone {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("refund %s not settled", r.refundID)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		cap.mu.Lock()
		for _, body := range cap.bodies {
			var env, msg map[string]string
			if json.Unmarshal(body, &env) != nil || json.Unmarshal([]byte(env["Message"]), &msg) != nil || msg["ObjectType"] != "REFUND" {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, env["Timestamp"])
			if err != nil {
				b.Fatal(err)
			}
			decided[msg["ObjectId"]] = at
		}
		cap.bodies = nil
		cap.mu.Unlock()
		for _, r := range refunds {
			at, ok := decided[r.refundID]
			if !ok {
				b.Fatalf("no notification of refund %s", r.refundID)
			}
			op, err := ops.GetOperation(b.Context(), r.op)
			if err != nil {
				b.Fatal(err)
			}
			toStore = append(toStore, op.UpdateTime.Sub(at))
		}
	}
	slices.Sort(toStore)
	at := func(q float64) float64 {
		return float64(toStore[min(len(toStore)-1, int(q*float64(len(toStore))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(toStore)), "refunds")
	b.ReportMetric(at(0.50), "store-p50-ms")
	b.ReportMetric(at(0.99), "store-p99-ms")
	b.ReportMetric(at(1), "store-max-ms")
}

// completeOrderB completes an order whose charge is captured at once.
func completeOrderB(b *testing.B, a *amazonSim, svc *service, order string) *pb.Payment {
	b.Helper()
	id := a.newSession(b, b.Context(), sessionSpec{Amount: "40.00", Intent: "AuthorizeWithCapture", Scenario: "Authorized"})
	resp, err := svc.Client.CompleteCheckout(b.Context(), &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: order, ChargeAmount: usd("40.00")})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		b.Fatalf("CompleteCheckout = %v, %v", resp, err)
	}
	return resp.GetPayment()
}
