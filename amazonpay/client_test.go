package amazonpay

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/logtest"
)

func TestOperations(t *testing.T) {
	t.Parallel()
	const (
		sessionID  = "bd504926-f659-4ad7-a1a9-9a747aaf5275"
		chargeID   = "S01-5105180-3221187-C056351"
		permission = "S01-5105180-3221187"
	)
	type result struct {
		id     string
		state  string
		status int
	}
	tests := []struct {
		name       string
		run        func(ctx context.Context, c *Client) (result, error)
		method     string
		path       string // after the base path
		key        string // expected idempotency key; "random" for any valid key
		bodyFields []string
		want       result
	}{
		{
			name: "create_checkout_session",
			run: func(ctx context.Context, c *Client) (result, error) {
				s, info, err := c.CreateCheckoutSession(ctx, CreateCheckoutSessionRequest{
					WebCheckoutDetails: WebCheckoutDetails{CheckoutReviewReturnURL: "https://shop.example/review"},
					StoreID:            "store-1",
					PaymentDetails:     &PaymentDetails{PaymentIntent: PaymentIntentAuthorize, ChargeAmount: &Price{"14.00", "USD"}},
				})
				if err != nil {
					return result{}, err
				}
				return result{s.CheckoutSessionID, s.StatusDetails.State, info.StatusCode}, nil
			},
			method: http.MethodPost, path: "/checkoutSessions", key: "random",
			bodyFields: []string{"webCheckoutDetails", "storeId", "paymentDetails"},
			want:       result{sessionID, StateCompleted, http.StatusCreated},
		},
		{
			name: "get_checkout_session",
			run: func(ctx context.Context, c *Client) (result, error) {
				s, info, err := c.GetCheckoutSession(ctx, sessionID)
				if err != nil {
					return result{}, err
				}
				return result{s.CheckoutSessionID, s.StatusDetails.State, info.StatusCode}, nil
			},
			method: http.MethodGet, path: "/checkoutSessions/" + sessionID,
			want: result{sessionID, StateCompleted, http.StatusOK},
		},
		{
			name: "update_checkout_session",
			run: func(ctx context.Context, c *Client) (result, error) {
				s, info, err := c.UpdateCheckoutSession(ctx, sessionID, UpdateCheckoutSessionRequest{
					PaymentDetails: &PaymentDetails{ChargeAmount: &Price{"14.00", "USD"}},
				})
				if err != nil {
					return result{}, err
				}
				return result{s.CheckoutSessionID, s.StatusDetails.State, info.StatusCode}, nil
			},
			method: http.MethodPatch, path: "/checkoutSessions/" + sessionID,
			bodyFields: []string{"paymentDetails"},
			want:       result{sessionID, StateCompleted, http.StatusOK},
		},
		{
			name: "complete_checkout_session",
			run: func(ctx context.Context, c *Client) (result, error) {
				s, info, err := c.CompleteCheckoutSession(ctx, sessionID, CompleteCheckoutSessionRequest{
					ChargeAmount: Price{"14.00", "USD"}, TotalOrderAmount: &Price{"20.00", "USD"},
				})
				if err != nil {
					return result{}, err
				}
				return result{s.ChargeID, s.StatusDetails.State, info.StatusCode}, nil
			},
			method: http.MethodPost, path: "/checkoutSessions/" + sessionID + "/complete",
			key:        IdempotencyKey("complete", sessionID),
			bodyFields: []string{"chargeAmount", "totalOrderAmount"},
			want:       result{chargeID, StateCompleted, http.StatusOK},
		},
		{
			name: "get_charge",
			run: func(ctx context.Context, c *Client) (result, error) {
				ch, info, err := c.GetCharge(ctx, chargeID)
				if err != nil {
					return result{}, err
				}
				return result{ch.ChargeID, ch.StatusDetails.State, info.StatusCode}, nil
			},
			method: http.MethodGet, path: "/charges/" + chargeID,
			want: result{chargeID, ChargeStateCaptured, http.StatusOK},
		},
		{
			name: "get_charge_permission",
			run: func(ctx context.Context, c *Client) (result, error) {
				p, info, err := c.GetChargePermission(ctx, permission)
				if err != nil {
					return result{}, err
				}
				return result{p.ChargePermissionID, p.StatusDetails.State, info.StatusCode}, nil
			},
			method: http.MethodGet, path: "/chargePermissions/" + permission,
			want: result{permission, ChargePermissionStateNonChargeable, http.StatusOK},
		},
		{
			name: "capture_charge",
			run: func(ctx context.Context, c *Client) (result, error) {
				ch, info, err := c.CaptureCharge(ctx, chargeID, CaptureChargeRequest{CaptureAmount: Price{"14.50", "USD"}})
				if err != nil {
					return result{}, err
				}
				return result{ch.ChargeID, ch.StatusDetails.State, info.StatusCode}, nil
			},
			method: http.MethodPost, path: "/charges/" + chargeID + "/capture",
			key:        IdempotencyKey("capture", chargeID),
			bodyFields: []string{"captureAmount"},
			want:       result{chargeID, ChargeStateCaptured, http.StatusOK},
		},
		{
			name: "cancel_charge",
			run: func(ctx context.Context, c *Client) (result, error) {
				ch, info, err := c.CancelCharge(ctx, chargeID, CancelChargeRequest{CancellationReason: "buyer asked"})
				if err != nil {
					return result{}, err
				}
				return result{ch.ChargeID, ch.StatusDetails.State, info.StatusCode}, nil
			},
			method: http.MethodDelete, path: "/charges/" + chargeID + "/cancel",
			bodyFields: []string{"cancellationReason"},
			want:       result{chargeID, ChargeStateCaptured, http.StatusOK},
		},
	}
	// Every operation under both algorithms and both key ID kinds, behind an
	// endpoint with a path prefix.
	variants := []struct {
		name     string
		keyID    string
		sandbox  bool
		alg      Algorithm
		basePath string
	}{
		{"env_key_v2", "SANDBOX-AFVX7ULWSGBZ5535PCUQOY7B", false, AlgorithmV2, "/prefix/v2"},
		{"env_key_v1", "live-AFVX7ULWSGBZ5535PCUQOY7B", true, AlgorithmV1, "/prefix/v2"},
		{"legacy_sandbox", "AFVX7ULWSGBZ5535PCUQOY7B", true, AlgorithmV2, "/prefix/sandbox/v2"},
		{"legacy_live", "AFVX7ULWSGBZ5535PCUQOY7B", false, AlgorithmV1, "/prefix/live/v2"},
	}
	for _, v := range variants {
		for _, tt := range tests {
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				f := newFakeAmazon(t, routes)
				cfg := testConfig(f.URL + "/prefix/")
				cfg.PublicKeyID, cfg.Sandbox, cfg.Algorithm = v.keyID, v.sandbox, v.alg
				c := newTestClient(t, cfg)

				got, err := tt.run(t.Context(), c)
				if err != nil {
					t.Fatalf("call: %v", err)
				}
				if got != tt.want {
					t.Errorf("result = %+v, want %+v", got, tt.want)
				}
				reqs := f.recorded()
				if len(reqs) != 1 {
					t.Fatalf("server saw %d requests, want 1", len(reqs))
				}
				r := reqs[0]
				if r.Method != tt.method || r.Path != v.basePath+tt.path {
					t.Errorf("request = %s %s, want %s %s", r.Method, r.Path, tt.method, v.basePath+tt.path)
				}
				if r.Algorithm != string(v.alg) || r.PublicKeyID != v.keyID {
					t.Errorf("signed with %s by %s, want %s by %s", r.Algorithm, r.PublicKeyID, v.alg, v.keyID)
				}
				switch tt.key {
				case "":
					if r.IdempotencyKey != "" {
						t.Errorf("idempotency key %q sent, want none", r.IdempotencyKey)
					}
				case "random":
					if err := ValidateIdempotencyKey(r.IdempotencyKey); err != nil {
						t.Errorf("idempotency key: %v", err)
					}
				default:
					if r.IdempotencyKey != tt.key {
						t.Errorf("idempotency key = %q, want %q", r.IdempotencyKey, tt.key)
					}
				}
				if r.Header.Get("X-Amz-Pay-Region") != "na" {
					t.Errorf("region = %q, want na", r.Header.Get("X-Amz-Pay-Region"))
				}
				var body map[string]json.RawMessage
				if len(tt.bodyFields) > 0 {
					if err := json.Unmarshal(r.Body, &body); err != nil {
						t.Fatalf("request body %q: %v", r.Body, err)
					}
				} else if len(r.Body) != 0 {
					t.Errorf("request body = %q, want none", r.Body)
				}
				for _, field := range tt.bodyFields {
					if _, ok := body[field]; !ok {
						t.Errorf("request body %s lacks %q", r.Body, field)
					}
				}
			})
		}
	}
}

