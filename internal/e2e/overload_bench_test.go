package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// BenchmarkSlowAmazon is the benchmark of docs/benchmarks/overload.md: the
// service (the server binary, default settings but the limits named and no
// client-side limit of Amazon's quotas) under 10,000 concurrent
// CompleteCheckout calls while the simulator answers each Complete
// Checkout Session after 1 s.
//
// Phase 1, within the limits (MAX_COMPLETIONS_IN_FLIGHT=10000, the
// default): every call must answer COMPLETED. It reports the time until the
// last answer, the service's peak RSS (VmHWM) and GetPayment's latency on a
// settled payment for 2 s before the burst and, 100 a second, during it,
// with the time to a WatchPayment stream's first message (20 a second).
//
// Phase 2, at 4x the limit (a new service with
// MAX_COMPLETIONS_IN_FLIGHT=2500, the same 10,000 calls on new sessions):
// the excess must be refused with UNAVAILABLE OVERLOADED and a RetryInfo
// delay; it reports how many and how fast. Then, with Amazon still slow,
// the refused calls are retried at once, 2,000 at a time: all must
// complete, and none of the 10,000 sessions may have received other than
// exactly one Complete call (the simulator's call counts). GetPayment's
// latency for 2 s after that shows the service back to normal.
//
// Everything runs on loopback. OVERLOAD_CALLS changes the number of calls
// (the limits scale with it); OVERLOAD_SERVER_ENV adds server settings;
// OVERLOAD_LOG_DIR keeps the servers' logs; OVERLOAD_PROFILE_DIR writes heap
// and goroutine profiles taken 3 s into phase 1.
//
//	go test -run '^$' -bench SlowAmazon -benchtime 1x -timeout 30m ./internal/e2e/
func BenchmarkSlowAmazon(b *testing.B) {
	calls := 10_000
	if v, err := strconv.Atoi(os.Getenv("OVERLOAD_CALLS")); err == nil && v > 0 {
		calls = v
	}
	a := newAmazonSim(b, time.Second)
	keyFile := filepath.Join(b.TempDir(), "key.pem")
	writeKey(b, keyFile, a.Key)
	bin := filepath.Join(b.TempDir(), "server")
	if out, err := exec.Command("go", "build", "-o", bin, "../../server").CombinedOutput(); err != nil {
		b.Fatalf("go build ./server: %v\n%s", err, out)
	}
	for b.Loop() {
		// Phase 1: within the limits.
		svc := startLimitedServer(b, bin, keyFile, a, calls)
		settled := prepareSessions(b, a, 1)[0]
		if _, err := svc.complete(context.Background(), settled); err != nil {
			b.Fatal(err)
		}
		sessions := prepareSessions(b, a, calls)
		idle := svc.readFor(b, settled, 2*time.Second)
		a.fault(b, "CompleteCheckoutSession", "latency", calls, time.Second)
		start := time.Now()
		if dir := os.Getenv("OVERLOAD_PROFILE_DIR"); dir != "" {
			go svc.profiles(b, dir, 3*time.Second)
		}
		results, reads, watches := svc.burst(b, sessions, settled)
		elapsed := time.Since(start)
		completed := 0
		for i, r := range results {
			if r.err != nil || r.outcome != pb.Outcome_OUTCOME_COMPLETED {
				b.Fatalf("phase 1 call %d: %v %v", i, r.outcome, r.err)
			}
			completed++
		}
		assertOneCompleteEach(b, a, sessions)
		rss := svc.peakRSS(b)
		svc.stop()
		b.Logf("phase 1: GetPayment before the burst p50 %.1f p99 %.1f max %.1f ms (%d calls)",
			ms(percentile(idle, 50)), ms(percentile(idle, 99)), ms(percentile(idle, 100)), len(idle))
		b.Logf("phase 1: %d calls, all COMPLETED in %v; peak RSS %.0f MiB; GetPayment p50 %.1f p99 %.1f max %.1f ms (%d calls); WatchPayment first message p50 %.1f p99 %.1f max %.1f ms (%d streams)",
			completed, elapsed.Round(time.Millisecond), rss, ms(percentile(reads, 50)), ms(percentile(reads, 99)), ms(percentile(reads, 100)), len(reads),
			ms(percentile(watches, 50)), ms(percentile(watches, 99)), ms(percentile(watches, 100)), len(watches))
		b.ReportMetric(ms(percentile(idle, 99)), "getpayment-idle-p99-ms")
		b.ReportMetric(elapsed.Seconds(), "phase1-s")
		b.ReportMetric(rss, "peak-rss-MiB")
		b.ReportMetric(ms(percentile(reads, 99)), "getpayment-p99-ms")
		b.ReportMetric(ms(percentile(watches, 99)), "watch-first-p99-ms")

		// Phase 2: the same load at 4x the limit.
		a.clearFaults(b)
		limit := calls / 4
		svc = startLimitedServer(b, bin, keyFile, a, limit)
		settled = prepareSessions(b, a, 1)[0]
		if _, err := svc.complete(context.Background(), settled); err != nil {
			b.Fatal(err)
		}
		sessions = prepareSessions(b, a, calls)
		a.fault(b, "CompleteCheckoutSession", "latency", calls, time.Second)
		start = time.Now()
		results, reads, _ = svc.burst(b, sessions, settled)
		elapsed = time.Since(start)
		var refused []string
		var refusalLat []time.Duration
		var delays []time.Duration
		completed = 0
		for i, r := range results {
			switch {
			case r.err == nil && r.outcome == pb.Outcome_OUTCOME_COMPLETED:
				completed++
			case status.Code(r.err) == codes.Unavailable:
				_, reason, _, _ := errorInfo(b, r.err)
				d := retryDelay(r.err)
				if reason != "OVERLOADED" || d <= 0 {
					b.Fatalf("phase 2 call %d: %v (reason %s, retry delay %v)", i, r.err, reason, d)
				}
				refused = append(refused, sessions[i])
				refusalLat = append(refusalLat, r.latency)
				delays = append(delays, d)
			default:
				b.Fatalf("phase 2 call %d: %v %v", i, r.outcome, r.err)
			}
		}
		// The load is over; Amazon Pay is still slow. Retry every refused
		// call at once, below the limit.
		retryStart := time.Now()
		var retryFailed atomic.Value
		var first atomic.Int64
		var wg sync.WaitGroup
		sem := make(chan struct{}, limit*4/5)
		for _, id := range refused {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				t0 := time.Now()
				resp, err := svc.complete(context.Background(), id)
				if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
					retryFailed.Store(fmt.Errorf("retry of %s: %v %v", id, resp.GetPayment().GetOutcome(), err))
				}
				first.CompareAndSwap(0, int64(time.Since(t0)))
			})
		}
		wg.Wait()
		if err := retryFailed.Load(); err != nil {
			b.Fatal(err)
		}
		retryElapsed := time.Since(retryStart)
		after := svc.readFor(b, settled, 2*time.Second)
		assertOneCompleteEach(b, a, sessions)
		rss = svc.peakRSS(b)
		svc.stop()
		a.clearFaults(b)
		b.Logf("phase 2 (limit %d): %d COMPLETED, %d refused with OVERLOADED in %v; refusal latency p50 %.1f p99 %.1f max %.1f ms; RetryInfo delay p50 %.0f ms (min %.0f, max %.0f); GetPayment p99 %.1f ms; peak RSS %.0f MiB",
			limit, completed, len(refused), elapsed.Round(time.Millisecond),
			ms(percentile(refusalLat, 50)), ms(percentile(refusalLat, 99)), ms(percentile(refusalLat, 100)),
			ms(percentile(delays, 50)), ms(percentile(delays, 0)), ms(percentile(delays, 100)), ms(percentile(reads, 99)), rss)
		b.Logf("phase 2 retries: %d refused calls retried at once, %d at a time: all COMPLETED in %v, the first in %v; every one of the %d sessions has exactly one Complete call",
			len(refused), cap(sem), retryElapsed.Round(time.Millisecond), time.Duration(first.Load()).Round(time.Millisecond), len(sessions))
		b.Logf("phase 2 after the load: GetPayment p50 %.1f p99 %.1f max %.1f ms (%d calls)",
			ms(percentile(after, 50)), ms(percentile(after, 99)), ms(percentile(after, 100)), len(after))
		b.ReportMetric(float64(len(refused)), "refused")
		b.ReportMetric(ms(percentile(refusalLat, 99)), "refusal-p99-ms")
		b.ReportMetric(retryElapsed.Seconds(), "retries-s")
	}
}

