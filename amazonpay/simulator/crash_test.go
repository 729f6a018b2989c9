package simulator_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// Environment of the child process of TestStateSurvivesKill.
const (
	childDirEnv = "SIMULATOR_TEST_CHILD_STATE_DIR"
	childURLEnv = "SIMULATOR_TEST_CHILD_URL_FILE"
)

// TestChildSimulatorProcess is not a test: run by TestStateSurvivesKill as
// a child process, it serves a persistent simulator until it is killed.
func TestChildSimulatorProcess(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("only runs as the child process of TestStateSurvivesKill")
	}
	sim, err := simulator.New(simulator.Options{StateDir: dir, PendingDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(childURLEnv)+".tmp", []byte("http://"+ln.Addr().String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(os.Getenv(childURLEnv)+".tmp", os.Getenv(childURLEnv)); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	// Serves until the parent kills the process (or a minute passes, so an
	// orphan never outlives a broken parent for long).
	go func() {
		time.Sleep(time.Minute)
		_ = srv.Close()
	}()
	_ = srv.Serve(ln)
}

// TestStateSurvivesKill runs a simulator in a child process, makes changes
// that the child acknowledges, kills it with SIGKILL (no Close, no flush)
// and checks that a new simulator on the same directory has every
// acknowledged change and resumes the pending settlement.
func TestStateSurvivesKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	urlFile := filepath.Join(t.TempDir(), "url")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildSimulatorProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childURLEnv+"="+urlFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	var base []byte
	for deadline := time.Now().Add(time.Minute); ; {
		b, err := os.ReadFile(urlFile)
		if err == nil {
			base = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child simulator did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The child runs on real time; the harness signs with its clock, which
	// stays well within the accepted skew for the few seconds this takes.
	h := &harness{t: t, clock: simulator.NewFakeClock(time.Now()), prefix: "/sandbox/v2",
		base: strings.TrimSpace(string(base)), client: &http.Client{Timeout: 30 * time.Second}}
	h.signer = &signer{key: testKey(t, 0), keyID: "SIMKILLKEY0", algorithm: "AMZN-PAY-RSASSA-PSS-V2"}
	mustStatus(t, h.control("POST", "publicKeys", map[string]string{
		"publicKeyId": h.signer.keyID, "publicKeyPem": pemOf(t, &h.signer.key.PublicKey),
	}), 201)

	pendingID := h.newSession("AuthorizeWithCapture", true)
	mustStatus(t, h.buyer(pendingID, "PendingThenAuthorized"), 200)
	pending := h.complete(pendingID, "14.00", "USD", map[string]string{"x-amz-pay-idempotency-key": "kill-complete"})
	mustStatus(t, pending, 202)
	capturedID := h.newSession("Authorize", false)
	mustStatus(t, h.buyer(capturedID, "Authorized"), 200)
	done := h.complete(capturedID, "14.00", "USD", nil)
	mustStatus(t, done, 200)
	capture := h.call(nil, "POST", h.prefix+"/charges/"+done.str("chargeId")+"/capture",
		map[string]any{"captureAmount": map[string]any{"amount": "10.00", "currencyCode": "USD"}}, nil)
	mustStatus(t, capture, 200)
	openID := h.newSession("Authorize", false)

	// SIGKILL right after the last answer: nothing runs in the child after it.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}

	// Two hours later the pending authorization is overdue: it settles at
	// start, at its due time.
	clock := simulator.NewFakeClock(time.Now().Add(2 * time.Hour))
	sim, err := simulator.New(simulator.Options{StateDir: dir, Clock: clock, PendingDelay: time.Hour})
	if err != nil {
		t.Fatalf("New after kill: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	clock.Advance(0)
	h2 := &harness{t: t, sim: sim, clock: clock, prefix: "/sandbox/v2", signer: h.signer}
	h2.srv = newServer(t, sim)

	if g := h2.call(nil, "GET", h2.prefix+"/charges/"+pending.str("chargeId"), nil, nil); g.status != 200 || g.str("statusDetails", "state") != "Captured" {
		t.Errorf("pending charge after kill and restart: %d %s", g.status, g.raw)
	}
	if g := h2.call(nil, "GET", h2.prefix+"/charges/"+done.str("chargeId"), nil, nil); g.str("captureAmount", "amount") != "10.00" {
		t.Errorf("captured charge after kill: %s", g.raw)
	}
	if g := h2.call(nil, "GET", h2.prefix+"/checkoutSessions/"+openID, nil, nil); g.status != 200 || g.str("statusDetails", "state") != "Open" {
		t.Errorf("open session after kill: %d %s", g.status, g.raw)
	}
	replay := h2.complete(pendingID, "14.00", "USD", map[string]string{"x-amz-pay-idempotency-key": "kill-complete"})
	if replay.status != 202 || string(replay.raw) != string(pending.raw) {
		t.Errorf("idempotent replay after kill: %d %s", replay.status, replay.raw)
	}
	if c := h2.calls(pendingID); c[simulator.OpCompleteCheckoutSession] != 2 || c[simulator.OpCreateCheckoutSession] != 1 {
		t.Errorf("calls after kill: %v", c)
	}
}
