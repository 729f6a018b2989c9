package tracker_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storefake"
	"github.com/paymentcompletion/paymentcompletion/internal/tracker"
)

// TestPollIsTracedLinkedToTheCompletion: each poll is a trace of its own,
// linked to the call that recorded the payment when it was traced, and
// the Amazon Pay call runs within it.
func TestPollIsTracedLinkedToTheCompletion(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	now := time.Now().UTC()
	st := storefake.New()
	traced := pendingPayment("cs-traced", now.Add(-time.Second))
	traced.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	st.Put(traced)
	st.Put(pendingPayment("cs-untraced", now.Add(-time.Second)))
	az := &charges{script: map[string][]chargeAnswer{
		"cs-traced-C1": {{state: payment.ChargeAuthorized}}, "cs-untraced-C1": {{state: payment.ChargeAuthorized}},
	}}
	inPoll := &spanRecorder{charges: az}
	tr := tracker.New(st, inPoll, tracker.Config{Rate: 100, TracerProvider: tp})
	if n, err := tr.PollOnce(t.Context()); n != 2 || err != nil {
		t.Fatalf("PollOnce = %d, %v; want 2", n, err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want one per poll", len(spans))
	}
	links := 0
	for _, s := range spans {
		if s.Name != "poll pending payment" || s.Parent.IsValid() {
			t.Errorf("span %q with parent %v, want a root poll span", s.Name, s.Parent)
		}
		if !inPoll.traces[s.SpanContext.TraceID().String()] {
			t.Errorf("the Get Charge call did not run in the poll's trace %s", s.SpanContext.TraceID())
		}
		for _, l := range s.Links {
			if l.SpanContext.TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" && l.SpanContext.SpanID().String() == "00f067aa0ba902b7" {
				links++
			}
		}
	}
	if links != 1 {
		t.Errorf("%d polls linked to the completion's call, want 1 (the traced payment's)", links)
	}
}

// spanRecorder notes the trace each Get Charge call runs in.
type spanRecorder struct {
	*charges
	traces map[string]bool
}

func (r *spanRecorder) GetCharge(ctx context.Context, id string, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error) {
	if r.traces == nil {
		r.traces = map[string]bool{}
	}
	r.traces[trace.SpanContextFromContext(ctx).TraceID().String()] = true
	return r.charges.GetCharge(ctx, id, opts...)
}