// scripted answers the n-th request with statuses[n-1] (the last one
// repeats); 2xx statuses get the charge fixture, others an error body.
func scripted(statuses ...int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		status := statuses[min(n, len(statuses))-1]
		switch {
		case status < 300:
			writeJSON(w, status, chargeJSON)
		case status == http.StatusBadGateway:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			w.Write([]byte("<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>"))
		default:
			writeJSON(w, status, `{"reasonCode":"Code`+http.StatusText(status)[:3]+`","message":"scripted failure"}`)
		}
	}
}

func TestRetryOnStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		statuses     []int
		wantAttempts int
		wantStatus   int  // final status
		wantErr      bool // an *Error
		wantRetry    bool // Error.Retryable
		wantReason   string
		wantMessage  string
		wantEarlier  bool // Error.EarlierAttemptMayHaveBeenApplied
	}{
		{name: "500_then_200", statuses: []int{500, 200}, wantAttempts: 2, wantStatus: 200},
		{name: "429_429_200", statuses: []int{429, 429, 200}, wantAttempts: 3, wantStatus: 200},
		{name: "408_425_502_504_then_200", statuses: []int{408, 425, 502, 200}, wantAttempts: 4, wantStatus: 200},
		{name: "503_exhausted", statuses: []int{503}, wantAttempts: 4, wantStatus: 503, wantErr: true, wantRetry: true, wantReason: "CodeSer", wantMessage: "scripted failure"},
		{name: "400_not_retried", statuses: []int{400, 200}, wantAttempts: 1, wantStatus: 400, wantErr: true, wantReason: "CodeBad", wantMessage: "scripted failure"},
		{name: "422_not_retried", statuses: []int{422, 200}, wantAttempts: 1, wantStatus: 422, wantErr: true, wantReason: "CodeUnp"},
		{name: "404_not_retried", statuses: []int{404, 200}, wantAttempts: 1, wantStatus: 404, wantErr: true, wantReason: "CodeNot"},
		{name: "502_html_body", statuses: []int{502}, wantAttempts: 4, wantStatus: 502, wantErr: true, wantRetry: true, wantEarlier: true, wantMessage: "<html><body> <h1>502 Bad Gateway</h1> </body></html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAmazon(t, scripted(tt.statuses...))
			c := newTestClient(t, testConfig(f.URL))
			ch, info, err := c.GetCharge(t.Context(), "S01-1-C1")
			if info.Attempts != tt.wantAttempts || info.StatusCode != tt.wantStatus {
				t.Errorf("info = %+v, want %d attempts, status %d", info, tt.wantAttempts, tt.wantStatus)
			}
			if got := len(f.recorded()); got != tt.wantAttempts {
				t.Errorf("server saw %d requests, want %d", got, tt.wantAttempts)
			}
			if info.RequestID == "" {
				t.Error("no request ID in CallInfo")
			}
			if !tt.wantErr {
				if err != nil || ch == nil {
					t.Fatalf("err = %v, charge = %v", err, ch)
				}
				return
			}
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %T %v, want *Error", err, err)
			}
			want := Error{StatusCode: tt.wantStatus, ReasonCode: tt.wantReason, Retryable: tt.wantRetry, Attempts: tt.wantAttempts, RequestID: info.RequestID, EarlierAttemptMayHaveBeenApplied: tt.wantEarlier}
			got := *apiErr
			got.Message, got.method, got.path = "", "", ""
			if got != want {
				t.Errorf("error = %+v, want %+v", got, want)
			}
			if tt.wantMessage != "" && apiErr.Message != tt.wantMessage {
				t.Errorf("message = %q, want %q", apiErr.Message, tt.wantMessage)
			}
		})
	}
}

