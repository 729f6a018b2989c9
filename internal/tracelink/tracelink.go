// Package tracelink ties background work to the call it comes from. The
// W3C traceparent of the call is kept with what the call records (Parent);
// the work done later on that record, by another goroutine or replica,
// starts a trace of its own linked to the call's (Start). A trace viewer
// then leads from the work to the call and back, each trace stays the
// length of one unit of work, and the work's log lines carry its trace_id
// and span_id (logcontext.Handler reads them from the context).
package tracelink

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// scopeName names the tracer of the background spans: the service's (see
// tracing.ScopeName).
const scopeName = "github.com/paymentcompletion/paymentcompletion"

// LinkKind is the attribute of a background span's link naming what the
// linked span is: "origin", the call that recorded the work.
const LinkKind = "paymentcompletion.link.kind"

var traceContext propagation.TraceContext

// Parent returns the W3C traceparent of the span in ctx, or "" when ctx
// carries no valid span (the call is not traced).
func Parent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c["traceparent"]
}

// Start starts the span of one unit of background work named name, in a
// new trace (whatever span ctx carries), linked to the trace of parent (a
// traceparent from Parent; none when it is empty or malformed). tp nil
// means the global provider. End the span when the work is done.
func Start(ctx context.Context, tp trace.TracerProvider, name, parent string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...)}
	if sc := origin(parent); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String(LinkKind, "origin")}}))
	}
	return tp.Tracer(scopeName).Start(ctx, name, opts...)
}

func origin(parent string) trace.SpanContext {
	if parent == "" {
		return trace.SpanContext{}
	}
	ctx := traceContext.Extract(context.Background(), propagation.MapCarrier{"traceparent": parent})
	return trace.SpanContextFromContext(ctx)
}
