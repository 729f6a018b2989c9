package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

var descPastBudget = prometheus.NewDesc(namespace+"_operations_unknown_past_budget",
	"Money operations (capture, cancel, refund, charge, close, reference) whose outcome is still unknown longer than "+
		"their reconciliation budget after they were recorded; above 0, an operator looks at them "+
		"(ListPayments with operations_need_attention lists their payments).",
	[]string{"kind"}, nil)

// pastBudgetKinds are the kinds always exported (0 when none), so that an
// alert has a series to watch from the start.
var pastBudgetKinds = []payment.OpKind{payment.OpCapture, payment.OpCancel, payment.OpRefund,
	payment.OpCharge, payment.OpClose, payment.OpReference}

// WatchOperationsPastBudget exports, from c at each scrape, how many
// operations of each kind are still unknown budget after they were
// recorded.
func (m *Metrics) WatchOperationsPastBudget(c store.UnknownOperationCounter, budget time.Duration, now func() time.Time) {
	m.reg.MustRegister(&pastBudgetCollector{c: c, budget: budget, now: now})
}

type pastBudgetCollector struct {
	c      store.UnknownOperationCounter
	budget time.Duration
	now    func() time.Time
}

func (p *pastBudgetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descPastBudget }

func (p *pastBudgetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogScrapeTimeout)
	defer cancel()
	counts, err := p.c.CountUnknownOperations(ctx, p.now().Add(-p.budget))
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descPastBudget, err)
		return
	}
	for _, k := range pastBudgetKinds {
		ch <- prometheus.MustNewConstMetric(descPastBudget, prometheus.GaugeValue, float64(counts[k]), string(k))
	}
}