// hijackClose drops the connection without a response after reading the
// request: the request was sent, the outcome is unknown.
func hijackClose(w http.ResponseWriter, _ *http.Request, _ int) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// truncatedBody promises a body and sends part of it.
func truncatedBody(w http.ResponseWriter, _ *http.Request, _ int) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"chargeId\":")
	buf.Flush()
	conn.Close()
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	// closedURL is an address with nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()

	getCharge := func(ctx context.Context, c *Client) (CallInfo, error) {
		_, info, err := c.GetCharge(ctx, "S01-1-C1")
		return info, err
	}
	complete := func(ctx context.Context, c *Client) (CallInfo, error) {
		_, info, err := c.CompleteCheckoutSession(ctx, "session-1", CompleteCheckoutSessionRequest{ChargeAmount: Price{"1.00", "USD"}})
		return info, err
	}
	postWithoutKey := func(ctx context.Context, c *Client) (CallInfo, error) {
		return c.do(ctx, call{op: "Test", method: http.MethodPost, resource: "/charges", body: map[string]string{}}, nil, nil)
	}
	tests := []struct {
		name         string
		handle       func(http.ResponseWriter, *http.Request, int) // nil: nothing listening
		run          func(context.Context, *Client) (CallInfo, error)
		wantAttempts int
		wantApplied  bool
		wantTimeout  bool
	}{
		{name: "hijack_get", handle: hijackClose, run: getCharge, wantAttempts: 4, wantApplied: true},
		{name: "hijack_post_with_key", handle: hijackClose, run: complete, wantAttempts: 4, wantApplied: true},
		{name: "hijack_post_without_key_not_retried", handle: hijackClose, run: postWithoutKey, wantAttempts: 1, wantApplied: true},
		{name: "truncated_body", handle: truncatedBody, run: getCharge, wantAttempts: 4, wantApplied: true},
		{name: "nothing_listening_get", run: getCharge, wantAttempts: 4, wantApplied: false},
		{name: "nothing_listening_post_without_key", run: postWithoutKey, wantAttempts: 4, wantApplied: false},
		{name: "attempt_timeout", handle: func(w http.ResponseWriter, r *http.Request, _ int) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, run: getCharge, wantAttempts: 2, wantApplied: true, wantTimeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := closedURL
			var f *fakeAmazon
			if tt.handle != nil {
				f = newFakeAmazon(t, tt.handle)
				url = f.URL
			}
			cfg := testConfig(url)
			if tt.wantTimeout {
				cfg.AttemptTimeout = 250 * time.Millisecond
				cfg.Retry.MaxAttempts = 2
			}
			c := newTestClient(t, cfg)
			info, err := tt.run(t.Context(), c)
			var te *TransportError
			if !errors.As(err, &te) {
				t.Fatalf("err = %T %v, want *TransportError", err, err)
			}
			if te.Attempts != tt.wantAttempts || info.Attempts != tt.wantAttempts {
				t.Errorf("attempts = %d (info %d), want %d", te.Attempts, info.Attempts, tt.wantAttempts)
			}
			if te.MayHaveBeenApplied != tt.wantApplied {
				t.Errorf("MayHaveBeenApplied = %v, want %v (%v)", te.MayHaveBeenApplied, tt.wantApplied, err)
			}
			if f != nil && len(f.recorded()) != tt.wantAttempts {
				t.Errorf("server saw %d requests, want %d", len(f.recorded()), tt.wantAttempts)
			}
			if got := errors.Is(err, ErrAttemptTimeout); got != tt.wantTimeout {
				t.Errorf("errors.Is(err, ErrAttemptTimeout) = %v, want %v: %v", got, tt.wantTimeout, err)
			}
			// The caller's context did not end: no context error may show.
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				t.Errorf("err %v looks like the caller's context ended", err)
			}
			if info.StatusCode != 0 {
				t.Errorf("StatusCode = %d, want 0", info.StatusCode)
			}
		})
	}
}

