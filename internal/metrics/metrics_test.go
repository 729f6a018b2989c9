package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/metrics"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

type backlog struct {
	rows []store.Backlog
	err  error
}

func (b backlog) Backlog(context.Context) ([]store.Backlog, error) { return b.rows, b.err }

func TestDomainMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "v1", Commit: "abc", GoVersion: "go1.26"})
	m.CompletionAnswered(payment.Completed, "")
	m.CompletionAnswered(payment.Completing, "")
	m.CompletionAnswered("", "AMOUNT_MISMATCH")
	m.CompletionAnswered("", "")
	_, done := m.CallStarted(t.Context(), "GetCharge")
	done(amazonpay.CallInfo{StatusCode: 200, Attempts: 3, Latency: 120 * time.Millisecond}, nil)
	_, done = m.CallStarted(t.Context(), "GetCharge")
	done(amazonpay.CallInfo{Attempts: 1}, errors.New("connection refused"))
	_, done = m.CallStarted(t.Context(), "CompleteCheckoutSession")
	done(amazonpay.CallInfo{}, errors.New("held back by the rate limit"))
	m.StoreOperation("Transition", 3*time.Millisecond, nil)
	m.StoreOperation("Transition", time.Millisecond, store.ErrUnavailable)
	m.StoreOperation("Get", time.Millisecond, store.ErrNotFound)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m.WatchBacklog(backlog{rows: []store.Backlog{
		{Outcome: payment.Pending, Count: 3, OldestCreateTime: now.Add(-time.Hour), EarliestCheckTime: now.Add(-90 * time.Second)},
		{Outcome: payment.Unknown, Count: 1, OldestCreateTime: now.Add(-time.Minute), EarliestCheckTime: now.Add(time.Second)},
	}}, func() time.Time { return now })

	want := `
# HELP paymentcompletion_completions_total CompleteCheckout answers by outcome (completed, pending, declined, canceled, unknown, or error) and, for errors, the ErrorInfo reason.
# TYPE paymentcompletion_completions_total counter
paymentcompletion_completions_total{outcome="completed",reason=""} 1
paymentcompletion_completions_total{outcome="error",reason="AMOUNT_MISMATCH"} 1
paymentcompletion_completions_total{outcome="error",reason="OTHER"} 1
paymentcompletion_completions_total{outcome="unknown",reason=""} 1
# HELP paymentcompletion_amazonpay_calls_total Amazon Pay API calls by operation and final HTTP status ("none" when no response was obtained, "not_sent" when no attempt was made: held back by the rate limit, or the caller gave up first), retries included in one call.
# TYPE paymentcompletion_amazonpay_calls_total counter
paymentcompletion_amazonpay_calls_total{operation="CompleteCheckoutSession",status="not_sent"} 1
paymentcompletion_amazonpay_calls_total{operation="GetCharge",status="200"} 1
paymentcompletion_amazonpay_calls_total{operation="GetCharge",status="none"} 1
# HELP paymentcompletion_amazonpay_retries_total Attempts of Amazon Pay API calls beyond the first, by operation.
# TYPE paymentcompletion_amazonpay_retries_total counter
paymentcompletion_amazonpay_retries_total{operation="GetCharge"} 2
# HELP paymentcompletion_store_errors_total Store operations that failed (not counting not-found and lease-lost answers), by operation.
# TYPE paymentcompletion_store_errors_total counter
paymentcompletion_store_errors_total{operation="Transition"} 1
# HELP paymentcompletion_payments_unsettled Payments waiting in an unsettled outcome: completing (in flight), unknown (awaiting reconciliation), pending (tracked until Amazon decides).
# TYPE paymentcompletion_payments_unsettled gauge
paymentcompletion_payments_unsettled{outcome="completing"} 0
paymentcompletion_payments_unsettled{outcome="pending"} 3
paymentcompletion_payments_unsettled{outcome="unknown"} 1
# HELP paymentcompletion_payments_unsettled_oldest_age_seconds Age of the oldest payment in each unsettled outcome.
# TYPE paymentcompletion_payments_unsettled_oldest_age_seconds gauge
paymentcompletion_payments_unsettled_oldest_age_seconds{outcome="completing"} 0
paymentcompletion_payments_unsettled_oldest_age_seconds{outcome="pending"} 3600
paymentcompletion_payments_unsettled_oldest_age_seconds{outcome="unknown"} 60
# HELP paymentcompletion_tracker_lag_seconds How late the most overdue poll of a pending payment is (0: none overdue).
# TYPE paymentcompletion_tracker_lag_seconds gauge
paymentcompletion_tracker_lag_seconds 90
# HELP paymentcompletion_reconciler_lag_seconds How late the most overdue reconciliation of an unknown payment is (0: none overdue).
# TYPE paymentcompletion_reconciler_lag_seconds gauge
paymentcompletion_reconciler_lag_seconds 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"paymentcompletion_completions_total", "paymentcompletion_amazonpay_calls_total", "paymentcompletion_amazonpay_retries_total",
		"paymentcompletion_store_errors_total", "paymentcompletion_payments_unsettled", "paymentcompletion_payments_unsettled_oldest_age_seconds",
		"paymentcompletion_tracker_lag_seconds", "paymentcompletion_reconciler_lag_seconds"); err != nil {
		t.Error(err)
	}
}

// TestScrapeSurvivesBacklogFailure checks that an unreadable store leaves
// the backlog out of a scrape and serves the rest.
func TestScrapeSurvivesBacklogFailure(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{})
	m.WatchBacklog(backlog{err: store.ErrUnavailable}, time.Now)
	m.CompletionAnswered(payment.Completed, "")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `paymentcompletion_completions_total{outcome="completed",reason=""} 1`) || !strings.Contains(body, "go_goroutines") {
		t.Errorf("scrape with a failing backlog: %d\n%s", rec.Code, body)
	}
	if strings.Contains(body, "paymentcompletion_payments_unsettled{") {
		t.Error("backlog served although the store failed")
	}
}

type limit struct{ held, waiting, max, queue int }

func (l limit) InUse() (int, int) { return l.held, l.waiting }
func (l limit) Size() (int, int)  { return l.max, l.queue }

// TestLimitGauges: each watched limit is read at the scrape, one series per
// limit.
func TestLimitGauges(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{})
	m.WatchLimit("completions", limit{held: 7, max: 10000})
	m.WatchLimit("amazonpay_calls", limit{held: 512, waiting: 30, max: 512, queue: 10000})
	want := `
