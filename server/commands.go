package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeopen"
)

// Exit statuses of the subcommands.
const (
	exitOK       = 0
	exitFailed   = 1 // an error, or a health check not SERVING
	exitUsage    = 2
	exitBehind   = 3 // migrate status: migrations are pending
	migrateUsage = `Usage: server migrate up|status [flags]

up applies the pending database migrations (with PostgreSQL under the same
advisory lock as a starting server) and prints each one applied; status
prints every migration of this binary as applied or pending, and exits 3
when one is pending. Both take the server's DATABASE_URL and DATA_DIR
settings (flags or environment).
`
	healthcheckUsage = `Usage: server healthcheck [readiness|liveness] [flags]

Asks the server running with the same settings whether it is ready (the
default) or live, and exits 0 when it is SERVING, 1 otherwise. With
METRICS_ADDR set it asks GET /readyz or /livez there; otherwise the gRPC
health service on LISTEN_ADDR (plaintext only: with TLS, set METRICS_ADDR).
A wildcard host (0.0.0.0, ::, empty) is asked on loopback.
`
)

// subcommand runs the subcommand args[0] names, if it names one, and
// returns its exit status; ok is false when args name no subcommand.
func subcommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "migrate":
		return migrateCommand(ctx, args[1:], lookupEnv, stdout, stderr), true
	case "healthcheck":
		return healthcheckCommand(ctx, args[1:], lookupEnv, stdout, stderr), true
	}
	return 0, false
}

// migrateCommand is "server migrate up|status".
func migrateCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "up" && args[0] != "status") {
		fmt.Fprint(stderr, migrateUsage)
		return exitUsage
	}
	action := args[0]
	cfg, err := parseSettings(args[1:], lookupEnv, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "server migrate: configuration:\n%v\n", err)
		return exitUsage
	}
	if _, _, err := storeopen.Parse(cfg.DatabaseURL); err != nil {
		fmt.Fprintf(stderr, "server migrate: DATABASE_URL (-database-url): %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	db := storeopen.Redact(cfg.DatabaseURL)
	if action == "up" {
		applied, err := storeopen.Migrate(ctx, cfg.DatabaseURL)
		if err != nil {
			fmt.Fprintf(stderr, "server migrate up: %s: %v\n", db, err)
			return exitFailed
		}
		for _, name := range applied {
			fmt.Fprintf(stdout, "applied %s\n", name)
		}
		fmt.Fprintf(stdout, "%s: schema current (%d migration(s) applied now)\n", db, len(applied))
		return exitOK
	}
	states, err := storeopen.MigrationStatus(ctx, cfg.DatabaseURL)
	if err != nil {
		fmt.Fprintf(stderr, "server migrate status: %s: %v\n", db, err)
		return exitFailed
	}
	pending := 0
	for _, s := range states {
		state := "applied"
		if !s.Applied {
			state = "pending"
			pending++
		}
		fmt.Fprintf(stdout, "%-8s %s\n", state, s.Name)
	}
	if pending > 0 {
		fmt.Fprintf(stdout, "%s: %d migration(s) pending: run \"server migrate up\"\n", db, pending)
		return exitBehind
	}
	fmt.Fprintf(stdout, "%s: schema current\n", db)
	return exitOK
}

// healthcheckTimeout bounds one health check.
const healthcheckTimeout = 5 * time.Second

// healthcheckCommand is "server healthcheck [readiness|liveness]".
func healthcheckCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	probe := grpcserver.ReadinessService
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case grpcserver.ReadinessService, grpcserver.LivenessService:
			probe, args = args[0], args[1:]
		default:
			fmt.Fprint(stderr, healthcheckUsage)
			return exitUsage
		}
	}
	cfg, err := parseSettings(args, lookupEnv, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "server healthcheck: configuration:\n%v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	var status string
	switch {
	case cfg.MetricsAddr != "":
		status, err = httpHealth(ctx, localAddr(cfg.MetricsAddr), probe)
	case cfg.TLSCertFile != "":
		fmt.Fprintln(stderr, "server healthcheck: the gRPC listener serves TLS: set METRICS_ADDR (-metrics-addr) and the check asks /readyz there")
		return exitUsage
	default:
		status, err = grpcHealth(ctx, localAddr(cfg.ListenAddr), probe)
	}
	if err != nil {
		fmt.Fprintf(stderr, "server healthcheck: %s: %v\n", probe, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s %s\n", probe, status)
	if status != healthpb.HealthCheckResponse_SERVING.String() {
		return exitFailed
	}
	return exitOK
}

// localAddr is addr with a wildcard host replaced by loopback: the check
// runs beside the server.
func localAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

// httpHealth asks GET /readyz or /livez on addr and returns the status it
// names.
func httpHealth(ctx context.Context, addr, probe string) (string, error) {
	path := "/readyz"
	if probe == grpcserver.LivenessService {
		path = "/livez"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return "", err
	}
	// The probe talks to this host only: no proxy from the environment.
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("METRICS_ADDR: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err != nil {
		return "", fmt.Errorf("METRICS_ADDR %s: %s, %w", path, resp.Status, err)
	}
	if body.Reason != "" {
		return body.Status + " (" + body.Reason + ")", nil
	}
	return body.Status, nil
}

// grpcHealth asks the gRPC health service on addr about probe.
func grpcHealth(ctx context.Context, addr, probe string) (string, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: probe})
	if err != nil {
		return "", fmt.Errorf("LISTEN_ADDR %s: %w", addr, err)
	}
	return resp.GetStatus().String(), nil
}
