package e2e_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// BenchmarkCompleteCheckoutLoad measures, in one run on the same cores:
//
//   - the rate at which this machine signs Amazon Pay requests (RSA-2048
//     PSS, all cores), the floor of every completion's cost;
//   - CompleteCheckout throughput at saturation through the whole service
//     (gRPC, validation, SQLite with durable commits, the signed call to the
//     simulator) and its ratio to the signing rate;
//   - p50/p99 latency of CompleteCheckout at a fixed 100 completions/s, and
//     of the same signed Complete sent straight to the simulator at the same
//     rate: the difference is what the service adds.
//
// Run it alone (it prepares a few thousand checkout sessions first):
//
//	go test -run '^$' -bench CompleteCheckoutLoad -benchtime 1x ./internal/e2e/
func BenchmarkCompleteCheckoutLoad(b *testing.B) {
	const (
		saturationSessions = 3000
		saturationWorkers  = 32
		rate               = 100
		rateSeconds        = 10
	)
	a := newAmazonSim(b, time.Second)
	svc := startService(b, a, serviceOptions{})
	ctx := context.Background()

	for b.Loop() {
		signRate := measureSigningRate(b, 2*time.Second)

		sessions := prepareSessions(b, a, saturationSessions)
		cpu0 := cpuTime()
		start := time.Now()
		runWorkers(b, saturationWorkers, sessions, func(id string) error {
			_, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "load", ChargeAmount: usd("10.00")})
			return err
		})
		elapsed := time.Since(start)
		throughput := float64(len(sessions)) / elapsed.Seconds()
		coresBusy := (cpuTime() - cpu0).Seconds() / elapsed.Seconds()

		viaService := prepareSessions(b, a, rate*rateSeconds)
		serviceLat := atFixedRate(b, rate, viaService, func(id string) error {
			_, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "load", ChargeAmount: usd("10.00")})
			return err
		})
		direct := prepareSessions(b, a, rate*rateSeconds)
		az := a.newClient(b, amazonpay.RetryPolicy{MaxAttempts: 1}, 10*time.Second)
		directLat := atFixedRate(b, rate, direct, func(id string) error {
			_, _, err := az.CompleteCheckoutSession(ctx, id, amazonpay.CompleteCheckoutSessionRequest{ChargeAmount: amazonpay.Price{Amount: "10.00", CurrencyCode: "USD"}})
			return err
		})

		b.ReportMetric(signRate, "signatures/s")
		b.ReportMetric(throughput, "completions/s")
		b.ReportMetric(throughput/signRate, "completions/signature")
		b.ReportMetric(coresBusy, "cores-busy-at-saturation")
		b.ReportMetric(ms(percentile(serviceLat, 50)), "service-p50-ms")
		b.ReportMetric(ms(percentile(serviceLat, 99)), "service-p99-ms")
		b.ReportMetric(ms(percentile(directLat, 50)), "simulator-p50-ms")
		b.ReportMetric(ms(percentile(directLat, 99)), "simulator-p99-ms")
		b.ReportMetric(ms(percentile(serviceLat, 99)-percentile(directLat, 99)), "added-p99-ms")
	}
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measureSigningRate signs on every core for d and returns signatures per
// second.
func measureSigningRate(b *testing.B, d time.Duration) float64 {
	key := simtest.Key()
	digest := sha256.Sum256([]byte("AMZN-PAY-RSASSA-PSS-V2\n0b6c19dc5bc1883ebd68d3c77ee929922c6b4a59e0a506d96c45e0c024c3295b"))
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}); err != nil {
					panic(err)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// prepareSessions creates n checkout sessions ready for completion.
func prepareSessions(b testing.TB, a *amazonSim, n int) []string {
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ids[i] = a.newSession(b, context.Background(), sessionSpec{Amount: "10.00", Scenario: "Authorized"})
			}
		}()
	}
	wg.Wait()
	return ids
}

// runWorkers calls fn for every id from workers goroutines.
func runWorkers(b *testing.B, workers int, ids []string, fn func(string) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				if err := fn(ids[i]); err != nil {
					failed.Store(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatalf("call failed: %v", err)
	}
}

// atFixedRate starts one call every 1/rate seconds (open loop, so a slow
// call does not slow the schedule) and returns each call's latency.
func atFixedRate(b *testing.B, rate int, ids []string, fn func(string) error) []time.Duration {
	lat := make([]time.Duration, len(ids))
	errs := make([]error, len(ids))
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i, id := range ids {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			errs[i] = fn(id)
			lat[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			b.Fatalf("call %d: %v", i, err)
		}
	}
	return lat
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := min(len(s)-1, (len(s)*p+99)/100-1)
	return s[max(i, 0)]
}
