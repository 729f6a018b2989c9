// Package tracing sets up OpenTelemetry tracing for the service and traces
// what a call does below the gRPC layer: each Amazon Pay call and each store
// operation. Spans carry operation names, statuses, counts and Amazon's
// request IDs, never buyer data or payment details.
package tracing

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
)

// ScopeName names the tracer of the service's own spans.
const ScopeName = "github.com/paymentcompletion/paymentcompletion"

// Propagator reads and writes W3C trace context (traceparent, tracestate)
// and baggage.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Provider is the service's tracer provider and what it exports to.
type Provider struct {
	*sdktrace.TracerProvider
	// Exporter describes where spans go: "none", or the exporter chosen
	// by OTEL_TRACES_EXPORTER (default otlp).
	Exporter string
}

// New returns a tracer provider that always creates spans with trace and
// span IDs, so that log lines can name them, and exports them only when the
// standard OpenTelemetry environment asks for it: OTEL_TRACES_EXPORTER set
// to anything but "none", or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) given; OTEL_SDK_DISABLED=true turns
// exporting off. The exporter is built by autoexport from the same
// variables (protocol, headers, timeouts), and sampling follows
// OTEL_TRACES_SAMPLER (default: parent-based, always on). The resource
// names the service (service.name "paymentcompletion" unless
// OTEL_SERVICE_NAME says otherwise) and its version.
func New(ctx context.Context, lookupEnv func(string) (string, bool), version string) (*Provider, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "paymentcompletion"), attribute.String("service.version", version)),
		resource.WithTelemetrySDK(),
		// Last, so the environment overrides the defaults above.
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exporter := "none"
	if exporting(lookupEnv) {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
		exporter = "otlp"
		if v, ok := lookupEnv("OTEL_TRACES_EXPORTER"); ok && v != "" {
			exporter = v
		}
	}
	return &Provider{TracerProvider: sdktrace.NewTracerProvider(opts...), Exporter: exporter}, nil
}

func exporting(lookupEnv func(string) (string, bool)) bool {
	get := func(k string) string {
		v, _ := lookupEnv(k)
		return strings.TrimSpace(v)
	}
	if b, err := strconv.ParseBool(get("OTEL_SDK_DISABLED")); err == nil && b {
		return false
	}
	if v := get("OTEL_TRACES_EXPORTER"); v != "" {
		return v != "none"
	}
	return get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// AmazonPay traces Amazon Pay calls: an amazonpay.CallObserver making one
// client span per call ("amazonpay <Operation>") with the operation, the
// final HTTP status, the number of attempts and Amazon's request ID.
type AmazonPay struct {
	tracer trace.Tracer
}

// NewAmazonPay returns an AmazonPay tracing with tp.
func NewAmazonPay(tp trace.TracerProvider) AmazonPay {
	return AmazonPay{tracer: tp.Tracer(ScopeName)}
}

// CallStarted implements amazonpay.CallObserver.
func (a AmazonPay) CallStarted(ctx context.Context, op string) (context.Context, func(amazonpay.CallInfo, error)) {
	ctx, span := a.tracer.Start(ctx, "amazonpay "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("amazonpay.operation", op)))
	return ctx, func(info amazonpay.CallInfo, err error) {
		span.SetAttributes(attribute.Int("amazonpay.attempts", info.Attempts))
		if info.StatusCode != 0 { // 0: no response was obtained
			span.SetAttributes(attribute.Int("http.response.status_code", info.StatusCode))
		}
		if info.RequestID != "" {
			span.SetAttributes(attribute.String("amazonpay.request_id", info.RequestID))
		}
		if err != nil {
			span.SetStatus(codes.Error, errorSummary(info, err))
		}
		span.End()
	}
}

// errorSummary describes a failed call by Amazon's reason code or the kind
// of failure; messages are left out, as they may quote request data.
func errorSummary(info amazonpay.CallInfo, err error) string {
	var apiErr *amazonpay.Error
	if errors.As(err, &apiErr) {
		return "HTTP " + strconv.Itoa(apiErr.StatusCode) + " " + apiErr.ReasonCode
	}
	var te *amazonpay.TransportError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &te):
		return "transport error after " + strconv.Itoa(info.Attempts) + " attempts"
	}
	return "error"
}