func TestContextEnds(t *testing.T) {
	t.Parallel()
	// Every request gets 503 with a long Retry-After, so the client sits in
	// a backoff of MaxBackoff (a minute) after the first attempt.
	slowRetry := func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "60")
		writeJSON(w, http.StatusServiceUnavailable, `{"reasonCode":"ServiceUnavailable","message":"try later"}`)
	}
	newClient := func(t *testing.T) (*fakeAmazon, *Client) {
		f := newFakeAmazon(t, slowRetry)
		cfg := testConfig(f.URL)
		cfg.Retry = RetryPolicy{InitialBackoff: time.Minute, MaxBackoff: time.Minute, MaxElapsed: 10 * time.Minute}
		return f, newTestClient(t, cfg)
	}

	t.Run("cancel_during_backoff", func(t *testing.T) {
		t.Parallel()
		f, c := newClient(t)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, _, err := c.GetCharge(ctx, "S01-1-C1")
			done <- err
		}()
		// Cancel once the first attempt has been answered (or the call has
		// ended for another reason, which the checks below report).
		for len(f.recorded()) == 0 && len(done) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("call did not return after cancel")
		}
		// Generous bound: the point is that the minute-long backoff was cut.
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("call took %v after cancel", d)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		var te *TransportError
		if !errors.As(err, &te) || !te.MayHaveBeenApplied || te.Attempts != 1 {
			t.Errorf("err = %#v, want *TransportError, applied, 1 attempt", err)
		}
	})

	t.Run("deadline_before_backoff_ends", func(t *testing.T) {
		t.Parallel()
		_, c := newClient(t)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		// The backoff would outlast the deadline: the call gives up at once
		// with Amazon's answer rather than waiting for the deadline.
		_, info, err := c.GetCharge(ctx, "S01-1-C1")
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.ReasonCode != "ServiceUnavailable" {
			t.Fatalf("err = %v, want the 503 *Error", err)
		}
		if info.Attempts != 1 || ctx.Err() != nil {
			t.Errorf("attempts = %d, ctx.Err() = %v; want 1 attempt, deadline not reached", info.Attempts, ctx.Err())
		}
	})

	t.Run("already_canceled", func(t *testing.T) {
		t.Parallel()
		f, c := newClient(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, info, err := c.GetCharge(ctx, "S01-1-C1")
		var te *TransportError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &te) || te.MayHaveBeenApplied || info.Attempts != 0 {
			t.Errorf("err = %v, info = %+v; want context.Canceled, not applied, 0 attempts", err, info)
		}
		if n := len(f.recorded()); n != 0 {
			t.Errorf("server saw %d requests", n)
		}
	})

	t.Run("deadline_during_attempt", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		f := newFakeAmazon(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		c := newTestClient(t, testConfig(f.URL))
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, _, err := c.CompleteCheckoutSession(ctx, "session-1", CompleteCheckoutSessionRequest{ChargeAmount: Price{"1.00", "USD"}})
		var te *TransportError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &te) || !te.MayHaveBeenApplied {
			t.Errorf("err = %v; want context.DeadlineExceeded in a *TransportError that may have been applied", err)
		}
	})
}