# HELP paymentcompletion_limit_in_use Places of a limit of concurrent work taken now (completions: CompleteCheckout calls served; amazonpay_calls: Amazon Pay calls in flight).
# TYPE paymentcompletion_limit_in_use gauge
paymentcompletion_limit_in_use{limit="amazonpay_calls"} 512
paymentcompletion_limit_in_use{limit="completions"} 7
# HELP paymentcompletion_limit_waiting Callers waiting for a place of a limit now (a caller beyond the queue's size is refused at once).
# TYPE paymentcompletion_limit_waiting gauge
paymentcompletion_limit_waiting{limit="amazonpay_calls"} 30
paymentcompletion_limit_waiting{limit="completions"} 0
# HELP paymentcompletion_limit_size Places of a limit (MAX_COMPLETIONS_IN_FLIGHT, AMAZON_PAY_MAX_CALLS).
# TYPE paymentcompletion_limit_size gauge
paymentcompletion_limit_size{limit="amazonpay_calls"} 512
paymentcompletion_limit_size{limit="completions"} 10000
# HELP paymentcompletion_limit_queue_size Callers a limit lets wait for a place (0 for completions, refused at once; AMAZON_PAY_MAX_QUEUED).
# TYPE paymentcompletion_limit_queue_size gauge
paymentcompletion_limit_queue_size{limit="amazonpay_calls"} 10000
paymentcompletion_limit_queue_size{limit="completions"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"paymentcompletion_limit_in_use", "paymentcompletion_limit_waiting", "paymentcompletion_limit_size", "paymentcompletion_limit_queue_size"); err != nil {
		t.Error(err)
	}
}

type opsBacklog struct {
	rows []store.OperationBacklog
	err  error
}

func (b opsBacklog) OperationsBacklog(context.Context) ([]store.OperationBacklog, error) {
	return b.rows, b.err
}

// TestOperationsBacklog: every kind and state is exported (zeros
// included, so alerts see no gaps), the oldest unknown's age per kind, and
// an unreadable store leaves the series out of the scrape only.
func TestOperationsBacklog(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Build{})
	m.WatchOperations(opsBacklog{rows: []store.OperationBacklog{
		{Kind: payment.OpRefund, State: payment.OpUnknown, Count: 2, OldestCreateTime: now.Add(-90 * time.Second)},
		{Kind: payment.OpCapture, State: payment.OpPending, Count: 4, OldestCreateTime: now.Add(-time.Hour)},
	}}, func() time.Time { return now })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`paymentcompletion_operations_backlog{kind="refund",state="unknown"} 2`,
		`paymentcompletion_operations_backlog{kind="capture",state="pending"} 4`,
		`paymentcompletion_operations_backlog{kind="capture",state="unknown"} 0`,
		`paymentcompletion_operations_backlog{kind="expiry",state="sending"} 0`,
		`paymentcompletion_operations_oldest_unknown_seconds{kind="refund"} 90`,
		`paymentcompletion_operations_oldest_unknown_seconds{kind="capture"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if n := strings.Count(body, "\npaymentcompletion_operations_backlog{"); n != 7*3 {
		t.Errorf("%d backlog series, want 21 (7 kinds, 3 states)", n)
	}

	failing := metrics.New(metrics.Build{})
	failing.WatchOperations(opsBacklog{err: store.ErrUnavailable}, time.Now)
	failing.OperationRecorded(payment.OpCapture, "completed")
	rec = httptest.NewRecorder()
	failing.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body = rec.Body.String()
	if !strings.Contains(body, `paymentcompletion_operations_total{kind="capture",outcome="completed"} 1`) || strings.Contains(body, "paymentcompletion_operations_backlog{") {
		t.Errorf("scrape with a failing store: want the counters and no backlog\n%s", body)
	}
}

// TestBuildInfoNamesMode: build_info carries the Amazon Pay mode, so an
// alert can find a replica that does not run live.
func TestBuildInfoNamesMode(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Build{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26", Mode: "sandbox"})
	want := `
# HELP paymentcompletion_build_info Always 1; the labels name the running build.
# TYPE paymentcompletion_build_info gauge
paymentcompletion_build_info{commit="abc",go_version="go1.26",mode="sandbox",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "paymentcompletion_build_info"); err != nil {
		t.Error(err)
	}
}
