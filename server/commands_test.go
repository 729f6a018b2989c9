package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/paymentcompletion/paymentcompletion/internal/store/storetest"
)

// command runs the subcommand args with env and returns its status and
// output.
func command(t *testing.T, args []string, env map[string]string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code, ok := subcommand(t.Context(), args, envOf(env), &out, &out)
	if !ok {
		t.Fatalf("%v is no subcommand", args)
	}
	return code, out.String()
}

// TestMigrateCommand, on SQLite and PostgreSQL: status lists every
// migration pending (exit 3) on a new database; a server with
// MIGRATE_AT_START=false refuses it naming the command; migrate up applies
// them; then status is current and that server starts.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	for _, tt := range storetest.Engines() {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DATABASE_URL": tt.URL(t)}
			code, out := command(t, []string{"migrate", "status"}, env)
			if code != exitBehind || !strings.Contains(out, "pending  0001_payments.sql") || strings.Contains(out, "applied ") {
				t.Fatalf("status of a new database: exit %d\n%s", code, out)
			}

			args := []string{"-data-dir", t.TempDir(), "-listen-addr", "127.0.0.1:0", "-simulator-addr", "127.0.0.1:0",
				"-embedded-simulator=true", "-migrate-at-start=false"}
			cfg, err := parseConfig(args, envOf(env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := run(ctx, cfg, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "MIGRATE_AT_START") || !strings.Contains(err.Error(), "server migrate up") {
				t.Fatalf("start on a schema behind with MIGRATE_AT_START=false: %v, want a refusal naming the setting and the command", err)
			}

			code, out = command(t, []string{"migrate", "up"}, env)
			if code != exitOK || !strings.Contains(out, "applied 0001_payments.sql") {
				t.Fatalf("migrate up: exit %d\n%s", code, out)
			}
			code, out = command(t, []string{"migrate", "status"}, env)
			if code != exitOK || strings.Contains(out, "pending") || !strings.Contains(out, "schema current") {
				t.Fatalf("status after up: exit %d\n%s", code, out)
			}
			code, out = command(t, []string{"migrate", "up"}, env)
			if code != exitOK || strings.Contains(out, "applied 0") {
				t.Fatalf("second up: exit %d\n%s", code, out)
			}
			addr := freeAddr(t)
			args[3] = addr
			startRun(t, args, env)
			waitHealth(t, addr)
		})
	}
}

// waitHealth waits until the server at addr answers readiness SERVING.
func waitHealth(t *testing.T, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The listener accepts before the first readiness check is done:
	// NOT_SERVING until then.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "readiness"}, grpc.WaitForReady(true))
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health = %v, %v; want SERVING within 30s", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMigrateCommandUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"migrate"}, {"migrate", "down"}, {"migrate", "up", "-database-url", "mysql://x"}} {
		if code, out := command(t, args, nil); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, out)
		}
	}
}

// TestHealthcheckCommand asks a running server, over gRPC (no
// METRICS_ADDR) and over HTTP (/readyz, /livez), and a server that is not
// there.
func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	startRun(t, []string{"-listen-addr", addr, "-data-dir", filepath.Join(dir, "data"), "-simulator-addr", "127.0.0.1:0",
		"-metrics-addr", metricsAddr}, nil)
	waitHealth(t, addr)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"grpc_readiness", []string{"healthcheck", "-listen-addr", addr}, exitOK, "readiness SERVING"},
		{"grpc_wildcard_host", []string{"healthcheck", "liveness", "-listen-addr", "0.0.0.0:" + port, "-allow-plaintext"}, exitOK, "liveness SERVING"},
		{"http_readiness", []string{"healthcheck", "readiness", "-metrics-addr", metricsAddr}, exitOK, "readiness SERVING"},
		{"http_liveness", []string{"healthcheck", "liveness", "-metrics-addr", metricsAddr}, exitOK, "liveness SERVING"},
		{"nobody_there", []string{"healthcheck", "-listen-addr", freeAddr(t)}, exitFailed, "LISTEN_ADDR"},
		{"nobody_there_http", []string{"healthcheck", "-metrics-addr", freeAddr(t)}, exitFailed, "METRICS_ADDR"},
		{"tls_without_metrics", []string{"healthcheck", "-tls-cert-file", "c.pem", "-tls-key-file", "k.pem"}, exitUsage, "METRICS_ADDR"},
		{"unknown_probe", []string{"healthcheck", "startup"}, exitUsage, "Usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if code, out := command(t, tt.args, nil); code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tt.code, tt.want, out)
			}
		})
	}
}

func TestLocalAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		":50051":          "127.0.0.1:50051",
		"0.0.0.0:50051":   "127.0.0.1:50051",
		"[::]:50051":      "[::1]:50051",
		"10.0.0.7:50051":  "10.0.0.7:50051",
		"127.0.0.1:9090":  "127.0.0.1:9090",
		"localhost:50051": "localhost:50051",
	} {
		if got := localAddr(in); got != want {
			t.Errorf("localAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
