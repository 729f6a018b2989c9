package e2e_test

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// Cores of the pinned benchmark: the service (and the signing-rate
// measurement) get serviceCPU alone; the simulator and the load generator
// share loadCPU.
const (
	serviceCPU = 0
	loadCPU    = 1
)

// Environment of the signing helper process the pinned benchmark starts
// from this test binary.
const (
	envRole    = "LOADTEST_ROLE"     // "sign"
	envKeyFile = "LOADTEST_KEY_FILE" // PEM private key shared with the simulator
	envKeyID   = "LOADTEST_KEY_ID"
)

// BenchmarkCompleteCheckoutPinned is the load benchmark whose figures are
// recorded in docs/benchmarks/completion.md. It keeps the service apart
// from what it talks to:
//
//   - the service is the server binary built from ./server, run on CPU 0
//     alone (it sets GOMAXPROCS to 2 itself) with its default SQLite store
//     and log level, against the simulator;
//   - the signing rate is measured on CPU 0 too, by a helper process signing
//     through amazonpay.Signer (RSA-2048, PSS), while the service idles;
//   - this process, holding the simulator and the load generator, is pinned
//     to CPU 1 with GOMAXPROCS=1.
//
// This machine's speed drifts over seconds (it is a shared virtual machine),
// so the two rates are measured in alternating windows: five rounds of
// signing for 1.5 s, then 700 completions from 32 concurrent callers. Each
// round gives a ratio; the benchmark reports the median round's ratio and the
// ratio of the totals. Latency is measured the same way: five rounds of 2 s
// of CompleteCheckout at 100/s through the service, then 2 s of the same
// signed Complete Checkout Session call sent straight to the simulator at
// 100/s; "added-p99-ms" is the difference of the two p99s over all rounds.
//
// LOADTEST_CPUPROFILE=file adds a 10 s saturation phase at the end, profiled
// through the server's DEBUG_ADDR, and writes the profile to file (for go
// tool pprof); LOADTEST_TRACE=file writes a 2 s execution trace of the server
// at 100 completions/s (for go tool trace). LOADTEST_WORKERS changes the number of concurrent callers;
// LOADTEST_SERVER_LOG=file keeps the server's log; LOADTEST_SERVER_ENV adds
// server settings (NAME=value ...); LOADTEST_ROUNDS changes the number of
// rounds.
// Everything listens on loopback, and every process stops when the benchmark
// ends.
//
//	go test -run '^$' -bench CompleteCheckoutPinned -benchtime 1x ./internal/e2e/
func BenchmarkCompleteCheckoutPinned(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("needs two CPUs")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.Skip("needs taskset")
	}
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("LOADTEST_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	const (
		warmup          = 300
		perRound        = 700
		signWindow      = 1500 * time.Millisecond
		rate            = 100
		latencyPerRound = 2 * rate // 2 s at 100/s
	)
	workers := 32
	if v, err := strconv.Atoi(os.Getenv("LOADTEST_WORKERS")); err == nil && v > 0 {
		workers = v
	}
	if err := pinProcess(loadCPU); err != nil {
		b.Fatalf("pin to CPU %d: %v", loadCPU, err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	a := newAmazonSim(b, time.Second)
	keyFile := filepath.Join(b.TempDir(), "key.pem")
	writeKey(b, keyFile, a.Key)
	profile := os.Getenv("LOADTEST_CPUPROFILE")

	ctx := context.Background()
	for b.Loop() {
		signer := startSigner(b, keyFile, a.KeyID)
		trace := os.Getenv("LOADTEST_TRACE")
		svc := startPinnedServer(b, keyFile, a, profile != "" || trace != "")
		complete := func(id string) error {
			_, err := svc.client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "load", ChargeAmount: usd("10.00")})
			return err
		}
		az := a.newClient(b, amazonpay.RetryPolicy{MaxAttempts: 1}, 10*time.Second)
		completeDirect := func(id string) error {
			_, _, err := az.CompleteCheckoutSession(ctx, id, amazonpay.CompleteCheckoutSessionRequest{ChargeAmount: amazonpay.Price{Amount: "10.00", CurrencyCode: "USD"}})
			return err
		}

		sessions := prepareSessions(b, a, warmup+rounds*perRound)
		// Warm up connections, pools and the service's heap.
		runWorkers(b, workers, sessions[:warmup], complete)
		sessions = sessions[warmup:]

		var (
			ratios                  []float64
			signed, completed       float64 // totals: signatures, completions
			signTime, completeTime  time.Duration
			svcCPU                  time.Duration
			busy0, busy1, statTotal float64
		)
		for r := range rounds {
			signRate := signer.measure(b, signWindow)
			batch := sessions[r*perRound : (r+1)*perRound]
			cpu0, st0 := processCPU(b, svc.pid), readCPUStat(b)
			start := time.Now()
			runWorkers(b, workers, batch, complete)
			elapsed := time.Since(start)
			svcCPU += processCPU(b, svc.pid) - cpu0
			st1 := readCPUStat(b)
			busy0 += st1.busySince(st0, serviceCPU) * elapsed.Seconds()
			busy1 += st1.busySince(st0, loadCPU) * elapsed.Seconds()
			statTotal += elapsed.Seconds()

			ratios = append(ratios, float64(len(batch))/elapsed.Seconds()/signRate)
			signed += signRate * signWindow.Seconds()
			signTime += signWindow
			completed += float64(len(batch))
			completeTime += elapsed
		}

		var serviceLat, directLat []time.Duration
		if trace != "" {
			done := svc.fetch(b, "trace?seconds=2", trace)
			atFixedRate(b, rate, prepareSessions(b, a, 250), complete)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		for r := range rounds {
			sl := atFixedRate(b, rate, prepareSessions(b, a, latencyPerRound), complete)
			dl := atFixedRate(b, rate, prepareSessions(b, a, latencyPerRound), completeDirect)
			b.Logf("latency round %d: service p50 %.2f p99 %.2f max %.2f ms, simulator p50 %.2f p99 %.2f max %.2f ms", r+1,
				ms(percentile(sl, 50)), ms(percentile(sl, 99)), ms(percentile(sl, 100)),
				ms(percentile(dl, 50)), ms(percentile(dl, 99)), ms(percentile(dl, 100)))
			serviceLat, directLat = append(serviceLat, sl...), append(directLat, dl...)
		}

		if profile != "" {
			// Sessions for more than 10 s at saturation, prepared first so
			// that the service is busy throughout the profile.
			more := prepareSessions(b, a, 20*perRound)
			done := svc.fetch(b, "profile?seconds=10", profile)
			start, profiled := time.Now(), 0
			for len(done) == 0 && len(more) > 0 {
				n := min(len(more), 200)
				runWorkers(b, workers, more[:n], complete)
				more, profiled = more[n:], profiled+n
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			// With the profile's time in signing, this gives the service's
			// own signing speed.
			b.Logf("profile: %d completions in %v", profiled, time.Since(start).Round(time.Millisecond))
		}

		slices.Sort(ratios)
		signRate := signed / signTime.Seconds()
		throughput := completed / completeTime.Seconds()
		b.ReportMetric(signRate, "signatures/s")
		b.ReportMetric(throughput, "completions/s")
		b.ReportMetric(throughput/signRate, "completions/signature")
		b.ReportMetric(ratios[len(ratios)/2], "median-round-ratio")
		b.ReportMetric(ratios[0], "lowest-round-ratio")
		b.ReportMetric(svcCPU.Seconds()/completeTime.Seconds(), "service-cores-busy")
		b.ReportMetric(busy0/statTotal, "cpu0-busy")
		b.ReportMetric(busy1/statTotal, "cpu1-busy")
		b.ReportMetric(ms(percentile(serviceLat, 50)), "service-p50-ms")
		b.ReportMetric(ms(percentile(serviceLat, 99)), "service-p99-ms")
		b.ReportMetric(ms(percentile(directLat, 50)), "simulator-p50-ms")
		b.ReportMetric(ms(percentile(directLat, 99)), "simulator-p99-ms")
		b.ReportMetric(ms(percentile(serviceLat, 99)-percentile(directLat, 99)), "added-p99-ms")
	}
}

// TestLoadHelperProcess is not a test: BenchmarkCompleteCheckoutPinned runs
// this test binary again with LOADTEST_ROLE=sign to measure the signing
// rate in its own pinned process. For each duration read from stdin it signs
// for that long through amazonpay.Signer and prints the rate.
func TestLoadHelperProcess(t *testing.T) {
	if os.Getenv(envRole) != "sign" {
		t.Skip("helper process of BenchmarkCompleteCheckoutPinned")
	}
	key := readKey(t, os.Getenv(envKeyFile))
	signer, err := amazonpay.NewSigner(os.Getenv(envKeyID), key, amazonpay.AlgorithmV2)
	if err != nil {
		t.Fatal(err)
	}
	toSign := amazonpay.StringToSign(amazonpay.AlgorithmV2, "POST\n/v2/checkoutSessions/x/complete\n\n")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		d, err := time.ParseDuration(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		n := 0
		for deadline := start.Add(d); time.Now().Before(deadline); n++ {
			if _, err := signer.Sign(toSign); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Printf("signatures/s %f\n", float64(n)/time.Since(start).Seconds())
	}
}

// signerProc is the signing helper, waiting on stdin for the next window.
type signerProc struct {
	in  io.Writer
	out *bufio.Scanner
}

// startSigner starts the signing helper on serviceCPU alone with
// GOMAXPROCS=1; it exits when the benchmark ends.
func startSigner(b *testing.B, keyFile, keyID string) *signerProc {
	b.Helper()
	cmd := exec.Command("taskset", "-c", strconv.Itoa(serviceCPU), os.Args[0],
		"-test.run=^TestLoadHelperProcess$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), envRole+"=sign", envKeyFile+"="+keyFile, envKeyID+"="+keyID, "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	return &signerProc{in: stdin, out: bufio.NewScanner(stdout)}
}

// measure has the helper sign for d and returns its rate.
func (s *signerProc) measure(b *testing.B, d time.Duration) float64 {
	b.Helper()
	if _, err := fmt.Fprintln(s.in, d); err != nil {
		b.Fatal(err)
	}
	for s.out.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(s.out.Text()), "signatures/s "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatalf("signing helper stopped: %v", s.out.Err())
	return 0
}

// pinnedServer is the server binary running on serviceCPU.
type pinnedServer struct {
	pid       int
	client    pb.PaymentCompletionServiceClient
	debugAddr string
}

// startPinnedServer builds ./server and runs it on serviceCPU alone against
// the simulator, with its defaults except the Amazon Pay settings, waiting
// (at most 30s) until its health service says SERVING. Its logs (JSON, at
// the default level) go to a file, as a deployment would ship them. With
// debug, it serves profiles on a loopback DEBUG_ADDR. It is stopped when the
// benchmark ends.
func startPinnedServer(b *testing.B, keyFile string, a *amazonSim, debug bool) *pinnedServer {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", bin, "../../server")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build ./server: %v\n%s", err, out)
	}
	addr := freeAddr(b)
	s := &pinnedServer{}
	cmd := exec.Command("taskset", "-c", strconv.Itoa(serviceCPU), bin)
	cmd.Env = append(os.Environ(),
		"LISTEN_ADDR="+addr,
		"DATA_DIR="+filepath.Join(dir, "data"),
		"AMAZON_PAY_PUBLIC_KEY_ID="+a.KeyID,
		"AMAZON_PAY_PRIVATE_KEY_FILE="+keyFile,
		"AMAZON_PAY_REGION=na",
		"AMAZON_PAY_ENDPOINT="+a.URL,
		// The simulator does not throttle, and the benchmark measures the
		// service's own cost: no client-side limit of Amazon's quotas.
		"AMAZON_PAY_RATE_LIMITS=off",
	)
	// LOADTEST_SERVER_ENV adds settings (space-separated NAME=value).
	cmd.Env = append(cmd.Env, strings.Fields(os.Getenv("LOADTEST_SERVER_ENV"))...)
	if debug {
		s.debugAddr = freeAddr(b)
		cmd.Env = append(cmd.Env, "DEBUG_ADDR="+s.debugAddr)
	}
	logPath := filepath.Join(dir, "server.log")
	if v := os.Getenv("LOADTEST_SERVER_LOG"); v != "" {
		logPath = v
	}
	logs, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logs.Close()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	health := healthpb.NewHealthClient(conn)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			s.pid, s.client = cmd.Process.Pid, pb.NewPaymentCompletionServiceClient(conn)
			return s
		}
	}
	b.Fatal("server did not become healthy within 30s")
	return nil
}

