package logcontext_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/paymentcompletion/paymentcompletion/internal/logcontext"
)

func TestHandlerAddsCallAndTrace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(logcontext.NewHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")

	call := &logcontext.Call{RequestID: "req-1"}
	ctx := logcontext.WithCall(context.Background(), call)
	tp := sdktrace.NewTracerProvider() // no exporter: spans still have IDs
	ctx, span := tp.Tracer("t").Start(ctx, "op")
	defer span.End()
	call.SetCaller("storefront") // set after the context was derived: still seen

	log.InfoContext(ctx, "inside")
	log.Info("outside")
	var inside, outside map[string]any
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 || json.Unmarshal(lines[0], &inside) != nil || json.Unmarshal(lines[1], &outside) != nil {
		t.Fatalf("log output: %s", buf.String())
	}
	sc := span.SpanContext()
	if inside["request_id"] != "req-1" || inside["caller"] != "storefront" || inside["component"] != "test" ||
		inside["trace_id"] != sc.TraceID().String() || inside["span_id"] != sc.SpanID().String() {
		t.Errorf("line inside the call: %v", inside)
	}
	for _, k := range []string{"request_id", "caller", "trace_id", "span_id"} {
		if _, ok := outside[k]; ok {
			t.Errorf("line outside any call has %s: %v", k, outside)
		}
	}
}
