package main

import (
	"bytes"
	"crypto/rsa"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/internal/embeddedsim"
)

// serverLikeSimulator lays out a data directory as the server does without
// Amazon Pay credentials (its key and the simulator's certificate under
// DATA_DIR/simulator) and serves the simulator over HTTPS.
func serverLikeSimulator(t *testing.T) (dataDir string, srv *simulator.Server, key *rsa.PrivateKey) {
	t.Helper()
	dataDir = t.TempDir()
	dir := embeddedsim.Dir(dataDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	key, err := embeddedsim.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulator.New(simulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	if err := sim.RegisterPublicKey(embeddedsim.KeyID, &key.PublicKey, ""); err != nil {
		t.Fatal(err)
	}
	srv, err = simulator.Serve(t.Context(), "127.0.0.1:0", sim, dir)
	if err != nil {
		t.Fatal(err)
	}
	return dataDir, srv, key
}

// TestReadsServerSettingsFromAnyDirectory runs democheckout from an
// unrelated working directory with the server's DATA_DIR and SIMULATOR_ADDR
// in the environment, as a user would next to a running server.
func TestReadsServerSettingsFromAnyDirectory(t *testing.T) {
	dataDir, srv, key := serverLikeSimulator(t)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	env := map[string]string{"DATA_DIR": dataDir, "SIMULATOR_ADDR": u.Host}
	var stdout, stderr bytes.Buffer
	code := cli([]string{"-amount", "21.00", "-scenario", "PendingThenDeclined"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	id := strings.TrimSpace(stdout.String())
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("printed %q, want a checkout session ID", id)
	}
	c, err := amazonpay.New(amazonpay.Config{PublicKeyID: embeddedsim.KeyID, PrivateKey: key, Region: "na", Endpoint: srv.URL, RootCAs: srv.CertPool})
	if err != nil {
		t.Fatal(err)
	}
	sess, _, err := c.GetCheckoutSession(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	pd := sess.PaymentDetails
	if pd == nil || pd.ChargeAmount == nil || pd.ChargeAmount.Amount != "21.00" || !pd.CanHandlePendingAuthorization {
		t.Errorf("session payment details = %+v, want 21.00 with pending authorizations allowed (a Pending* scenario implies -pending)", pd)
	}

	// Without the server's data directory the error says where it looked
	// and what to do.
	stdout.Reset()
	stderr.Reset()
	code = cli([]string{"-simulator-addr", u.Host}, func(string) (string, bool) { return "", false }, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "DATA_DIR") || !strings.Contains(stderr.String(), filepath.Join("data", "simulator", "merchant-private-key.pem")) {
		t.Errorf("without DATA_DIR: exit %d, %q", code, stderr.String())
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := cli([]string{"-help"}, func(string) (string, bool) { return "", false }, &stdout, &stderr); code != 0 {
		t.Fatalf("-help exit %d", code)
	}
	for _, want := range []string{"Usage: democheckout", "embedded\nAmazon Pay simulator", "-pending", "DATA_DIR", "SIMULATOR_ADDR", "-scenario"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("-help lacks %q:\n%s", want, stderr.String())
		}
	}
	if code := cli([]string{"extra"}, func(string) (string, bool) { return "", false }, &stdout, &stderr); code != 2 {
		t.Errorf("positional argument: exit %d, want 2", code)
	}
}
