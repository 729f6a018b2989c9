package embeddedsim_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/internal/embeddedsim"
)

// TestKeyKeptAndLoaded: the key is created once and kept across restarts,
// and Load finds it and the simulator's certificate where the server left
// them; without them Load names the file and creates nothing.
func TestKeyKeptAndLoaded(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	dir := embeddedsim.Dir(dataDir)

	if _, _, err := embeddedsim.Load(dataDir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, embeddedsim.KeyFile)) || !strings.Contains(err.Error(), "DATA_DIR") {
		t.Fatalf("Load of an empty data directory: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Load created %s: %v", dir, err)
	}

	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	first, err := embeddedsim.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := embeddedsim.LoadOrCreateKey(dir)
	if err != nil || !again.Equal(first) {
		t.Fatalf("second LoadOrCreateKey: %v, same key %v", err, err == nil && again.Equal(first))
	}
	if fi, err := os.Stat(filepath.Join(dir, embeddedsim.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if _, _, err := embeddedsim.Load(dataDir); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Load without the simulator's certificate: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, err := simulator.Serve(ctx, "127.0.0.1:0", http.NotFoundHandler(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	key, pool, err := embeddedsim.Load(dataDir)
	if err != nil || !key.Equal(first) {
		t.Fatalf("Load = %v, same key %v", err, err == nil && key.Equal(first))
	}
	// The pool trusts the certificate the simulator serves.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := hc.Get(srv.URL + "/")
	if err != nil {
		t.Fatalf("TLS with the loaded pool: %v", err)
	}
	resp.Body.Close()
	hc.CloseIdleConnections()
}
