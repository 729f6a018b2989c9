package simulator_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// restart closes h's simulator and serves a new one on the same state
// directory and a fresh fake clock reading now.
func restart(t *testing.T, h *harness, dir string, now time.Time) *harness {
	t.Helper()
	h.srv.Close()
	if err := h.sim.Close(); err != nil {
		t.Fatal(err)
	}
	clock := simulator.NewFakeClock(now)
	sim, err := simulator.New(simulator.Options{StateDir: dir, Clock: clock})
	if err != nil {
		t.Fatalf("New after restart: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	h2 := *h
	h2.sim, h2.clock = sim, clock
	h2.srv = newServer(t, sim)
	return &h2
}

func TestPersistenceAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, simulator.Options{StateDir: dir})

	// A pending authorization, a completed session and an idempotent create.
	pendingID := h.newSession("AuthorizeWithCapture", true)
	mustStatus(t, h.buyer(pendingID, "PendingThenAuthorized"), 200)
	pending := h.complete(pendingID, "14.00", "USD", nil)
	mustStatus(t, pending, 202)
	key := map[string]string{"x-amz-pay-idempotency-key": "persisted-create"}
	created := h.call(nil, "POST", "/v2/checkoutSessions", sessionBody("Confirm", false, "3.00", "USD"), key)
	mustStatus(t, created, 201)
	h.clock.Advance(10 * time.Second)

	if _, err := os.Stat(filepath.Join(dir, "simulator.db")); err != nil {
		t.Fatalf("no state file: %v", err)
	}
	h = restart(t, h, dir, epoch.Add(10*time.Second))

	// The key survived (requests still verify), as did the objects.
	g := h.call(nil, "GET", "/v2/charges/"+pending.str("chargeId"), nil, nil)
	mustStatus(t, g, 200)
	if g.str("statusDetails", "state") != "AuthorizationInitiated" {
		t.Fatalf("after restart: %s", g.raw)
	}
	replay := h.call(nil, "POST", "/v2/checkoutSessions", sessionBody("Confirm", false, "3.00", "USD"), key)
	mustStatus(t, replay, 201)
	if string(replay.raw) != string(created.raw) {
		t.Error("idempotency record lost across restart")
	}
	if c := h.calls(pendingID); c[simulator.OpCompleteCheckoutSession] != 1 {
		t.Errorf("calls after restart %v", c)
	}

	// The settlement resumes with the remaining 20 seconds.
	h.clock.Advance(19 * time.Second)
	if g := h.call(nil, "GET", "/v2/charges/"+pending.str("chargeId"), nil, nil); g.str("statusDetails", "state") != "AuthorizationInitiated" {
		t.Fatalf("settled early: %s", g.raw)
	}
	h.clock.Advance(time.Second)
	if g := h.call(nil, "GET", "/v2/charges/"+pending.str("chargeId"), nil, nil); g.str("statusDetails", "state") != "Captured" {
		t.Fatalf("not settled: %s", g.raw)
	}

	// A settlement that came due while the simulator was down settles at
	// start.
	id := h.newSession("Authorize", true)
	mustStatus(t, h.buyer(id, "PendingThenDeclined"), 200)
	c := h.complete(id, "14.00", "USD", nil)
	mustStatus(t, c, 202)
	h = restart(t, h, dir, h.clock.Now().Add(time.Hour))
	h.clock.Advance(0)
	g = h.call(nil, "GET", "/v2/charges/"+c.str("chargeId"), nil, nil)
	if g.str("statusDetails", "state") != "Declined" || g.str("statusDetails", "reasonCode") != "HardDeclined" {
		t.Errorf("overdue settlement: %s", g.raw)
	}
}

func TestCorruptStateIsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "simulator-state.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := simulator.New(simulator.Options{StateDir: dir}); err == nil {
		t.Fatal("New accepted a corrupt state file")
	}
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	sim, err := simulator.New(simulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := simulator.Serve(ctx, "127.0.0.1:0", sim, dir)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool}}}
	for _, host := range []string{srv.URL, "https://localhost:" + srv.URL[len("https://127.0.0.1:"):]} {
		resp, err := client.Get(host + "/simulator/healthz")
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", host, resp.StatusCode)
		}
	}
	written, err := os.ReadFile(filepath.Join(dir, simulator.CertFile))
	if err != nil || string(written) != string(srv.CertPEM) {
		t.Fatalf("certificate file: %v", err)
	}
	cancel()
	select {
	case <-srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop with its context")
	}

	// A second server on the same directory presents the same certificate.
	srv2, err := simulator.Serve(t.Context(), "127.0.0.1:0", sim, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if string(srv2.CertPEM) != string(srv.CertPEM) {
		t.Error("certificate was not reloaded")
	}
}

