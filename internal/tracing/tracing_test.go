package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestExportOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_SERVICE_NAME": "x"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
	}
	for _, tt := range tests {
		if got := exporting(envOf(tt.env)); got != tt.want {
			t.Errorf("exporting(%v) = %v, want %v", tt.env, got, tt.want)
		}
	}
}

// TestNewWithoutExporterStillRecords checks that spans get IDs and record
// without any exporter configured, so logs can name them.
func TestNewWithoutExporterStillRecords(t *testing.T) {
	t.Parallel()
	p, err := New(t.Context(), envOf(nil), "v-test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if p.Exporter != "none" {
		t.Errorf("Exporter = %q, want none", p.Exporter)
	}
	_, span := p.Tracer("t").Start(t.Context(), "op")
	defer span.End()
	if !span.SpanContext().IsValid() || !span.IsRecording() {
		t.Errorf("span %v: valid %v, recording %v; want both", span.SpanContext(), span.SpanContext().IsValid(), span.IsRecording())
	}
}

func TestAmazonPaySpans(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	obs := NewAmazonPay(tp)
	_, done := obs.CallStarted(t.Context(), "CompleteCheckoutSession")
	done(amazonpay.CallInfo{StatusCode: 200, RequestID: "req-1", Attempts: 2}, nil)
	_, done = obs.CallStarted(t.Context(), "GetCharge")
	done(amazonpay.CallInfo{StatusCode: 400, RequestID: "req-2", Attempts: 1},
		&amazonpay.Error{StatusCode: 400, ReasonCode: "InvalidParameterValue", Message: "buyer jane@example.com"})
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	attrs := func(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
		m := map[attribute.Key]attribute.Value{}
		for _, a := range s.Attributes() {
			m[a.Key] = a.Value
		}
		return m
	}
	a := attrs(spans[0])
	if spans[0].Name() != "amazonpay CompleteCheckoutSession" || a["amazonpay.operation"].AsString() != "CompleteCheckoutSession" ||
		a["http.response.status_code"].AsInt64() != 200 || a["amazonpay.attempts"].AsInt64() != 2 || a["amazonpay.request_id"].AsString() != "req-1" {
		t.Errorf("first span %s %v", spans[0].Name(), a)
	}
	if st := spans[1].Status(); st.Code != codes.Error || st.Description != "HTTP 400 InvalidParameterValue" {
		t.Errorf("failed call's status = %+v, want an error naming the status and reason only", st)
	}
}
