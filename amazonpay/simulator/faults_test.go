package simulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// try sends a signed request on a fresh connection (so the transport cannot
// retry a dropped request behind the test's back) and reports transport
// errors instead of failing.
func (h *harness) try(method, path string, body any, headers map[string]string, timeout time.Duration) (response, error) {
	h.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			h.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	h.signer.sign(req, b, h.clock.Now())
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out, nil
}

func (h *harness) fault(op, kind string, count int, latency string) {
	h.t.Helper()
	body := map[string]any{"operation": op, "kind": kind, "count": count}
	if latency != "" {
		body["latency"] = latency
	}
	mustStatus(h.t, h.control("POST", "faults", body), 201)
}

func TestFaults(t *testing.T) {
	t.Parallel()
	completeBody := map[string]any{"chargeAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}}
	tests := []struct {
		kind      string
		latency   string
		wantErr   bool // transport error instead of an answer
		status    int
		reason    string
		applied   bool
		clientCap time.Duration
	}{
		{kind: "http500", status: 500, reason: "InternalServerError"},
		{kind: "http503", status: 503, reason: "ServiceUnavailable"},
		{kind: "http429", status: 429, reason: "TooManyRequests"},
		{kind: "latency", latency: "50ms", status: 200, applied: true},
		{kind: "reset", wantErr: true},
		{kind: "timeout", wantErr: true, clientCap: 300 * time.Millisecond},
		{kind: "lostResponse", wantErr: true, applied: true},
		{kind: "slowResponse", latency: "50ms", status: 200, applied: true},
		// The caller gives up (or dies) while the answer is held: applied
		// all the same.
		{kind: "slowResponse", latency: "5s", wantErr: true, applied: true, clientCap: 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.kind+"_"+tc.latency, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, simulator.Options{})
			id := h.newSession("Authorize", false)
			mustStatus(t, h.buyer(id, "Authorized"), 200)
			h.fault(simulator.OpCompleteCheckoutSession, tc.kind, 1, tc.latency)
			timeout := tc.clientCap
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			r, err := h.try("POST", "/v2/checkoutSessions/"+id+"/complete", completeBody, nil, timeout)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got an answer %d %s, want a transport error", r.status, r.raw)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				mustStatus(t, r, tc.status)
				if r.reason() != tc.reason {
					t.Errorf("reasonCode %q, want %q", r.reason(), tc.reason)
				}
			}
			s := h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil)
			wantState := "Open"
			if tc.applied {
				wantState = "Completed"
			}
			if got := s.str("statusDetails", "state"); got != wantState {
				t.Errorf("session state %q, want %q", got, wantState)
			}
			// The fault was used up: the next Complete is applied normally
			// (or finds the session already completed).
			again := h.complete(id, "14.00", "USD", nil)
			if tc.applied {
				mustStatus(t, again, 422)
			} else {
				mustStatus(t, again, 200)
			}
			if got := h.calls(id)[simulator.OpCompleteCheckoutSession]; got != 2 {
				t.Errorf("CompleteCheckoutSession calls = %d, want 2 (faulted calls count)", got)
			}
		})
	}
}

func TestLostResponseWithIdempotencyKeyReplays(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	h.fault(simulator.OpCompleteCheckoutSession, "lostResponse", 1, "")
	key := map[string]string{"x-amz-pay-idempotency-key": "complete-" + id[:8]}
	body := map[string]any{"chargeAmount": map[string]any{"amount": "14.00", "currencyCode": "USD"}}
	if _, err := h.try("POST", h.prefix+"/checkoutSessions/"+id+"/complete", body, key, 10*time.Second); err == nil {
		t.Fatal("lost response answered")
	}
	r := h.complete(id, "14.00", "USD", key)
	mustStatus(t, r, 200)
	if r.str("statusDetails", "state") != "Completed" || r.str("chargeId") == "" {
		t.Fatalf("replay: %s", r.raw)
	}
	g := h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil)
	if g.str("chargeId") != r.str("chargeId") {
		t.Errorf("replayed chargeId %s, session has %s", r.str("chargeId"), g.str("chargeId"))
	}
	// Without the key, a retry learns the session is already completed.
	mustStatus(t, h.complete(id, "14.00", "USD", nil), 422)
}

func TestFaultCountAndClear(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	h.fault(simulator.OpGetCheckoutSession, "http503", 2, "")
	for i, want := range []int{503, 503, 200} {
		r, err := h.try("GET", "/v2/checkoutSessions/"+id, nil, nil, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != want {
			t.Errorf("call %d: status %d, want %d", i, r.status, want)
		}
	}
	h.fault(simulator.OpGetCheckoutSession, "http500", 5, "")
	list := h.control("GET", "faults", nil)
	if n := len(list.body["faults"].([]any)); n != 1 {
		t.Errorf("faults listed: %s", list.raw)
	}
	mustStatus(t, h.control("DELETE", "faults", nil), 200)
	mustStatus(t, h.call(nil, "GET", "/v2/checkoutSessions/"+id, nil, nil), 200)
	if got := h.calls(id); got[simulator.OpGetCheckoutSession] != 4 || got[simulator.OpCreateCheckoutSession] != 1 {
		t.Errorf("calls %v", got)
	}
}

func TestFaultOnEachOperation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{})
	id := h.newSession("Authorize", false)
	mustStatus(t, h.buyer(id, "Authorized"), 200)
	c := h.complete(id, "14.00", "USD", nil)
	mustStatus(t, c, 200)
	ch, cp := c.str("chargeId"), c.str("chargePermissionId")
	for _, tc := range []struct {
		op, method, path string
		body             any
	}{
		{simulator.OpCreateCheckoutSession, "POST", "/v2/checkoutSessions", sessionBody("Authorize", false, "1.00", "USD")},
		{simulator.OpGetCheckoutSession, "GET", "/v2/checkoutSessions/" + id, nil},
		{simulator.OpUpdateCheckoutSession, "PATCH", "/v2/checkoutSessions/" + id, map[string]any{}},
		{simulator.OpGetCharge, "GET", "/v2/charges/" + ch, nil},
		{simulator.OpGetChargePermission, "GET", "/v2/chargePermissions/" + cp, nil},
		{simulator.OpCaptureCharge, "POST", "/v2/charges/" + ch + "/capture", map[string]any{}},
		{simulator.OpCancelCharge, "DELETE", "/v2/charges/" + ch + "/cancel", map[string]any{}},
	} {
		t.Run(tc.op, func(t *testing.T) {
			h.fault(tc.op, "http429", 1, "")
			r, err := h.try(tc.method, tc.path, tc.body, nil, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			mustStatus(t, r, 429)
		})
	}
	calls := h.calls(id)
	for _, op := range []string{simulator.OpGetCheckoutSession, simulator.OpUpdateCheckoutSession, simulator.OpGetCharge,
		simulator.OpGetChargePermission, simulator.OpCaptureCharge, simulator.OpCancelCharge} {
		if calls[op] != 1 {
			t.Errorf("%s counted %d times, want 1: %v", op, calls[op], calls)
		}
	}
	// The charge was not touched by the throttled capture and cancel.
	if g := h.call(nil, "GET", "/v2/charges/"+ch, nil, nil); g.str("statusDetails", "state") != "Authorized" {
		t.Errorf("%s", g.raw)
	}
}
