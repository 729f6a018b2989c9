package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles/tlstest"
)

// TestRunRotatesCertificate serves TLS from files, replaces them while the
// server runs, and checks that new connections get the new certificate
// without a restart.
func TestRunRotatesCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "server")
	first := ca.Server(t, dir, "server", time.Now().Add(time.Hour))
	addr := freeAddr(t)
	logs, _ := startRun(t, []string{"-listen-addr", addr, "-data-dir", filepath.Join(dir, "data"), "-simulator-addr", "127.0.0.1:0",
		"-tls-cert-file", first.CertFile, "-tls-key-file", first.Key, "-embedded-simulator=true"}, nil)

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	served := func() string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}})
			if err == nil {
				defer c.Close()
				return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
			}
			if time.Now().After(deadline) {
				t.Fatalf("TLS dial: %v\n%s", err, logs.String())
			}
			time.Sleep(50 * time.Millisecond) // the listener is not up yet
		}
	}
	if got := served(); got != first.Cert.SerialNumber.String() {
		t.Fatalf("serial %s, want the first certificate's %s", got, first.Cert.SerialNumber)
	}
	// Rotate: the new pair written over the old files, key first.
	second := ca.Server(t, t.TempDir(), "server", time.Now().Add(2*time.Hour))
	for _, f := range [][2]string{{second.Key, first.Key}, {second.CertFile, first.CertFile}} {
		src, dst := f[0], f[1]
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dst+".tmp", dst); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for served() != second.Cert.SerialNumber.String() {
		if time.Now().After(deadline) {
			t.Fatalf("still serving the old certificate 10s after rotation\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"msg":"TLS certificate reloaded"`) {
		t.Errorf("no reload logged:\n%s", logs.String())
	}
}
