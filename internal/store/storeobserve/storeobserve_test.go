package storeobserve_test

import (
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/paymentcompletion/paymentcompletion/internal/store/storefake"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storeobserve"
)

type ops struct {
	mu  sync.Mutex
	got []string
}

func (o *ops) StoreOperation(op string, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if storeobserve.Failed(err) {
		op += "!"
	}
	o.got = append(o.got, op)
}

func TestSpansInsideTracesAndEveryOperationMeasured(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	o := &ops{}
	st := storeobserve.Wrap(storefake.New(), tp, o)

	// Outside a trace (a background poll): measured, not traced.
	if _, err := st.Get(t.Context(), "cs-missing"); err == nil {
		t.Fatal("Get of a missing payment succeeded")
	}
	// Inside a call's trace: a child span.
	ctx, parent := tp.Tracer("t").Start(t.Context(), "call")
	_, _ = st.Get(ctx, "cs-missing")
	parent.End()

	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "store.Get" || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("spans %v: want store.Get as the call's child, then the call", spans)
	}
	// Not found is an answer, not a failure.
	if len(o.got) != 2 || o.got[0] != "Get" || o.got[1] != "Get" {
		t.Errorf("observed %v, want two Get (neither failed)", o.got)
	}
}