// The fixture was written by the whole-state JSON persistence of earlier
// versions: two sessions (one with a pending AuthorizeWithCapture completed
// with idempotency key "legacy-complete", one authorized and read once)
// on a fake clock at epoch.
const (
	legacyPendingSession    = "d6be6ece-c4e7-4cce-ab01-0ad41c26cc06"
	legacyPendingCharge     = "S01-3124623-9600629-C730333"
	legacyAuthorizedSession = "db47fa4b-3998-4420-9357-f72bc95afad8"
	legacyAuthorizedCharge  = "S01-6799978-2692883-C767089"
)

func TestLegacyStateFileIsImported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "legacy-simulator-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "simulator-state.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The fixture's key is the test key 0 under SIMTESTKEY0, which the
	// harness registers again (the same key).
	h := newHarness(t, simulator.Options{StateDir: dir, Clock: simulator.NewFakeClock(epoch.Add(time.Minute))})
	h.clock.Advance(0) // the overdue settlement runs
	if _, err := os.Stat(filepath.Join(dir, "simulator-state.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("legacy file still in place: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "simulator-state.json.imported")); err != nil {
		t.Errorf("legacy file not kept as .imported: %v", err)
	}
	check := func(h *harness) {
		t.Helper()
		if g := h.call(nil, "GET", "/v2/charges/"+legacyPendingCharge, nil, nil); g.str("statusDetails", "state") != "Captured" {
			t.Errorf("pending charge: %d %s", g.status, g.raw)
		}
		if g := h.call(nil, "GET", "/v2/charges/"+legacyAuthorizedCharge, nil, nil); g.str("statusDetails", "state") != "Authorized" {
			t.Errorf("authorized charge: %d %s", g.status, g.raw)
		}
		replay := h.complete(legacyPendingSession, "14.00", "USD", map[string]string{"x-amz-pay-idempotency-key": "legacy-complete"})
		if replay.status != 202 || replay.str("chargeId") != legacyPendingCharge {
			t.Errorf("idempotent replay of the imported complete: %d %s", replay.status, replay.raw)
		}
	}
	check(h)
	if c := h.calls(legacyAuthorizedSession); c[simulator.OpGetCharge] != 2 || c[simulator.OpCompleteCheckoutSession] != 1 {
		t.Errorf("imported calls: %v", c)
	}
	// Read from the database from now on, not imported again.
	h = restart(t, h, dir, epoch.Add(2*time.Minute))
	if err := h.sim.RegisterPublicKey(h.signer.keyID, &h.signer.key.PublicKey, ""); err != nil {
		t.Fatal(err)
	}
	check(h)
	if c := h.calls(legacyAuthorizedSession); c[simulator.OpGetCharge] != 3 {
		t.Errorf("calls after restart: %v", c)
	}
}

// A simulator holds its state directory: a second one on the same
// directory fails instead of overwriting the first one's state.
func TestStateDirIsExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := simulator.New(simulator.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := first.RegisterPublicKey("K1", &testKey(t, 0).PublicKey, ""); err != nil {
		t.Fatal(err)
	}
	if second, err := simulator.New(simulator.Options{StateDir: dir}); err == nil {
		second.Close()
		t.Fatal("a second simulator opened the same state directory")
	}
}

// A record the simulator cannot read back makes New fail rather than start
// without it.
func TestCorruptRecordIsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, simulator.Options{StateDir: dir})
	id := h.newSession("Authorize", false)
	h.srv.Close()
	if err := h.sim.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "simulator.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE records SET doc = '{"session": 7}' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := simulator.New(simulator.Options{StateDir: dir}); err == nil || !strings.Contains(err.Error(), id) {
		t.Fatalf("New with a corrupt session record: %v", err)
	}
}
