package e2e_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/logtest"
)

// The server binary, built once for the tests that run it as a process (to
// kill it, restart it, or run several replicas), in buildDir, which TestMain
// removes.
var (
	buildOnce   sync.Once
	buildDir    string
	serverPath  string
	buildErr    error
	buildOutput []byte
)

// TestMain removes the built server binary after the tests and benchmarks,
// so that a run leaves nothing in the temporary directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		if err := os.RemoveAll(buildDir); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: remove the server binary: %v\n", err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

func serverBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the server binary; skipped with -short")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "paymentcompletion-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		serverPath = filepath.Join(dir, "server")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-race", "-o", serverPath, "./server")
		cmd.Dir = root
		buildOutput, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build server: %v\n%s", buildErr, buildOutput)
	}
	return serverPath
}

// proc is one running server process.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	Addr   string
	Client pb.PaymentCompletionServiceClient
	conn   *grpc.ClientConn
	out    *logtest.Buffer
	exited chan struct{}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeKeyFile writes the simulator's key as a PKCS#8 PEM file, as an
// operator would for the service.
func (a *amazonSim) writeKeyFile(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(a.Key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "private.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serverEnv is the environment of a server process that talks to a.
func (a *amazonSim) serverEnv(t testing.TB, databaseURL string) map[string]string {
	return map[string]string{
		"AMAZON_PAY_PUBLIC_KEY_ID":    a.KeyID,
		"AMAZON_PAY_PRIVATE_KEY_FILE": a.writeKeyFile(t),
		"AMAZON_PAY_REGION":           "na",
		"AMAZON_PAY_ENDPOINT":         a.URL,
		"DATABASE_URL":                databaseURL,
		"DATA_DIR":                    t.TempDir(),
		"RECONCILE_FIRST_DELAY":       "200ms",
		"TRACKER_FIRST_POLL":          "300ms",
		"TRACKER_MAX_INTERVAL":        "1s",
		"COMPLETION_INFLIGHT_LEASE":   "3s",
		"COMPLETION_UPSTREAM_TIMEOUT": "2500ms",
		"TRACKER_LEASE":               "3s",
		"SHUTDOWN_GRACE":              "2s",
		"LOG_LEVEL":                   "warn",
	}
}

// startProc starts the server with env and waits until its health check
// answers SERVING.
func startProc(t testing.TB, env map[string]string) *proc {
	t.Helper()
	return startProcWith(t, env, insecure.NewCredentials())
}

// startProcWith is startProc connecting with creds (e.g. TLS).
func startProcWith(t testing.TB, env map[string]string, creds credentials.TransportCredentials) *proc {
	t.Helper()
	p := launchProc(t, env, creds)
	health := healthpb.NewHealthClient(p.conn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("server exited before serving:\n%s", p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not serving after 60s (last: %v %v):\n%s", resp, err, p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// launchProc starts the server binary with env on a free address and
// connects with creds, without waiting for it to serve.
func launchProc(t testing.TB, env map[string]string, creds credentials.TransportCredentials) *proc {
	t.Helper()
	bin := serverBinary(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "LISTEN_ADDR="+addr)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{t: t, cmd: cmd, Addr: addr, out: &logtest.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("server %s output:\n%s", addr, p.output())
		}
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	p.conn, p.Client = conn, pb.NewPaymentCompletionServiceClient(conn)
	return p
}

func (p *proc) output() string {
	return p.out.String()
}

// kill ends the process abruptly, as a crash or an OOM kill would.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// stop asks the process to shut down gracefully and waits for its exit.
func (p *proc) stop(t testing.TB, within time.Duration) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("server exited with %d after SIGTERM:\n%s", code, p.output())
		}
	case <-time.After(within):
		t.Errorf("server still running %v after SIGTERM", within)
		p.kill()
	}
}

// waitCalls waits until the simulator has received n calls of op for a
// session.
func (a *amazonSim) waitCalls(t testing.TB, id, op string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for a.calls(t, id)[op] < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s reached Amazon %d times after %v, want %d", op, a.calls(t, id)[op], within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sqliteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "payments.db")
}

// TestCrashBetweenUpstreamCallAndWrite kills the server after Amazon Pay
// completed the checkout but before the service heard back, then starts it
// again: the attempt recorded before the call is reconciled from the
// session, without completing twice.
func TestCrashBetweenUpstreamCallAndWrite(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	env := a.serverEnv(t, sqliteURL(t))
	srv := startProc(t, env)
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "42.00", Scenario: "Authorized"})
	a.fault(t, "CompleteCheckoutSession", "slowResponse", 1, 30*time.Second)

	errc := make(chan error, 1)
	go func() {
		_, err := srv.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-crash", ChargeAmount: usd("42.00")})
		errc <- err
	}()
	a.waitCalls(t, id, "CompleteCheckoutSession", 1, 20*time.Second)
	srv.kill()
	if err := <-errc; err == nil {
		t.Fatal("the call succeeded although the server was killed")
	}
	a.clearFaults(t)

	srv2 := startProc(t, env)
	got, err := srv2.Client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: id}})
	if err != nil {
		t.Fatalf("the attempt was not kept across the crash: %v", err)
	}
	if o := got.GetPayment().GetOutcome(); o != pb.Outcome_OUTCOME_UNKNOWN && o != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("after restart: %s", describe(got.GetPayment()))
	}
	seen := waitFinal(t, srv2.Client, id, 30*time.Second)
	if last := seen[len(seen)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED || last.GetChargeId() == "" {
		t.Fatalf("reconciled as %s", describe(last))
	}
	if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 1 {
		t.Fatalf("Complete reached Amazon %d times, want 1", n)
	}
	// A storefront retry now gets the stored answer.
	resp, err := srv2.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-crash", ChargeAmount: usd("42.00")})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("retry after recovery: %v %v", err, resp)
	}
	srv2.stop(t, 10*time.Second)
}

// TestRestartRecoversUnappliedAttempt kills the server while Amazon Pay has
// not applied the completion yet (the request hangs); after the restart the
// reconciler finds the session open and ready and completes it.
func TestRestartRecoversUnappliedAttempt(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	env := a.serverEnv(t, sqliteURL(t))
	srv := startProc(t, env)
	ctx := t.Context()
	id := a.newSession(t, ctx, sessionSpec{Amount: "42.00", Scenario: "Authorized"})
	a.fault(t, "CompleteCheckoutSession", "timeout", 1, 0)
	go func() {
		_, _ = srv.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-restart", ChargeAmount: usd("42.00")})
	}()
	a.waitCalls(t, id, "CompleteCheckoutSession", 1, 20*time.Second)
	srv.kill()

	srv2 := startProc(t, env)
	seen := waitFinal(t, srv2.Client, id, 30*time.Second)
	if last := seen[len(seen)-1]; last.GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("reconciled as %s", describe(last))
	}
	if n := a.calls(t, id)["CompleteCheckoutSession"]; n != 2 {
		t.Fatalf("Complete reached Amazon %d times, want 2 (one hung, one applied)", n)
	}
}
