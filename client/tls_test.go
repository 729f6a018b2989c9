package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paymentcompletion/paymentcompletion/internal/callers"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles/tlstest"
)

// TestCLIOverTLS runs the CLI with its real dialer against a server on a
// loopback port that requires TLS and client certificates, and recognises
// the CLI's caller by its certificate.
func TestCLIOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "server")
	clientCA := tlstest.NewCA(t, dir, "clients")
	srvPair := ca.Server(t, dir, "server", time.Now().Add(time.Hour))
	support := clientCA.Client(t, dir, "support-tool", "")
	src, err := tlsfiles.New(tlsfiles.Files{CertFile: srvPair.CertFile, KeyFile: srvPair.Key, ClientCAFile: clientCA.File}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("tok"))
	set, err := callers.Parse([]byte(fmt.Sprintf(`{"callers": [
		{"name": "support", "client_cert_subject": "CN=support-tool", "methods": ["*"]},
		{"name": "storefront", "token_sha256": %q, "methods": ["GetPayment"]}]}`, hex.EncodeToString(sum[:]))), grpcserver.MethodNames())
	if err != nil {
		t.Fatal(err)
	}
	addr := serveRecorder(t, grpcserver.Options{
		TLS: src.ServerConfig(), Callers: func() *callers.Set { return set }, Logger: slog.New(slog.DiscardHandler),
	})
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	plainAddr := startPlaintext(t)
	downAddr := closedPort(t)
	stranger := ca.Client(t, dir, "stranger", "") // signed by the server's CA, not a client CA
	complete := []string{"complete", "-session", session, "-order", "order-1", "-amount", "14.00", "-currency", "USD"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"mtls", append([]string{"-addr", addr, "-tls", "-ca-file", ca.File, "-cert-file", support.CertFile, "-key-file", support.Key}, complete...), 0, "COMPLETED"},
		{"ca_file_implies_tls", append([]string{"-addr", addr, "-ca-file", ca.File, "-cert-file", support.CertFile, "-key-file", support.Key}, complete...), 0, "COMPLETED"},
		{"token_caller_lacks_permission", append([]string{"-addr", addr, "-ca-file", ca.File, "-cert-file", support.CertFile, "-key-file", support.Key, "-token-file", tokenFile}, complete...), 7, "reason: PERMISSION_DENIED"},
		// TLS mistakes exit 8 and name what to fix; retrying cannot help.
		{"no_client_certificate", append([]string{"-addr", addr, "-tls", "-ca-file", ca.File}, complete...), 8, "requires a client certificate (tls: certificate required): set -cert-file and -key-file"},
		{"client_certificate_refused", append([]string{"-addr", addr, "-ca-file", ca.File, "-cert-file", stranger.CertFile, "-key-file", stranger.Key}, complete...), 8, "refused the client certificate -cert-file " + stranger.CertFile},
		{"untrusted_server", append([]string{"-addr", addr, "-tls", "-cert-file", support.CertFile, "-key-file", support.Key}, complete...), 8, "not signed by a CA this system trusts: set -ca-file"},
		{"wrong_ca_file", append([]string{"-addr", addr, "-ca-file", clientCA.File, "-cert-file", support.CertFile, "-key-file", support.Key}, complete...), 8, "not signed by a CA in -ca-file " + clientCA.File},
		{"plaintext_to_tls", append([]string{"-addr", addr}, complete...), 8, "serves TLS: add -tls"},
		{"tls_to_plaintext", append([]string{"-addr", plainAddr, "-ca-file", ca.File}, complete...), 8, "does not serve TLS: drop -tls, -ca-file"},
		// A service that is down is still exit 6: retry.
		{"service_down", append([]string{"-addr", downAddr}, complete...), 6, "UNAVAILABLE"},
		{"service_down_tls", append([]string{"-addr", downAddr, "-ca-file", ca.File}, complete...), 6, "UNAVAILABLE"},
		{"cert_without_key", append([]string{"-addr", addr, "-cert-file", support.CertFile}, complete...), 2, "-cert-file and -key-file go together"},
		{"missing_ca_file", append([]string{"-addr", addr, "-ca-file", filepath.Join(dir, "nope.pem")}, complete...), 2, "-ca-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := runCLI(t.Context(), append([]string{"-timeout", "10s"}, tt.args...), noEnv, &out, &errOut, dial)
			t.Logf("exit %d, stderr:\n%s", code, errOut.String())
			if code != tt.wantCode || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Errorf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, tt.want, out.String(), errOut.String())
			}
		})
	}
}

// startPlaintext serves the recorder without TLS on a loopback port until
// the test ends, and returns its address.
func startPlaintext(t *testing.T) string {
	t.Helper()
	return serveRecorder(t, grpcserver.Options{Logger: slog.New(slog.DiscardHandler)})
}

// serveRecorder serves the recorder with opts on a loopback port until the
// test ends, and returns its address.
func serveRecorder(t *testing.T, opts grpcserver.Options) string {
	t.Helper()
	srv, err := grpcserver.New(&recorder{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return lis.Addr().String()
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// TestTLSProblemDecision checks which failed calls are blamed on TLS,
// with a hand-written probe standing for the address.
func TestTLSProblemDecision(t *testing.T) {
	t.Parallel()
	answered, err := status.New(codes.Unavailable, "Amazon Pay unavailable").WithDetails(&errdetails.ErrorInfo{Reason: "AMAZON_PAY_UNAVAILABLE", Domain: "paymentcompletion"})
	if err != nil {
		t.Fatal(err)
	}
	preface := status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: EOF"`)
	plain := globals{addr: "127.0.0.1:50051"}
	tests := []struct {
		name      string
		g         globals
		err       error
		servesTLS bool // what the probe finds at the address
		want      string
	}{
		{"plaintext_to_tls", plain, preface, true, "serves TLS: add -tls"},
		{"service_down", plain, preface, false, ""},
		{"service_answered_unavailable", plain, answered.Err(), true, ""},
		{"not_unavailable", plain, status.Error(codes.Internal, "boom"), true, ""},
		{"tls_client_not_probed", globals{addr: "127.0.0.1:50051", tls: true}, preface, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			probe := func(context.Context, string) bool { return tt.servesTLS }
			got := tt.g.tlsProblem(t.Context(), tt.err, nil, probe)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("tlsProblem = %q, want %q", got, tt.want)
			}
		})
	}
}
