package e2e_test

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
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

// Environment of the helper processes the pinned benchmark starts from this
// test binary.
const (
	envRole    = "LOADTEST_ROLE"     // "sign" or "service"
	envKeyFile = "LOADTEST_KEY_FILE" // PEM private key shared with the simulator
	envSimURL  = "LOADTEST_SIM_URL"  // simulator base URL
	envKeyID   = "LOADTEST_KEY_ID"
)

// BenchmarkCompleteCheckoutPinned is the load benchmark whose figures are
// recorded in docs/benchmarks/completion.md. Unlike
// BenchmarkCompleteCheckoutLoad it keeps the service apart from what it
// talks to:
//
//   - the service runs as its own process on CPU 0 alone with GOMAXPROCS=1
//     (by default this test binary assembling the same packages as the
//     server; with LOADTEST_SERVICE=server, the server binary built from
//     ./server);
//   - the signing rate is measured in its own process on CPU 0 with
//     GOMAXPROCS=1, through amazonpay.Signer (RSA-2048, PSS), just before
//     the load;
//   - this process, holding the simulator and the load generator, is pinned
//     to CPU 1 with GOMAXPROCS=1.
//
// So "completions/signature" compares the service's throughput with the
// signing rate of exactly the core it had. Everything listens on loopback,
// and every process stops when the benchmark ends.
//
//	go test -run '^$' -bench CompleteCheckoutPinned -benchtime 1x ./internal/e2e/
func BenchmarkCompleteCheckoutPinned(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("needs two CPUs")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.Skip("needs taskset")
	}
	const (
		saturationSessions = 4000
		rate               = 100
		rateSeconds        = 10
	)
	saturationWorkers := 32
	if v, err := strconv.Atoi(os.Getenv("LOADTEST_WORKERS")); err == nil && v > 0 {
		saturationWorkers = v
	}
	if err := pinProcess(loadCPU); err != nil {
		b.Fatalf("pin to CPU %d: %v", loadCPU, err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	a := newAmazonSim(b, time.Second)
	keyFile := filepath.Join(b.TempDir(), "key.pem")
	writeKey(b, keyFile, a.Key)
	env := []string{envKeyFile + "=" + keyFile, envSimURL + "=" + a.URL, envKeyID + "=" + a.KeyID}

	ctx := context.Background()
	for b.Loop() {
		signRate := runSigner(b, env)
		svcPID, addr := startPinnedService(b, env, keyFile, a)
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		client := pb.NewPaymentCompletionServiceClient(conn)

		sessions := prepareSessions(b, a, saturationSessions)
		// Warm up connections and the service's pools.
		runWorkers(b, saturationWorkers, sessions[:200], func(id string) error {
			_, err := client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "load", ChargeAmount: usd("10.00")})
			return err
		})
		sessions = sessions[200:]
		svcCPU0, selfCPU0, stat0 := processCPU(b, svcPID), cpuTime(), readCPUStat(b)
		start := time.Now()
		runWorkers(b, saturationWorkers, sessions, func(id string) error {
			_, err := client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "load", ChargeAmount: usd("10.00")})
			return err
		})
		elapsed := time.Since(start)
		throughput := float64(len(sessions)) / elapsed.Seconds()
		svcBusy := (processCPU(b, svcPID) - svcCPU0).Seconds() / elapsed.Seconds()
		loadBusy := (cpuTime() - selfCPU0).Seconds() / elapsed.Seconds()
		stat1 := readCPUStat(b)

		viaService := prepareSessions(b, a, rate*rateSeconds)
		direct := prepareSessions(b, a, rate*rateSeconds)
		serviceLat := atFixedRate(b, rate, viaService, func(id string) error {
			_, err := client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "load", ChargeAmount: usd("10.00")})
			return err
		})
		az := a.newClient(b, amazonpay.RetryPolicy{MaxAttempts: 1}, 10*time.Second)
		directLat := atFixedRate(b, rate, direct, func(id string) error {
			_, _, err := az.CompleteCheckoutSession(ctx, id, amazonpay.CompleteCheckoutSessionRequest{ChargeAmount: amazonpay.Price{Amount: "10.00", CurrencyCode: "USD"}})
			return err
		})

		b.ReportMetric(signRate, "signatures/s")
		b.ReportMetric(throughput, "completions/s")
		b.ReportMetric(throughput/signRate, "completions/signature")
		b.ReportMetric(svcBusy, "service-cores-busy")
		b.ReportMetric(loadBusy, "load-cores-busy")
		b.ReportMetric(stat1.busySince(stat0, serviceCPU), "cpu0-busy")
		b.ReportMetric(stat1.busySince(stat0, loadCPU), "cpu1-busy")
		b.ReportMetric(ms(percentile(serviceLat, 50)), "service-p50-ms")
		b.ReportMetric(ms(percentile(serviceLat, 99)), "service-p99-ms")
		b.ReportMetric(ms(percentile(directLat, 50)), "simulator-p50-ms")
		b.ReportMetric(ms(percentile(directLat, 99)), "simulator-p99-ms")
		b.ReportMetric(ms(percentile(serviceLat, 99)-percentile(directLat, 99)), "added-p99-ms")
	}
}

