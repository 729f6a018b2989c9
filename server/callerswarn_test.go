package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/callers"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
)

const certCallersWarning = "callers recognised by client certificate will be refused"

func TestWarnCertificateCallers(t *testing.T) {
	t.Parallel()
	mixed, err := callers.Parse([]byte(`{"callers": [
		{"name": "storefront", "token_sha256": "`+strings.Repeat("ab", 32)+`", "methods": ["*"]},
		{"name": "support", "client_cert_subject": "CN=support-tool", "methods": ["*"]},
		{"name": "ops", "client_cert_san": "spiffe://example/ops", "methods": ["*"]}]}`), grpcserver.MethodNames())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		set      *callers.Set
		clientCA string
		want     string // "" for no warning
	}{
		{"certificate_callers_without_client_ca", mixed, "", `"callers":["support","ops"]`},
		{"certificate_callers_with_client_ca", mixed, "/etc/paymentcompletion/clients-ca.pem", ""},
		{"token_callers_only", callers.TokenCaller("storefront", "tok"), "", ""},
		{"no_callers_file", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			warnCertificateCallers(slog.New(slog.NewJSONHandler(&buf, nil)), tt.set, tt.clientCA)
			got := buf.String()
			if tt.want == "" {
				if got != "" {
					t.Errorf("logged %s, want nothing", got)
				}
				return
			}
			for _, w := range []string{certCallersWarning, `"level":"WARN"`, `"setting":"TLS_CLIENT_CA_FILE"`, tt.want} {
				if !strings.Contains(got, w) {
					t.Errorf("log lacks %s:\n%s", w, got)
				}
			}
		})
	}
}

// TestRunWarnsOfCertificateCallersWithoutClientCA starts the server with a
// callers file naming a certificate caller and no TLS: it serves, and its
// start log says that caller will be refused and which setting to set.
func TestRunWarnsOfCertificateCallersWithoutClientCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "callers.json")
	if err := os.WriteFile(file, []byte(`{"callers": [{"name": "support", "client_cert_subject": "CN=support-tool", "methods": ["*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	logs, stop := startRun(t, []string{"-listen-addr", "127.0.0.1:0", "-data-dir", filepath.Join(dir, "data"),
		"-auth-callers-file", file, "-simulator-addr", "127.0.0.1:0", "-embedded-simulator", "true"}, nil)
	logs.WaitFor(t, "serving")
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if out := logs.String(); !strings.Contains(out, certCallersWarning) || !strings.Contains(out, `"callers":["support"]`) {
		t.Errorf("start log lacks the certificate callers warning:\n%s", out)
	}
}
