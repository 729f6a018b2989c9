package tracelink_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/paymentcompletion/paymentcompletion/internal/tracelink"
)

func TestStartLinksToTheOrigin(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	if got := tracelink.Parent(t.Context()); got != "" {
		t.Errorf("Parent of an untraced context = %q, want none", got)
	}
	callCtx, call := tp.Tracer("test").Start(t.Context(), "call")
	parent := tracelink.Parent(callCtx)
	call.End()
	want := "00-" + call.SpanContext().TraceID().String() + "-" + call.SpanContext().SpanID().String() + "-01"
	if parent != want {
		t.Fatalf("Parent = %q, want %q", parent, want)
	}

	tests := []struct {
		name, parent string
		linked       bool
	}{
		{"recorded by a traced call", parent, true},
		{"recorded untraced", "", false},
		{"malformed", "00-nothex-00f067aa0ba902b7-01", false},
	}
	for _, tt := range tests {
		exp.Reset()
		// The work's own context may carry another span: the work still
		// starts a trace of its own.
		_, span := tracelink.Start(callCtx, tp, "work", tt.parent)
		span.End()
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans exported, want 1", tt.name, len(spans))
		}
		s := spans[0]
		if s.Parent.IsValid() || s.SpanContext.TraceID() == call.SpanContext().TraceID() {
			t.Errorf("%s: span has parent %v in trace %v; want a new root", tt.name, s.Parent, s.SpanContext.TraceID())
		}
		if !tt.linked {
			if len(s.Links) != 0 {
				t.Errorf("%s: links %v, want none", tt.name, s.Links)
			}
			continue
		}
		if len(s.Links) != 1 || s.Links[0].SpanContext.TraceID() != call.SpanContext().TraceID() ||
			s.Links[0].SpanContext.SpanID() != call.SpanContext().SpanID() {
			t.Errorf("%s: links %v, want one to the call's span", tt.name, s.Links)
		}
	}
}