// TestLoadHelperProcess is not a test: BenchmarkCompleteCheckoutPinned runs
// this test binary again with LOADTEST_ROLE set to measure the signing rate
// or to serve, each in its own pinned process.
func TestLoadHelperProcess(t *testing.T) {
	role := os.Getenv(envRole)
	if role == "" {
		t.Skip("helper process of BenchmarkCompleteCheckoutPinned")
	}
	key := readKey(t, os.Getenv(envKeyFile))
	switch role {
	case "sign":
		signer, err := amazonpay.NewSigner(os.Getenv(envKeyID), key, amazonpay.AlgorithmV2)
		if err != nil {
			t.Fatal(err)
		}
		const d = 3 * time.Second
		n := 0
		toSign := amazonpay.StringToSign(amazonpay.AlgorithmV2, "POST\n/v2/checkoutSessions/x/complete\n\n")
		for deadline := time.Now().Add(d); time.Now().Before(deadline); n++ {
			if _, err := signer.Sign(toSign); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Printf("signatures/s %f\n", float64(n)/d.Seconds())
	case "service":
		a := &amazonSim{t: t, URL: os.Getenv(envSimURL), KeyID: os.Getenv(envKeyID), Key: key}
		svc := startService(t, a, serviceOptions{})
		if path := os.Getenv("LOADTEST_CPUPROFILE"); path != "" {
			// Profiles the whole run of the service (for go tool pprof).
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
			defer pprof.StopCPUProfile()
		}
		fmt.Printf("listening %s\n", svc.Addr)
		// Serve until the benchmark closes stdin.
		_, _ = io.Copy(io.Discard, os.Stdin)
	default:
		t.Fatalf("unknown %s %q", envRole, role)
	}
}

// runSigner measures the signing rate in a helper process on serviceCPU.
func runSigner(b *testing.B, env []string) float64 {
	b.Helper()
	cmd := pinnedHelper(b, "sign", env)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("signing helper: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "signatures/s "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatalf("signing helper printed no rate:\n%s", out)
	return 0
}

// pinnedHelper is this test binary run as a helper on serviceCPU alone.
func pinnedHelper(b *testing.B, role string, env []string) *exec.Cmd {
	cmd := exec.Command("taskset", "-c", strconv.Itoa(serviceCPU), os.Args[0],
		"-test.run=^TestLoadHelperProcess$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), append(env, envRole+"="+role, "GOMAXPROCS="+helperProcs(role))...)
	cmd.Stderr = os.Stderr
	return cmd
}

// startPinnedService starts the service on serviceCPU and returns its
// process ID and gRPC address once it serves. It is stopped when the
// benchmark ends.
func startPinnedService(b *testing.B, env []string, keyFile string, a *amazonSim) (int, string) {
	b.Helper()
	if os.Getenv("LOADTEST_SERVICE") == "server" {
		return startServerBinary(b, keyFile, a)
	}
	cmd := pinnedHelper(b, "service", env)
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
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return cmd.Process.Pid, addr
		}
	}
	b.Fatalf("service helper exited before serving: %v", sc.Err())
	return 0, ""
}

// startServerBinary builds ./server and runs it on serviceCPU against the
// simulator, waiting (at most 30s) until its health service says SERVING.
func startServerBinary(b *testing.B, keyFile string, a *amazonSim) (int, string) {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", bin, "../../server")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build ./server: %v\n%s", err, out)
	}
	addr := freeAddr(b)
	cmd := exec.Command("taskset", "-c", strconv.Itoa(serviceCPU), bin)
	cmd.Env = append(os.Environ(),
		"GOMAXPROCS=1",
		"LISTEN_ADDR="+addr,
		"DATA_DIR="+filepath.Join(dir, "data"),
		"LOG_LEVEL=warn",
		"AMAZON_PAY_PUBLIC_KEY_ID="+a.KeyID,
		"AMAZON_PAY_PRIVATE_KEY_FILE="+keyFile,
		"AMAZON_PAY_REGION=na",
		"AMAZON_PAY_ENDPOINT="+a.URL,
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
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
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return cmd.Process.Pid, addr
		}
	}
	b.Fatal("server did not become healthy within 30s")
	return 0, ""
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

// helperProcs is the GOMAXPROCS of a helper: 1, unless
// LOADTEST_SERVICE_GOMAXPROCS overrides it for the service (to study the
// runtime's behaviour on one core; the recorded figures use 1).
func helperProcs(role string) string {
	if v := os.Getenv("LOADTEST_SERVICE_GOMAXPROCS"); role == "service" && v != "" {
		return v
	}
	return "1"
}