// limitedServer is a server process of BenchmarkSlowAmazon.
type limitedServer struct {
	cmd       *exec.Cmd
	debugAddr string
	conns     []*grpc.ClientConn
	next      atomic.Int64
	done      bool
}

// startLimitedServer runs bin against the simulator with
// MAX_COMPLETIONS_IN_FLIGHT=limit and the other settings at their defaults
// (a fresh data directory, SQLite) but for Amazon's quotas, and waits until
// it is SERVING.
func startLimitedServer(b *testing.B, bin, keyFile string, a *amazonSim, limit int) *limitedServer {
	b.Helper()
	dir := b.TempDir()
	addr := freeAddr(b)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"LISTEN_ADDR="+addr,
		"DATA_DIR="+filepath.Join(dir, "data"),
		"AMAZON_PAY_PUBLIC_KEY_ID="+a.KeyID,
		"AMAZON_PAY_PRIVATE_KEY_FILE="+keyFile,
		"AMAZON_PAY_REGION=na",
		"AMAZON_PAY_ENDPOINT="+a.URL,
		"LOG_LEVEL=warn",
		"MAX_COMPLETIONS_IN_FLIGHT="+strconv.Itoa(limit),
		// The simulator does not throttle, and 10,000 completions at once
		// are far beyond Amazon's live quota: no client-side limit of it,
		// so that the burst measures the service's own limits.
		"AMAZON_PAY_RATE_LIMITS=off",
	)
	// OVERLOAD_SERVER_ENV adds settings (space-separated NAME=value).
	cmd.Env = append(cmd.Env, strings.Fields(os.Getenv("OVERLOAD_SERVER_ENV"))...)
	s := &limitedServer{}
	if os.Getenv("OVERLOAD_PROFILE_DIR") != "" {
		s.debugAddr = freeAddr(b)
		cmd.Env = append(cmd.Env, "DEBUG_ADDR="+s.debugAddr)
	}
	logDir := dir
	if v := os.Getenv("OVERLOAD_LOG_DIR"); v != "" {
		logDir = v // kept after the benchmark
	}
	logs, err := os.Create(filepath.Join(logDir, fmt.Sprintf("server-%d.log", limit)))
	if err != nil {
		b.Fatal(err)
	}
	defer logs.Close()
	cmd.Stdout, cmd.Stderr = logs, logs
	// The server dies with the benchmark, even one killed before its
	// cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s.cmd = cmd
	b.Cleanup(s.stop)
	// Several connections, as several storefront backends would have.
	for range 8 {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		s.conns = append(s.conns, conn)
	}
	health := healthpb.NewHealthClient(s.conns[0])
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return s
		}
	}
	b.Fatal("server did not become healthy within 30s")
	return nil
}

