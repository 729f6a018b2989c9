package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paymentcompletion/paymentcompletion/internal/metrics"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// counter is a hand-written store.UnknownOperationCounter.
type counter struct {
	got    time.Time
	counts map[payment.OpKind]int64
	err    error
}

func (c *counter) CountUnknownOperations(_ context.Context, before time.Time) (map[payment.OpKind]int64, error) {
	c.got = before
	return c.counts, c.err
}

func TestOperationsPastBudget(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c := &counter{counts: map[payment.OpKind]int64{payment.OpRefund: 2, payment.OpCharge: 1}}
	m := metrics.New(metrics.Build{})
	m.WatchOperationsPastBudget(c, 24*time.Hour, func() time.Time { return now })
	want := `
# HELP paymentcompletion_operations_unknown_past_budget Money operations (capture, cancel, refund, charge, close, reference) whose outcome is still unknown longer than their reconciliation budget after they were recorded; above 0, an operator looks at them (ListPayments with operations_need_attention lists their payments).
# TYPE paymentcompletion_operations_unknown_past_budget gauge
paymentcompletion_operations_unknown_past_budget{kind="cancel"} 0
paymentcompletion_operations_unknown_past_budget{kind="capture"} 0
paymentcompletion_operations_unknown_past_budget{kind="charge"} 1
paymentcompletion_operations_unknown_past_budget{kind="close"} 0
paymentcompletion_operations_unknown_past_budget{kind="reference"} 0
paymentcompletion_operations_unknown_past_budget{kind="refund"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "paymentcompletion_operations_unknown_past_budget"); err != nil {
		t.Error(err)
	}
	if !c.got.Equal(now.Add(-24 * time.Hour)) {
		t.Errorf("counted operations created before %v, want %v", c.got, now.Add(-24*time.Hour))
	}
	c.err = errors.New("store down")
	if _, err := m.Registry().Gather(); err == nil {
		t.Error("a failed count gathered without an error")
	}
}
