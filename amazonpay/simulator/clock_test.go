package simulator_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// manualHarness serves a simulator on a manual clock. Requests are signed
// with real time (h.clock is only the signer's), as any SDK signs them.
func manualHarness(t *testing.T, dir string) *harness {
	t.Helper()
	sim, err := simulator.New(simulator.Options{ManualClock: true, StateDir: dir})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	h := &harness{t: t, sim: sim, srv: srv, clock: simulator.NewFakeClock(time.Now()), prefix: "/sandbox/v2"}
	h.signer = registerSigner(t, sim, "SIMMANUALKEY0", testKey(t, 0))
	return h
}

func clockNow(t *testing.T, r response) time.Time {
	t.Helper()
	now, err := time.Parse("20060102T150405Z", r.str("now"))
	if err != nil {
		t.Fatalf("clock answer %s: %v", r.raw, err)
	}
	return now
}

func TestManualClockReachesExpirySettlementAndRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := manualHarness(t, dir)
	before := h.control("GET", "clock", nil)
	mustStatus(t, before, 200)
	if before.body["manual"] != true {
		t.Fatalf("clock: %s", before.raw)
	}
	start := clockNow(t, before)
	if d := time.Since(start); d < -time.Second || d > time.Minute {
		t.Fatalf("manual clock starts at %v, not now", start)
	}

	open := h.newSession("Authorize", false)
	pendingID := h.newSession("Authorize", true)
	mustStatus(t, h.buyer(pendingID, "PendingThenAuthorized"), 200)
	pending := h.complete(pendingID, "14.00", "USD", nil)
	mustStatus(t, pending, 202)
	charge := "/sandbox/v2/charges/" + pending.str("chargeId")

	// Still standing: nothing settles by itself.
	if g := h.call(nil, "GET", charge, nil, nil); g.str("statusDetails", "state") != "AuthorizationInitiated" {
		t.Fatalf("settled without the clock moving: %s", g.raw)
	}
	a := h.control("POST", "clock", map[string]string{"advance": "30s"})
	mustStatus(t, a, 200)
	if got := clockNow(t, a).Sub(start); got != 30*time.Second {
		t.Errorf("advanced by %v", got)
	}
	if g := h.call(nil, "GET", charge, nil, nil); g.str("statusDetails", "state") != "Authorized" {
		t.Errorf("pending authorization after 30s: %s", g.raw)
	}

	// 24 hours: the open session expires. Signatures still carry real time.
	mustStatus(t, h.control("POST", "clock", map[string]string{"advance": "25h"}), 200)
	g := h.call(nil, "GET", "/sandbox/v2/checkoutSessions/"+open, nil, nil)
	if g.str("statusDetails", "state") != "Canceled" || g.str("statusDetails", "reasonCode") != "Expired" {
		t.Errorf("session after 25h: %s", g.raw)
	}

	// 30 days after creation Amazon deletes the session; its charge stays.
	mustStatus(t, h.control("POST", "clock", map[string]string{"advance": "720h"}), 200)
	mustStatus(t, h.call(nil, "GET", "/sandbox/v2/checkoutSessions/"+pendingID, nil, nil), 404)
	mustStatus(t, h.call(nil, "GET", charge, nil, nil), 200)

	// The manual clock's time survives a restart on the same directory.
	want := start.Add(30*time.Second + 25*time.Hour + 720*time.Hour)
	h.srv.Close()
	if err := h.sim.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := manualHarness(t, dir)
	if got := clockNow(t, h2.control("GET", "clock", nil)); got.Before(want) {
		t.Errorf("manual clock after restart at %v, want at least %v", got, want)
	}
}

func TestClockControlNeedsAManualClock(t *testing.T) {
	t.Parallel()
	sim, err := simulator.New(simulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	h := &harness{t: t, sim: sim, srv: newServer(t, sim), clock: simulator.NewFakeClock(time.Now())}
	r := h.control("POST", "clock", map[string]string{"advance": "1h"})
	if r.status != 409 || r.reason() != "UnsupportedOperation" {
		t.Errorf("advance on real time: %d %s", r.status, r.raw)
	}
	g := h.control("GET", "clock", nil)
	mustStatus(t, g, 200)
	if g.body["manual"] != false {
		t.Errorf("real clock reads %s", g.raw)
	}
	for _, body := range []map[string]string{{"advance": "-1h"}, {"advance": ""}, {"duration": "1h"}} {
		if r := h.control("POST", "clock", body); r.status != 400 && r.status != 409 {
			t.Errorf("%v: %d %s", body, r.status, r.raw)
		}
	}
}

// A Go test's FakeClock can be advanced over the control API too, and the
// request dates are then judged against it.
func TestFakeClockAdvancedOverControlAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	r := h.control("POST", "clock", map[string]string{"advance": "24h"})
	mustStatus(t, r, 200)
	if !clockNow(t, r).Equal(epoch.Add(24 * time.Hour)) {
		t.Errorf("clock at %s", r.raw)
	}
	if g := h.call(nil, "GET", "/sandbox/v2/checkoutSessions/"+id, nil, nil); g.str("statusDetails", "reasonCode") != "Expired" {
		t.Errorf("after 24h: %s", g.raw)
	}
}