func TestMaxElapsedBoundsRetries(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "2")
		writeJSON(w, http.StatusTooManyRequests, `{"reasonCode":"TooManyRequests","message":"slow down"}`)
	})
	cfg := testConfig(f.URL)
	// 3.5s: after the first 429 and its 2s Retry-After there is room for
	// one more attempt (with up to 1.5s, minus the first attempt's time,
	// to answer: plenty even under -race on a busy machine) but never for
	// another 2s wait.
	cfg.Retry = RetryPolicy{MaxAttempts: 10, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Second, MaxElapsed: 3500 * time.Millisecond}
	c := newTestClient(t, cfg)
	_, info, err := c.GetCharge(t.Context(), "S01-1-C1")
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests:
		if info.Attempts != 2 || apiErr.Attempts != 2 {
			t.Errorf("attempts = %d (error %d), want 2", info.Attempts, apiErr.Attempts)
		}
	case errors.Is(err, ErrAttemptTimeout):
		// A machine so busy that the budget ran out during the second
		// attempt (or left no room for it): still bounded by the budget.
		if info.Attempts < 1 || info.Attempts > 2 {
			t.Errorf("attempts = %d, want at most 2", info.Attempts)
		}
	default:
		t.Fatalf("err = %v, want 429 *Error", err)
	}
}

