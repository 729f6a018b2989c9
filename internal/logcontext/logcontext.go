// Package logcontext puts the identity of a call (its request ID, its caller
// and its trace) on every log line written with the call's context, so that
// the lines of one call can be found together and traced back to a caller.
package logcontext

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// Call is what is known of a call: the request ID from its start, the caller
// once authentication has recognised it. It is shared by every context
// derived from the call's, so that the caller set by an inner interceptor
// also appears on the lines of outer ones (the finish line of the logging
// interceptor).
type Call struct {
	RequestID string
	caller    atomic.Pointer[string]
}

// SetCaller records the name of the caller making the call.
func (c *Call) SetCaller(name string) { c.caller.Store(&name) }

// Caller returns the caller's name, "" until SetCaller.
func (c *Call) Caller() string {
	if p := c.caller.Load(); p != nil {
		return *p
	}
	return ""
}

type callKey struct{}

// WithCall returns ctx carrying c.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// FromContext returns the call of ctx, or nil.
func FromContext(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// Handler adds request_id, caller, trace_id and span_id to each record
// whose context has them, then passes the record on.
type Handler struct {
	next slog.Handler
}

// NewHandler wraps next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled reports whether next handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds the call's attributes to r.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if c := FromContext(ctx); c != nil {
		if c.RequestID != "" {
			r.AddAttrs(slog.String("request_id", c.RequestID))
		}
		if name := c.Caller(); name != "" {
			r.AddAttrs(slog.String("caller", name))
		}
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a Handler whose records carry attrs.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs)}
}

// WithGroup returns a Handler that nests later attributes under name. The
// call's attributes stay at the top level only for records of handlers
// without groups; slog offers no way to add them above a group.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name)}
}
