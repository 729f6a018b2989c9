// Package metrics exports the service's Prometheus metrics: the gRPC
// server's (go-grpc-middleware's Prometheus provider), the Go runtime's and
// the process's, and the domain's, which it receives through the small
// observer interfaces the domain packages define (completion.Metrics,
// amazonpay.CallObserver, storeobserve.Observer, ipn.Metrics,
// chargeops.Metrics) and reads from the store's
// backlog at scrape time. Labels hold only bounded sets (operations,
// outcomes, reasons, HTTP statuses), never IDs.
package metrics

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeobserve"
)

const namespace = "paymentcompletion"

// Metrics holds the service's metrics and the registry they are served from.
type Metrics struct {
	reg  *prometheus.Registry
	grpc *grpcprom.ServerMetrics

	completions   *prometheus.CounterVec
	amazonCalls   *prometheus.CounterVec
	amazonLatency *prometheus.HistogramVec
	amazonRetries *prometheus.CounterVec
	storeLatency  *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
	ipnMessages   *prometheus.CounterVec
	ipnNudge      prometheus.Histogram
	operations    *prometheus.CounterVec
}

// Build describes the running binary, exported as paymentcompletion_build_info.
type Build struct {
	Version, Commit, GoVersion string
	// Mode is the Amazon Pay environment: simulator, sandbox or live (an
	// alert on mode!="live" catches a production replica without its keys).
	Mode string
}

// New registers every metric in a new registry.
func New(b Build) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets([]float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}))),
		completions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "completions_total",
			Help: "CompleteCheckout answers by outcome (completed, pending, declined, canceled, unknown, or error) and, for errors, the ErrorInfo reason.",
		}, []string{"outcome", "reason"}),
		amazonCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "amazonpay_calls_total",
			Help: "Amazon Pay API calls by operation and final HTTP status (\"none\" when no response was obtained, \"not_sent\" when no attempt was made: held back by the rate limit, or the caller gave up first), retries included in one call.",
		}, []string{"operation", "status"}),
		amazonLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "amazonpay_call_duration_seconds",
			Help:    "Duration of Amazon Pay API calls, retries and backoff included, by operation.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 45},
		}, []string{"operation"}),
		amazonRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "amazonpay_retries_total",
			Help: "Attempts of Amazon Pay API calls beyond the first, by operation.",
		}, []string{"operation"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "store_operation_duration_seconds",
			Help:    "Duration of store operations by operation; each write (CreateAttempt, Transition, DeleteAttempt, ClaimDue, Reschedule, ExtendLease, Nudge) is one commit.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "store_errors_total",
			Help: "Store operations that failed (not counting not-found and lease-lost answers), by operation.",
		}, []string{"operation"}),
		ipnMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "ipn_notifications_total",
			Help: "Messages posted to the Amazon Pay notification receiver, by result (accepted, refused) and reason (accepted: notification, unmatched, untracked_type, subscribed, unsubscribed; refused: rate, too_large, malformed, topic, age, signature, cert_host, cert, merchant, confirm_failed, store, unverified).",
		}, []string{"result", "reason"}),
		ipnNudge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "ipn_nudge_seconds",
			Help:    "Time from a notification's receipt to its nudge being durable in the store (verification and a first certificate fetch included).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "operations_total",
			Help: "Money operations (capture, cancel, refund, charge, close, reference, expiry) by kind and the outcome recorded: unknown, pending, completed, declined or canceled (an operation counts once per outcome it reaches), or withdrawn (Amazon Pay refused it or certainly did not apply it).",
		}, []string{"kind", "outcome"}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "go_version": b.GoVersion, "mode": b.Mode},
	})
	buildInfo.Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.grpc, m.completions, m.amazonCalls, m.amazonLatency, m.amazonRetries, m.storeLatency, m.storeErrors,
		m.ipnMessages, m.ipnNudge, m.operations, buildInfo,
	)
	return m
}

// Registry is where every metric is registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// GRPC returns the gRPC server metrics, for the server's interceptors.
func (m *Metrics) GRPC() *grpcprom.ServerMetrics { return m.grpc }

// Handler serves the metrics in the Prometheus text format. A collector
// that fails (the store unreachable for the backlog) leaves its metrics out
// of that scrape; the others are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: m.reg})
}