// TestRetrySignatures: like the official SDKs, retries resend the same
// signed request while its x-amz-pay-date is fresh; an attempt made after
// maxSignatureAge is signed again.
func TestRetrySignatures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		tick      time.Duration // the clock advances this much per reading
		wantDates int
	}{
		{"fresh_reused", time.Second, 1},
		{"stale_resigned", maxSignatureAge + time.Second, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAmazon(t, scripted(500, 503, 200))
			cfg := testConfig(f.URL)
			var tick atomic.Int64
			base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			cfg.Now = func() time.Time { return base.Add(time.Duration(tick.Add(1)) * tt.tick) }
			c := newTestClient(t, cfg)

			const sessionID = "bd504926-f659-4ad7-a1a9-9a747aaf5275"
			if _, _, err := c.CompleteCheckoutSession(t.Context(), sessionID, CompleteCheckoutSessionRequest{ChargeAmount: Price{"14.00", "USD"}}); err != nil {
				t.Fatal(err)
			}
			reqs := f.recorded()
			if len(reqs) != 3 {
				t.Fatalf("server saw %d requests, want 3", len(reqs))
			}
			dates, sigs := map[string]bool{}, map[string]bool{}
			for i, r := range reqs {
				dates[r.Header.Get("X-Amz-Pay-Date")] = true
				sigs[r.Signature] = true
				if want := IdempotencyKey("complete", sessionID); r.IdempotencyKey != want {
					t.Errorf("attempt %d: idempotency key %q, want %q", i+1, r.IdempotencyKey, want)
				}
				if string(r.Body) != string(reqs[0].Body) {
					t.Errorf("attempt %d: body %q differs from %q", i+1, r.Body, reqs[0].Body)
				}
			}
			if len(dates) != tt.wantDates || len(sigs) != tt.wantDates {
				t.Errorf("dates %v and %d signatures: want %d distinct of each", dates, len(sigs), tt.wantDates)
			}
			if first := base.Add(tt.tick).Format(DateFormat); tt.wantDates == 1 && !dates[first] {
				t.Errorf("dates %v lack the injected clock's first tick %s", dates, first)
			}
		})
	}
}

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t, scripted(500, 201))
	c := newTestClient(t, testConfig(f.URL))
	req := CreateCheckoutSessionRequest{StoreID: "store-1"}

	// A random key per call, reused by that call's retries.
	if _, _, err := c.CreateCheckoutSession(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateCheckoutSession(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	// The caller's key wins.
	if _, _, err := c.CreateCheckoutSession(t.Context(), req, WithIdempotencyKey("order-42_try-1")); err != nil {
		t.Fatal(err)
	}
	reqs := f.recorded()
	if len(reqs) != 4 { // 500 then 201, then 201, 201
		t.Fatalf("server saw %d requests, want 4", len(reqs))
	}
	if reqs[0].IdempotencyKey != reqs[1].IdempotencyKey {
		t.Errorf("retry changed the key: %q then %q", reqs[0].IdempotencyKey, reqs[1].IdempotencyKey)
	}
	if reqs[2].IdempotencyKey == reqs[1].IdempotencyKey {
		t.Errorf("two calls shared the random key %q", reqs[1].IdempotencyKey)
	}
	if reqs[3].IdempotencyKey != "order-42_try-1" {
		t.Errorf("key = %q, want the caller's", reqs[3].IdempotencyKey)
	}
}

func TestIdempotencyKeyDerivation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op, id string
	}{
		{"complete", "bd504926-f659-4ad7-a1a9-9a747aaf5275"},
		{"complete", ""},
		{"", ""},
		{"capture", "S01-5105180-3221187-C056351"},
		{"complete\x00x", "y"},
		{"ünïcode", strings.Repeat("long-id", 100)},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		key := IdempotencyKey(tt.op, tt.id)
		if err := ValidateIdempotencyKey(key); err != nil || len(key) != 32 {
			t.Errorf("IdempotencyKey(%q, %q) = %q: %v", tt.op, tt.id, key, err)
		}
		if again := IdempotencyKey(tt.op, tt.id); again != key {
			t.Errorf("not deterministic: %q then %q", key, again)
		}
		if prev, dup := seen[key]; dup {
			t.Errorf("key %q for %q/%q repeats that of %s", key, tt.op, tt.id, prev)
		}
		seen[key] = tt.op + "/" + tt.id
	}
	// Pinned: the derivation is part of the contract (keys are stored by
	// Amazon indefinitely). Computed as
	// printf 'amazonpay-idempotency-v1\0complete\0bd504926-f659-4ad7-a1a9-9a747aaf5275' | sha256sum
	// and base64url of the first 24 bytes.
	if got, want := IdempotencyKey("complete", "bd504926-f659-4ad7-a1a9-9a747aaf5275"), pinnedCompleteKey; got != want {
		t.Errorf("derivation changed: got %q, want %q", got, want)
	}
}

