package ipn_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/internal/ipn"
)

// TestMessagesAreTraced: each message is a server span of its own (SNS
// sends no trace context) naming its result and reason.
func TestMessagesAreTraced(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	s := newSNS(t)
	r := newReceiver(t, s, &fakeStore{match: 1}, func(c *ipn.Config) { c.TracerProvider = tp })
	good := sign(notification(s, time.Now()), trusted.key).body()
	if code := post(r, good); code != 200 {
		t.Fatalf("status %d", code)
	}
	if code := post(r, good[:len(good)/2]); code != 400 {
		t.Fatalf("truncated: status %d", code)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want one per message", len(spans))
	}
	for i, want := range [][2]string{{"accepted", "notification"}, {"refused", "malformed"}} {
		s := spans[i]
		got := map[attribute.Key]string{}
		for _, a := range s.Attributes {
			got[a.Key] = a.Value.AsString()
		}
		if s.Name != "ipn message" || s.SpanKind != trace.SpanKindServer || s.Parent.IsValid() ||
			got["paymentcompletion.ipn.result"] != want[0] || got["paymentcompletion.ipn.reason"] != want[1] {
			t.Errorf("span %d: %q kind %v parent %v attributes %v; want a root server span %v", i, s.Name, s.SpanKind, s.Parent, got, want)
		}
	}
}
