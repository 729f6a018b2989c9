package e2e_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/logcontext"
	"github.com/paymentcompletion/paymentcompletion/internal/logtest"
)

// TestBackgroundWorkLinksToTheCallsTrace completes a checkout in a trace
// of the caller's while Amazon Pay loses the answers, so the payment is
// unknown and the reconciler settles it; the merchant reference that
// follows is set by the operations worker. Each piece of background work
// is a trace of its own whose span links to the caller's trace, and its
// log lines name its own trace.
func TestBackgroundWorkLinksToTheCallsTrace(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var logs logtest.Buffer
	a := newAmazonSim(t, time.Second)
	svc := startService(t, a, serviceOptions{
		AttemptTimeout: 1500 * time.Millisecond, MaxAttempts: 3,
		Tracer: tp, Logger: slog.New(logcontext.NewHandler(slog.NewJSONHandler(&logs, nil))),
		Operations: chargeops.Config{SetMerchantReference: true},
	})
	id := a.newSession(t, t.Context(), sessionSpec{Amount: "25.00", Scenario: "Authorized"})
	a.fault(t, "CompleteCheckoutSession", "lostResponse", 3, 0)
	a.fault(t, "GetCheckoutSession", "http503", 3, 0)
	defer a.clearFaults(t)

	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	origin, _ := trace.TraceIDFromHex(callerTrace)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	resp, err := svc.Client.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: "o-traced", ChargeAmount: usd("25.00")})
	if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_UNKNOWN {
		t.Fatalf("CompleteCheckout = %v, %v; want UNKNOWN", resp, err)
	}
	if seen := waitFinal(t, svc.Client, id, 20*time.Second); seen[len(seen)-1].GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
		t.Fatalf("settled as %s, want COMPLETED", describe(seen[len(seen)-1]))
	}
	logs.WaitFor(t, "operation checked") // the merchant reference was set

	spans := exp.GetSpans()
	linked := func(s tracetest.SpanStub) bool {
		return len(s.Links) == 1 && s.Links[0].SpanContext.TraceID() == origin
	}
	byTrace := map[string]tracetest.SpanStub{}
	var served, reconciled, referenced bool
	for _, s := range spans {
		switch s.Name {
		case "reconcile payment":
			if s.Parent.IsValid() || s.SpanContext.TraceID() == origin || !linked(s) {
				t.Errorf("reconciliation span: parent %v, trace %v, links %v; want a root of its own linked to the caller's trace",
					s.Parent, s.SpanContext.TraceID(), s.Links)
			}
			byTrace[s.SpanContext.TraceID().String()] = s
			reconciled = true
		case "check operation":
			if hasAttr(s.Attributes, "paymentcompletion.operation.kind", "reference") {
				referenced = true
				if s.Parent.IsValid() || !linked(s) {
					t.Errorf("merchant reference span: parent %v, links %v; want a root linked to the caller's trace", s.Parent, s.Links)
				}
				byTrace[s.SpanContext.TraceID().String()] = s
			}
		default:
			if s.SpanKind == trace.SpanKindServer && s.SpanContext.TraceID() == origin {
				served = true
			}
		}
	}
	if !served || !reconciled || !referenced {
		t.Fatalf("spans: call served in the caller's trace %v, reconciled %v, reference set %v; want all", served, reconciled, referenced)
	}
	// The background log lines name the background trace they belong to.
	for _, msg := range []string{"reconciled payment", "operation checked"} {
		found := false
		for _, l := range logs.Lines(t) {
			if l["msg"] != msg {
				continue
			}
			found = true
			id, _ := l["trace_id"].(string)
			if _, ok := byTrace[id]; !ok || l["span_id"] == nil {
				t.Errorf("%q logged with trace_id %q span_id %v; want a background span's", msg, id, l["span_id"])
			}
		}
		if !found {
			t.Errorf("no %q log line", msg)
		}
	}
}

func hasAttr(attrs []attribute.KeyValue, key, value string) bool {
	for _, a := range attrs {
		if string(a.Key) == key && a.Value.AsString() == value {
			return true
		}
	}
	return false
}