// CompletionAnswered implements completion.Metrics.
func (m *Metrics) CompletionAnswered(o payment.Outcome, reason string) {
	outcome := string(o)
	switch {
	case o == "":
		outcome = "error"
		if reason == "" {
			reason = "OTHER"
		}
	case o == payment.Completing:
		// Answered as UNKNOWN: in flight elsewhere.
		outcome = string(payment.Unknown)
	}
	m.completions.WithLabelValues(outcome, reason).Inc()
}

// CallStarted implements amazonpay.CallObserver.
func (m *Metrics) CallStarted(ctx context.Context, op string) (context.Context, func(amazonpay.CallInfo, error)) {
	return ctx, func(info amazonpay.CallInfo, _ error) {
		status := "none"
		switch {
		case info.StatusCode != 0:
			status = strconv.Itoa(info.StatusCode)
		case info.Attempts == 0:
			// Nothing reached Amazon Pay (held back by the rate limit):
			// not an unanswered call.
			status = "not_sent"
		}
		m.amazonCalls.WithLabelValues(op, status).Inc()
		m.amazonLatency.WithLabelValues(op).Observe(info.Latency.Seconds())
		if info.Attempts > 1 {
			m.amazonRetries.WithLabelValues(op).Add(float64(info.Attempts - 1))
		}
	}
}

// StoreOperation implements storeobserve.Observer.
func (m *Metrics) StoreOperation(op string, d time.Duration, err error) {
	m.storeLatency.WithLabelValues(op).Observe(d.Seconds())
	if storeobserve.Failed(err) {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// IPNMessage implements ipn.Metrics.
func (m *Metrics) IPNMessage(result, reason string) {
	m.ipnMessages.WithLabelValues(result, reason).Inc()
}

// IPNNudged implements ipn.Metrics.
func (m *Metrics) IPNNudged(d time.Duration) { m.ipnNudge.Observe(d.Seconds()) }

// OperationRecorded implements chargeops.Metrics.
func (m *Metrics) OperationRecorded(kind payment.OpKind, outcome string) {
	m.operations.WithLabelValues(string(kind), outcome).Inc()
}

// WatchOperations exports, from b at each scrape, the operations not done
// by kind and state, and the age of the oldest unknown one of each kind.
func (m *Metrics) WatchOperations(b store.OperationsBacklogger, now func() time.Time) {
	m.reg.MustRegister(&opsCollector{b: b, now: now})
}

// WatchBacklog exports, from b at each scrape, the payments waiting in each
// unsettled outcome, the age of the oldest, and how late the most overdue
// check of the tracker (pending) and of the reconciler (unknown) is.
func (m *Metrics) WatchBacklog(b store.Backlogger, now func() time.Time) {
	m.reg.MustRegister(&backlogCollector{b: b, now: now})
}

// Limit is a bound of work in flight (an overload.Limiter, the Amazon Pay
// gate): places taken and callers waiting, against its size.
type Limit interface {
	InUse() (held, waiting int)
	Size() (max, queue int)
}

// WatchLimit exports l, read at each scrape, labelled limit=name: its
// places taken and callers waiting, and how many of each it allows.
func (m *Metrics) WatchLimit(name string, l Limit) {
	gauge := func(metric, help string, v func() int) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: metric, Help: help,
			ConstLabels: prometheus.Labels{"limit": name},
		}, func() float64 { return float64(v()) }))
	}
	gauge("limit_in_use", "Places of a limit of concurrent work taken now (completions: CompleteCheckout calls served; amazonpay_calls: Amazon Pay calls in flight).",
		func() int { n, _ := l.InUse(); return n })
	gauge("limit_waiting", "Callers waiting for a place of a limit now (a caller beyond the queue's size is refused at once).",
		func() int { _, n := l.InUse(); return n })
	gauge("limit_size", "Places of a limit (MAX_COMPLETIONS_IN_FLIGHT, AMAZON_PAY_MAX_CALLS).",
		func() int { n, _ := l.Size(); return n })
	gauge("limit_queue_size", "Callers a limit lets wait for a place (0 for completions, refused at once; AMAZON_PAY_MAX_QUEUED).",
		func() int { _, n := l.Size(); return n })
}

