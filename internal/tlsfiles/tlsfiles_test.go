package tlsfiles_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/logtest"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles/tlstest"
)

// serve accepts TLS connections on a loopback port with cfg and completes
// their handshakes until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	return lis.Addr().String()
}

// served returns the serial number of the certificate the server presents.
func served(t *testing.T, addr string, client *tls.Config) (string, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, client)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return "", err
	}
	// TLS 1.3 reports a refused client certificate only on the first read.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	first := ca.Server(t, dir, "server", time.Now().Add(time.Hour))
	logs := &logtest.Buffer{}
	src, err := tlsfiles.New(tlsfiles.Files{CertFile: first.CertFile, KeyFile: first.Key}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, src.ServerConfig())
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	client := &tls.Config{RootCAs: roots, ServerName: "localhost"}

	if got, err := served(t, addr, client); err != nil || got != first.Cert.SerialNumber.String() {
		t.Fatalf("before rotation: serial %s, %v; want %s", got, err, first.Cert.SerialNumber)
	}

	// A half-done rotation (new key, old certificate) keeps the old pair.
	second := ca.Server(t, t.TempDir(), "server", time.Now().Add(2*time.Hour))
	key, _ := os.ReadFile(second.Key)
	if err := os.WriteFile(first.Key, key, 0o600); err != nil {
		t.Fatal(err)
	}
	// Handshakes look at the files (at most every minimum check
	// interval): handshake until the source has looked at the new ones.
	handshakeUntil(t, "the mismatched pair logged", func() bool {
		got, err := served(t, addr, client)
		if err != nil || got != first.Cert.SerialNumber.String() {
			t.Fatalf("mismatched files: serial %s, %v; want the old %s", got, err, first.Cert.SerialNumber)
		}
		return strings.Contains(logs.String(), "TLS files invalid")
	})
	if got, err := served(t, addr, client); err != nil || got != first.Cert.SerialNumber.String() {
		t.Fatalf("mismatched files, checked: serial %s, %v; want the old %s", got, err, first.Cert.SerialNumber)
	}

	// Completing the rotation serves the new certificate, without restart.
	cert, _ := os.ReadFile(second.CertFile)
	if err := os.WriteFile(first.CertFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	handshakeUntil(t, "the new certificate served", func() bool {
		got, err := served(t, addr, client)
		if err != nil {
			t.Fatalf("after rotation: %v", err)
		}
		return got == second.Cert.SerialNumber.String()
	})
	if !src.NotAfter().Equal(second.NotAfter) {
		t.Errorf("NotAfter = %v, want %v", src.NotAfter(), second.NotAfter)
	}
}

// handshakeUntil calls try, a handshake, until it reports true, for at
// most 10 s: the files are looked at on handshakes, at most every 100 ms.
func handshakeUntil(t *testing.T, what string, try func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !try() {
		if time.Now().After(deadline) {
			t.Fatalf("never %s", what)
		}
		time.Sleep(10 * time.Millisecond) // paces the polling, asserts nothing
	}
}

func TestClientCertificatesRequired(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "server")
	clientCA := tlstest.NewCA(t, dir, "clients")
	otherCA := tlstest.NewCA(t, dir, "other")
	srv := ca.Server(t, dir, "server", time.Now().Add(time.Hour))
	src, err := tlsfiles.New(tlsfiles.Files{CertFile: srv.CertFile, KeyFile: srv.Key, ClientCAFile: clientCA.File}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, src.ServerConfig())
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	load := func(p tlstest.Pair) []tls.Certificate {
		c, err := tls.LoadX509KeyPair(p.CertFile, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	good := clientCA.Client(t, dir, "support-tool", "")
	bad := otherCA.Client(t, t.TempDir(), "intruder", "")
	tests := []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"no_certificate", nil, false},
		{"certificate_of_another_ca", load(bad), false},
		{"certificate_of_the_client_ca", load(good), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := served(t, addr, &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: tt.certs})
			if (err == nil) != tt.ok {
				t.Errorf("handshake error %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	srv := ca.Server(t, dir, "server", time.Now().Add(time.Hour))
	tests := []struct {
		name string
		f    tlsfiles.Files
		want string
	}{
		{"missing_key", tlsfiles.Files{CertFile: srv.CertFile}, "both required"},
		{"absent_file", tlsfiles.Files{CertFile: srv.CertFile, KeyFile: dir + "/nope.pem"}, "nope.pem"},
		{"key_is_a_certificate", tlsfiles.Files{CertFile: srv.CertFile, KeyFile: srv.CertFile}, "server.pem"},
		{"ca_file_without_pem", tlsfiles.Files{CertFile: srv.CertFile, KeyFile: srv.Key, ClientCAFile: srv.Key}, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tlsfiles.New(tt.f, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
