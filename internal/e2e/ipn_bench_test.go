package e2e_test

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
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