// fetch starts fetching the server's /debug/pprof/ endpoint (a CPU
// profile or an execution trace, taken while the caller runs load) into the
// file path; the channel receives the outcome when it is written.
func (s *pinnedServer) fetch(b *testing.B, endpoint, path string) <-chan error {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			defer f.Close()
			resp, err := http.Get("http://" + s.debugAddr + "/debug/pprof/" + endpoint)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", endpoint, resp.Status)
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				return err
			}
			return f.Close()
		}()
	}()
	return done
}

// pinProcess sets the CPU affinity of every thread of this process to cpu;
// threads started later inherit it from the thread that starts them.
func pinProcess(cpu int) error {
	var mask [16]uint64
	mask[cpu/64] = 1 << (cpu % 64)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask[0])))
		if errno != 0 && errno != syscall.ESRCH {
			return fmt.Errorf("thread %d: %w", tid, errno)
		}
	}
	return nil
}

// processCPU is the CPU time (user and system) process pid has used.
func processCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 14th and 15th fields of the line.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

func writeKey(b *testing.B, path string, key *rsa.PrivateKey) {
	b.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
}

func readKey(t testing.TB, path string) *rsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("%s: not an RSA key", path)
	}
	return key
}

// cpuStat holds the busy and total jiffies of each CPU from /proc/stat.
type cpuStat struct{ busy, total []int64 }

func readCPUStat(b *testing.B) cpuStat {
	b.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	var st cpuStat
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var total, idle int64
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
			if i == 3 || i == 4 { // idle, iowait
				idle += n
			}
		}
		st.busy = append(st.busy, total-idle)
		st.total = append(st.total, total)
	}
	return st
}

// busySince is the share of time CPU cpu was busy between prev and st.
func (st cpuStat) busySince(prev cpuStat, cpu int) float64 {
	if cpu >= len(st.total) || cpu >= len(prev.total) || st.total[cpu] == prev.total[cpu] {
		return 0
	}
	return float64(st.busy[cpu]-prev.busy[cpu]) / float64(st.total[cpu]-prev.total[cpu])
}