func TestCallOptionsValidated(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t, routes)
	c := newTestClient(t, testConfig(f.URL))
	bad := []struct {
		name string
		opt  CallOption
	}{
		{"key_too_long", WithIdempotencyKey(strings.Repeat("a", 33))},
		{"key_empty", WithIdempotencyKey("")},
		{"key_bad_char", WithIdempotencyKey("order 42")},
		{"header_authorization", WithHeader("Authorization", "x")},
		{"header_signed", WithHeader("X-Amz-Pay-Date", "20200101T000000Z")},
		{"header_bad_name", WithHeader("bad name", "x")},
		{"header_crlf", WithHeader("X-Note", "a\r\nb")},
	}
	for _, tt := range bad {
		if _, _, err := c.GetCharge(t.Context(), "S01-1-C1", tt.opt); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", tt.name, err)
		}
	}
	if _, _, err := c.GetCharge(t.Context(), ""); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("empty ID: err = %v", err)
	}
	if _, _, err := c.CompleteCheckoutSession(t.Context(), "s", CompleteCheckoutSessionRequest{ChargeAmount: Price{"14,00", "USD"}}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("bad amount: err = %v", err)
	}
	if _, _, err := c.CompleteCheckoutSession(t.Context(), "s", CompleteCheckoutSessionRequest{ChargeAmount: Price{"14.00", "usd"}}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("bad currency: err = %v", err)
	}
	if _, _, err := c.CaptureCharge(t.Context(), "c", CaptureChargeRequest{}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("no capture amount: err = %v", err)
	}
	if n := len(f.recorded()); n != 0 {
		t.Errorf("server saw %d requests for invalid calls", n)
	}

	// A simulation code is sent, unsigned.
	if _, _, err := c.GetCharge(t.Context(), "S01-1-C1", WithHeader(HeaderSimulationCode, "HardDeclined")); err != nil {
		t.Fatal(err)
	}
	r := f.recorded()[0]
	if r.Header.Get("X-Amz-Pay-Simulation-Code") != "HardDeclined" {
		t.Errorf("simulation code not sent: %v", r.Header)
	}
	want := []string{"accept", "content-type", "x-amz-pay-date", "x-amz-pay-host", "x-amz-pay-region"}
	if strings.Join(r.SignedHeaders, ";") != strings.Join(want, ";") {
		t.Errorf("signed headers = %v, want %v", r.SignedHeaders, want)
	}
}

