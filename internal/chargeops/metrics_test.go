package chargeops_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/metrics"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// TestMetricsCountOutcomesAndBacklog captures against the simulator with
// the service's metrics and scrapes them after each step: a capture
// answered, one throttled (withdrawn), one whose answer is lost (unknown,
// in the backlog with its age, until the worker settles it), and an
// asynchronous one (pending until polled).
func TestMetricsCountOutcomesAndBacklog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stores()["sqlite"])
	ctx := t.Context()
	m := metrics.New(metrics.Build{})
	m.WatchOperations(f.st.(store.OperationsBacklogger), f.clock.Now)
	svc := chargeops.New(f.st, f.client, chargeops.Config{Now: f.clock.Now, Logger: quiet, UpstreamTimeout: 10 * time.Second, Metrics: m})
	want := func(t *testing.T, text string, names ...string) {
		t.Helper()
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(text), names...); err != nil {
			t.Error(err)
		}
	}
	const counted = `
# HELP paymentcompletion_operations_total Money operations (capture, cancel, refund, charge, close, reference, expiry) by kind and the outcome recorded: unknown, pending, completed, declined or canceled (an operation counts once per outcome it reaches), or withdrawn (Amazon Pay refused it or certainly did not apply it).
# TYPE paymentcompletion_operations_total counter
`

	_, charge := f.authorized(t, "12.00")
	if res, err := svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge, Amount: usd("12.00"), IdempotencyKey: "k1"}); err != nil || res.Outcome != payment.Completed {
		t.Fatalf("capture = %+v, %v", res, err)
	}
	_, charge2 := f.authorized(t, "12.00")
	f.fault(t, "CaptureCharge", simulator.FaultHTTP429, 2)
	if _, err := svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge2, Amount: usd("12.00"), IdempotencyKey: "k2"}); err == nil {
		t.Fatal("throttled capture succeeded")
	}
	_, charge3 := f.authorized(t, "12.00")
	f.control(t, "/simulator/faults", map[string]any{"operation": "GetCharge", "kind": "latency", "latency": "1ms"})
	f.fault(t, "CaptureCharge", simulator.FaultLostResponse, 2)
	f.fault(t, "GetCharge", simulator.FaultHTTP500, 2)
	if res, err := svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge3, Amount: usd("12.00"), IdempotencyKey: "k3"}); err != nil || res.Outcome != payment.Unknown {
		t.Fatalf("lost capture = %+v, %v; want unknown", res, err)
	}
	want(t, counted+`
paymentcompletion_operations_total{kind="capture",outcome="completed"} 1
paymentcompletion_operations_total{kind="capture",outcome="unknown"} 1
paymentcompletion_operations_total{kind="capture",outcome="withdrawn"} 1
`, "paymentcompletion_operations_total")

	// Ten minutes later the unknown capture waits, that old.
	f.clock.Advance(10 * time.Minute)
	found := gauges(t, m)
	for key, v := range map[string]float64{
		"paymentcompletion_operations_backlog,kind=capture,state=unknown":   1,
		"paymentcompletion_operations_backlog,kind=capture,state=pending":   0,
		"paymentcompletion_operations_backlog,kind=refund,state=sending":    0,
		"paymentcompletion_operations_oldest_unknown_seconds,kind=capture":  600,
		"paymentcompletion_operations_oldest_unknown_seconds,kind=refund":   0,
		"paymentcompletion_operations_oldest_unknown_seconds,kind=expiry":   0,
		"paymentcompletion_operations_backlog,kind=reference,state=sending": 0,
	} {
		// Times are stored to the microsecond.
		if got, ok := found[key]; !ok || math.Abs(got-v) > 0.001 {
			t.Errorf("%s = %v (exported %v), want %v", key, got, ok, v)
		}
	}

	// The worker settles it; an asynchronous capture is pending.
	if n, err := svc.CheckOnce(ctx); err != nil || n != 1 {
		t.Fatalf("CheckOnce = %d, %v", n, err)
	}
	_, charge4 := f.authorized(t, "40.00")
	f.clock.Advance(8 * 24 * time.Hour)
	if res, err := svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: charge4, Amount: usd("40.00"), IdempotencyKey: "late"}); err != nil || res.Outcome != payment.Pending {
		t.Fatalf("late capture = %+v, %v; want pending", res, err)
	}
	want(t, counted+`
paymentcompletion_operations_total{kind="capture",outcome="completed"} 2
paymentcompletion_operations_total{kind="capture",outcome="pending"} 1
paymentcompletion_operations_total{kind="capture",outcome="unknown"} 1
paymentcompletion_operations_total{kind="capture",outcome="withdrawn"} 1
`, "paymentcompletion_operations_total")
	found = gauges(t, m)
	for key, v := range map[string]float64{
		"paymentcompletion_operations_backlog,kind=capture,state=unknown":  0,
		"paymentcompletion_operations_backlog,kind=capture,state=pending":  1,
		"paymentcompletion_operations_oldest_unknown_seconds,kind=capture": 0,
	} {
		if got := found[key]; got != v {
			t.Errorf("%s = %v, want %v", key, got, v)
		}
	}
}

// gauges scrapes m's gauges, keyed by name and labels.
func gauges(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			if s.GetGauge() == nil {
				continue
			}
			key := mf.GetName()
			for _, l := range s.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			found[key] = s.GetGauge().GetValue()
		}
	}
	return found
}
