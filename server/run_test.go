package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/datadir"
	"github.com/paymentcompletion/paymentcompletion/internal/datadir/datadirtest"
	"github.com/paymentcompletion/paymentcompletion/internal/logtest"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startRun runs the server with args and env until stop is called or the
// test ends; stop returns what run returned, which must be nil by the
// test's end.
func startRun(t *testing.T, args []string, env map[string]string) (logs *logtest.Buffer, stop func() error) {
	t.Helper()
	cfg, err := parseConfig(args, envOf(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	logs = &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, logs) }()
	stop = sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run: %v\n%s", err, logs)
		}
	})
	return logs, stop
}

// TestRun starts the real server on a loopback port, checks that it serves
// through the whole chain, and that cancelling its context stops it cleanly.
func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, debugAddr := freeAddr(t), freeAddr(t)
	logs, stop := startRun(t, []string{"-listen-addr", addr, "-data-dir", filepath.Join(dir, "data"), "-auth-token-file", tokenFile,
		"-simulator-addr", "127.0.0.1:0", "-debug-addr", debugAddr}, nil)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The listener accepts before the first readiness check (the store and
	// Amazon Pay's answer to the credentials) is done; "serving" is logged
	// after it.
	logs.WaitFor(t, "serving")
	resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", resp, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Errorf("data dir not created: %v", err)
	}

	client := pb.NewPaymentCompletionServiceClient(conn)
	req := &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "order-1"}}
	if _, err := client.GetPayment(t.Context(), req); status.Code(err) != codes.Unauthenticated {
		t.Errorf("without token: %v, want Unauthenticated", err)
	}
	authed := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer tok-123")
	if _, err := client.GetPayment(authed, req); status.Code(err) != codes.NotFound {
		t.Errorf("with token: %v, want NotFound (no payment stored yet)", err)
	}

	// The debug listener serves the runtime's profiles, and nothing else.
	for path, want := range map[string]int{"/debug/pprof/": http.StatusOK, "/debug/pprof/heap?debug=1": http.StatusOK, "/": http.StatusNotFound} {
		r, err := http.Get("http://" + debugAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_ = r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, r.StatusCode, want)
		}
	}

	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := http.Get("http://" + debugAddr + "/debug/pprof/"); err == nil {
		t.Error("debug listener still serving after shutdown")
	}
	out := logs.String()
	for _, want := range []string{`"msg":"starting"`, `"listen_addr":"` + addr + `"`, `"msg":"serving"`, `"msg":"stopped"`, `"version":"`, `"commit":"`, `"go_version":"go1.`, `"msg":"tracing"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tok-123") {
		t.Error("token logged")
	}
}

func TestRunFailsOnBadSetup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Closed only after the parallel subtests have run.
	t.Cleanup(func() { _ = busy.Close() })
	readOnly := datadirtest.ReadOnlyDir(t)
	held := filepath.Join(dir, "held")
	lock, err := datadir.Lock(held)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Release() })
	inUse := "address already in use (another process listens there, probably another server, or an earlier one still running"
	// Two settings of this server on one port: the error names both.
	shared, sharedToo := freeAddr(t), freeAddr(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"missing_token_file", []string{"-auth-token-file", filepath.Join(dir, "nope")}, []string{"AUTH_TOKEN_FILE"}},
		{"empty_token_file", []string{"-auth-token-file", empty}, []string{"AUTH_TOKEN_FILE"}},
		{"port_in_use", []string{"-listen-addr", busy.Addr().String()}, []string{"LISTEN_ADDR", "-listen-addr", inUse}},
		{"debug_port_in_use", []string{"-debug-addr", busy.Addr().String()}, []string{"DEBUG_ADDR", "-debug-addr", inUse}},
		{"simulator_port_in_use", []string{"-simulator-addr", busy.Addr().String()}, []string{"SIMULATOR_ADDR", "-simulator-addr", inUse}},
		{"ipn_and_simulator_on_one_port", []string{"-ipn-addr", shared, "-simulator-addr", shared},
			[]string{"SIMULATOR_ADDR (-simulator-addr)", "address already in use (this server's own IPN_ADDR (-ipn-addr) is " + shared + ": give one of the two another port)"}},
		{"grpc_and_metrics_on_one_port", []string{"-listen-addr", sharedToo, "-metrics-addr", sharedToo},
			[]string{"METRICS_ADDR (-metrics-addr)", "this server's own LISTEN_ADDR (-listen-addr) is " + sharedToo}},
		{"read_only_data_dir", []string{"-data-dir", readOnly}, []string{"DATA_DIR", readOnly, "not writable"}},
		{"data_dir_in_use", []string{"-data-dir", held}, []string{"DATA_DIR", held, "another server (PID " + strconv.Itoa(os.Getpid()) + ")"}},
		{"missing_callers_file", []string{"-auth-callers-file", filepath.Join(dir, "nope.json")}, []string{"AUTH_CALLERS_FILE"}},
		{"invalid_callers_file", []string{"-auth-callers-file", empty}, []string{"AUTH_CALLERS_FILE"}},
		{"missing_tls_files", []string{"-tls-cert-file", filepath.Join(dir, "c.pem"), "-tls-key-file", filepath.Join(dir, "k.pem")}, []string{"TLS_CERT_FILE", "c.pem"}},
		{"tls_key_not_a_key", []string{"-tls-cert-file", empty, "-tls-key-file", empty}, []string{"TLS_KEY_FILE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseConfig(append([]string{"-data-dir", t.TempDir(), "-listen-addr", "127.0.0.1:0", "-simulator-addr", "127.0.0.1:0", "-embedded-simulator=true"}, tt.args...), envOf(nil), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			// A setup that is wrongly accepted serves until the timeout.
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			err = run(ctx, cfg, &bytes.Buffer{})
			if err == nil {
				t.Fatalf("run served, want an error naming %q", tt.want)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("run = %v, want an error naming %q", err, want)
				}
			}
		})
	}
}

// TestRunEmbeddedSimulatorSettings starts the server with a manual clock
// and sandbox quotas for its embedded simulator, and advances that clock
// over the simulator's control API, as a storefront's tests would.
func TestRunEmbeddedSimulatorSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	logs, stop := startRun(t, []string{"-listen-addr", addr, "-data-dir", dir, "-simulator-addr", "127.0.0.1:0"},
		map[string]string{"SIMULATOR_CLOCK": "manual", "SIMULATOR_THROTTLE": "sandbox"})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"simulator_url":"([^"]+)"`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no simulator_url logged:\n%s", logs)
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "simulator", "simulator-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	get := func(path string) map[string]any {
		t.Helper()
		r, err := hc.Get(m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil || r.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, r.StatusCode, err)
		}
		return v
	}
	if h := get("/simulator/healthz"); h["clock"] != "manual" || h["throttle"] != "sandbox" {
		t.Errorf("healthz %v", h)
	}
	before := get("/simulator/clock")["now"].(string)
	r, err := hc.Post(m[1]+"/simulator/clock", "application/json", strings.NewReader(`{"advance":"25h"}`))
	if err != nil {
		t.Fatal(err)
	}
	var after map[string]any
	if err := json.NewDecoder(r.Body).Decode(&after); err != nil || r.StatusCode != 200 {
		t.Fatalf("advance: %d %v", r.StatusCode, err)
	}
	r.Body.Close()
	t0, _ := time.Parse("20060102T150405Z", before)
	t1, _ := time.Parse("20060102T150405Z", after["now"].(string))
	if d := t1.Sub(t0); d < 25*time.Hour || d > 25*time.Hour+time.Minute {
		t.Errorf("clock moved by %v, want 25h", d)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