var (
	descPayments = prometheus.NewDesc(namespace+"_payments_unsettled",
		"Payments waiting in an unsettled outcome: completing (in flight), unknown (awaiting reconciliation), pending (tracked until Amazon decides).",
		[]string{"outcome"}, nil)
	descOldest = prometheus.NewDesc(namespace+"_payments_unsettled_oldest_age_seconds",
		"Age of the oldest payment in each unsettled outcome.", []string{"outcome"}, nil)
	descTrackerLag = prometheus.NewDesc(namespace+"_tracker_lag_seconds",
		"How late the most overdue poll of a pending payment is (0: none overdue).", nil, nil)
	descReconcilerLag = prometheus.NewDesc(namespace+"_reconciler_lag_seconds",
		"How late the most overdue reconciliation of an unknown payment is (0: none overdue).", nil, nil)
)

// backlogScrapeTimeout bounds the store query of one scrape.
const backlogScrapeTimeout = 5 * time.Second

type backlogCollector struct {
	b   store.Backlogger
	now func() time.Time
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPayments
	ch <- descOldest
	ch <- descTrackerLag
	ch <- descReconcilerLag
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogScrapeTimeout)
	defer cancel()
	rows, err := c.b.Backlog(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descPayments, err)
		return
	}
	now := c.now()
	by := map[payment.Outcome]store.Backlog{}
	for _, r := range rows {
		by[r.Outcome] = r
	}
	for _, o := range []payment.Outcome{payment.Completing, payment.Unknown, payment.Pending} {
		r, ok := by[o]
		ch <- prometheus.MustNewConstMetric(descPayments, prometheus.GaugeValue, float64(r.Count), string(o))
		age := 0.0
		if ok && r.Count > 0 {
			age = max(0, now.Sub(r.OldestCreateTime).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, string(o))
	}
	lag := func(o payment.Outcome) float64 {
		r, ok := by[o]
		if !ok || r.Count == 0 {
			return 0
		}
		return max(0, now.Sub(r.EarliestCheckTime).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descTrackerLag, prometheus.GaugeValue, lag(payment.Pending))
	ch <- prometheus.MustNewConstMetric(descReconcilerLag, prometheus.GaugeValue, lag(payment.Unknown))
}

var (
	descOpsBacklog = prometheus.NewDesc(namespace+"_operations_backlog",
		"Money operations not done, by kind and state: sending (in flight, or left by a process that died), unknown (Amazon's answer lost; the worker finds out), pending (Amazon finishes it asynchronously; the worker polls).",
		[]string{"kind", "state"}, nil)
	descOpsOldestUnknown = prometheus.NewDesc(namespace+"_operations_oldest_unknown_seconds",
		"Age of the oldest money operation of each kind whose outcome is unknown (0: none).", []string{"kind"}, nil)
)

// opKinds and opStates are the series always exported, so that alerts see
// zeros rather than no data.
var (
	opKinds  = []payment.OpKind{payment.OpCapture, payment.OpCancel, payment.OpRefund, payment.OpCharge, payment.OpClose, payment.OpReference, payment.OpExpiry}
	opStates = []payment.OpState{payment.OpSending, payment.OpUnknown, payment.OpPending}
)

type opsCollector struct {
	b   store.OperationsBacklogger
	now func() time.Time
}

func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOpsBacklog
	ch <- descOpsOldestUnknown
}

func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogScrapeTimeout)
	defer cancel()
	rows, err := c.b.OperationsBacklog(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descOpsBacklog, err)
		return
	}
	now := c.now()
	type key struct {
		kind  payment.OpKind
		state payment.OpState
	}
	by := map[key]store.OperationBacklog{}
	kinds := slices.Clone(opKinds)
	for _, r := range rows {
		if !slices.Contains(opStates, r.State) {
			continue
		}
		by[key{r.Kind, r.State}] = r
		if !slices.Contains(kinds, r.Kind) {
			kinds = append(kinds, r.Kind) // a kind this build does not list
		}
	}
	for _, k := range kinds {
		for _, st := range opStates {
			ch <- prometheus.MustNewConstMetric(descOpsBacklog, prometheus.GaugeValue, float64(by[key{k, st}].Count), string(k), string(st))
		}
		age := 0.0
		if r := by[key{k, payment.OpUnknown}]; r.Count > 0 {
			age = max(0, now.Sub(r.OldestCreateTime).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descOpsOldestUnknown, prometheus.GaugeValue, age, string(k))
	}
}