// profiles writes the server's heap and goroutine profiles to dir after
// the delay (OVERLOAD_PROFILE_DIR), for go tool pprof.
func (s *limitedServer) profiles(b *testing.B, dir string, after time.Duration) {
	time.Sleep(after)
	for _, p := range []string{"heap", "goroutine", "heap?debug=1"} {
		resp, err := http.Get("http://" + s.debugAddr + "/debug/pprof/" + p)
		if err != nil {
			b.Errorf("profile %s: %v", p, err)
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(p, "?", "-")+".pprof"), data, 0o644); err != nil {
			b.Error(err)
		}
	}
}

func (s *limitedServer) client() pb.PaymentCompletionServiceClient {
	return pb.NewPaymentCompletionServiceClient(s.conns[int(s.next.Add(1))%len(s.conns)])
}

func (s *limitedServer) complete(ctx context.Context, id string) (*pb.CompleteCheckoutResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return s.client().CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "order-slow", ChargeAmount: usd("10.00")})
}

type burstResult struct {
	outcome pb.Outcome
	err     error
	latency time.Duration
}

// burst sends one CompleteCheckout per session, all at once, and meanwhile
// reads the settled payment (GetPayment, 100 a second; WatchPayment, 20 a
// second) until every call has answered. It returns each call's result and
// the latencies of the reads and of the watches' first messages.
func (s *limitedServer) burst(b *testing.B, sessions []string, settled string) ([]burstResult, []time.Duration, []time.Duration) {
	b.Helper()
	results := make([]burstResult, len(sessions))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, id := range sessions {
		wg.Go(func() {
			<-gate
			t0 := time.Now()
			resp, err := s.complete(context.Background(), id)
			results[i] = burstResult{resp.GetPayment().GetOutcome(), err, time.Since(t0)}
		})
	}
	stop := make(chan struct{})
	var reads, watches []time.Duration
	var probes sync.WaitGroup
	probe := func(every time.Duration, out *[]time.Duration, fn func(context.Context) error) {
		probes.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			var mu sync.Mutex
			var inner sync.WaitGroup
			defer inner.Wait()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				inner.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					t0 := time.Now()
					if err := fn(ctx); err != nil {
						b.Errorf("read during the burst: %v", err)
						return
					}
					mu.Lock()
					*out = append(*out, time.Since(t0))
					mu.Unlock()
				})
			}
		})
	}
	probe(10*time.Millisecond, &reads, func(ctx context.Context) error {
		_, err := s.client().GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: settled}})
		return err
	})
	probe(50*time.Millisecond, &watches, func(ctx context.Context) error {
		st, err := s.client().WatchPayment(ctx, &pb.WatchPaymentRequest{CheckoutSessionId: settled})
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	})
	close(gate)
	wg.Wait()
	close(stop)
	probes.Wait()
	return results, reads, watches
}

// readFor calls GetPayment on the settled payment 100 times a second for
// d, one call after another, and returns the latencies.
func (s *limitedServer) readFor(b *testing.B, settled string, d time.Duration) []time.Duration {
	b.Helper()
	var lat []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		t0 := time.Now()
		if _, err := s.client().GetPayment(context.Background(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: settled}}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat
}

// peakRSS reads the process's peak resident set (VmHWM), in MiB.
func (s *limitedServer) peakRSS(b *testing.B) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

func (s *limitedServer) stop() {
	if s.done {
		return
	}
	s.done = true
	for _, c := range s.conns {
		_ = c.Close()
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// assertOneCompleteEach checks that the simulator received exactly one
// Complete Checkout Session call for every session.
func assertOneCompleteEach(b *testing.B, a *amazonSim, sessions []string) {
	b.Helper()
	var bad atomic.Int64
	runWorkers(b, 16, sessions, func(id string) error {
		if n := a.calls(b, id)["CompleteCheckoutSession"]; n != 1 {
			bad.Add(1)
			return fmt.Errorf("session %s: %d Complete calls, want 1", id, n)
		}
		return nil
	})
}
