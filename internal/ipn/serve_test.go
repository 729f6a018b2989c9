package ipn_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/ipn"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles/tlstest"
)

// TestServeTLS serves the receiver over TLS, as IPN_TLS_CERT_FILE and
// IPN_TLS_KEY_FILE make the server do, and stops it with its context.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ipn-test")
	pair := ca.Server(t, dir, "ipn", time.Now().Add(time.Hour))
	s := newSNS(t)
	r := newReceiver(t, s, &fakeStore{match: 1}, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ipn.Serve(ctx, lis, r, pair.CertFile, pair.Key) }()

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	url := "https://" + lis.Addr().String() + ipn.Path
	resp, err := hc.Post(url, "text/plain", strings.NewReader(string(sign(notification(s, time.Now()), trusted.key).body())))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST over TLS: %d, want 200", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after its context ended = %v, want nil", err)
	}
}

// TestServeStopsWithAConnectionNotYetRead: a sender that connected and has
// not sent its request holds Shutdown for 5 s; the listener then cuts it
// (the notification goes unacknowledged and SNS delivers it again) and
// stops cleanly, not with the deadline's error that would fail the
// server's exit.
func TestServeStopsWithAConnectionNotYetRead(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ipn.Serve(ctx, lis, http.NotFoundHandler(), "", "") }()
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// One request answered proves the server has accepted connections;
	// conn stays new (nothing sent on it).
	resp, err := http.Get("http://" + lis.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve with a connection not yet read = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return within 30s")
	}
}