func TestIDsArePathEscaped(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t, routes)
	c := newTestClient(t, testConfig(f.URL))
	if _, _, err := c.GetCharge(t.Context(), "a/b c?d"); err != nil {
		t.Fatal(err)
	}
	if got, want := f.recorded()[0].Path, "/v2/charges/a%2Fb%20c%3Fd"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func TestLoggingHasNoSecrets(t *testing.T) {
	t.Parallel()
	f := newFakeAmazon(t, scripted(503, 200))
	var buf logtest.Buffer
	cfg := testConfig(f.URL)
	cfg.Logger = newJSONLogger(&buf)
	c := newTestClient(t, cfg)
	if _, _, err := c.CompleteCheckoutSession(t.Context(), "session-1", CompleteCheckoutSessionRequest{ChargeAmount: Price{"1.00", "USD"}}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `"msg":"amazonpay: retrying"`) || !strings.Contains(out, `"msg":"amazonpay: attempt"`) {
		t.Errorf("log lacks attempt/retry records:\n%s", out)
	}
	sig := f.recorded()[0].Signature
	for _, secret := range []string{sig, "Signature=", IdempotencyKey("complete", "session-1"), "PRIVATE KEY"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}

// TestPreparedCompleteCheckoutSession: a prepared call is signed when it is
// prepared and sent with that signature; a prepared call sent too late is
// signed again; bad input fails at Prepare with nothing sent.
func TestPreparedCompleteCheckoutSession(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		wait     time.Duration // clock advance between Prepare and Send
		wantDate string
	}{
		{"sent_as_signed", 5 * time.Second, base.Format(DateFormat)},
		{"stale_resigned", maxSignatureAge + time.Second, base.Add(maxSignatureAge + time.Second).Format(DateFormat)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAmazon(t, scripted(200))
			cfg := testConfig(f.URL)
			var now atomic.Int64
			now.Store(base.UnixNano())
			cfg.Now = func() time.Time { return time.Unix(0, now.Load()).UTC() }
			c := newTestClient(t, cfg)

			p, err := c.PrepareCompleteCheckoutSession("bd504926-f659-4ad7-a1a9-9a747aaf5275", CompleteCheckoutSessionRequest{ChargeAmount: Price{"14.00", "USD"}})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(f.recorded()); n != 0 {
				t.Fatalf("Prepare sent %d requests", n)
			}
			now.Add(int64(tt.wait))
			if _, info, err := p.Send(t.Context()); err != nil || info.Attempts != 1 {
				t.Fatalf("Send = %+v, %v", info, err)
			}
			reqs := f.recorded()
			if len(reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(reqs))
			}
			if got := reqs[0].Header.Get("X-Amz-Pay-Date"); got != tt.wantDate {
				t.Errorf("x-amz-pay-date %s, want %s", got, tt.wantDate)
			}
		})
	}

	t.Run("invalid_input", func(t *testing.T) {
		t.Parallel()
		f := newFakeAmazon(t, scripted(200))
		c := newTestClient(t, testConfig(f.URL))
		_, err := c.PrepareCompleteCheckoutSession("bd504926", CompleteCheckoutSessionRequest{ChargeAmount: Price{"14.0.0", "USD"}})
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("err = %v, want ErrInvalidRequest", err)
		}
		if n := len(f.recorded()); n != 0 {
			t.Errorf("server saw %d requests, want none", n)
		}
	})
}

// TestSignedPathIsWirePath: whatever characters a checkout session ID holds,
// the signature covers the path exactly as it is sent, so Amazon Pay (here
// the fake's independent verifier) accepts it.
func TestSignedPathIsWirePath(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"plain-id", "with space", "a/b", "q?x=1#f", "tilde~bang!", "ünïcödé", "%41"} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			f := newFakeAmazon(t, scripted(200))
			c := newTestClient(t, testConfig(f.URL))
			if _, _, err := c.CompleteCheckoutSession(t.Context(), id, CompleteCheckoutSessionRequest{ChargeAmount: Price{"1.00", "USD"}}); err != nil {
				t.Fatalf("id %q: %v", id, err)
			}
			if n := len(f.recorded()); n != 1 {
				t.Fatalf("server saw %d verified requests, want 1", n)
			}
		})
	}
}
