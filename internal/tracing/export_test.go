package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
)

// TestExportsToOTLPEndpoint configures export the standard way, with
// OTEL_EXPORTER_OTLP_ENDPOINT, and checks that a span reaches a loopback
// OTLP/HTTP receiver. Not parallel: it sets the process environment, which
// autoexport reads.
func TestExportsToOTLPEndpoint(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
		size  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.URL.Path)
		size += len(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_TRACES_EXPORTER", "")

	p, err := New(t.Context(), os.LookupEnv, "v-test")
	if err != nil {
		t.Fatal(err)
	}
	if p.Exporter != "otlp" {
		t.Errorf("Exporter = %q, want otlp", p.Exporter)
	}
	_, span := p.Tracer("t").Start(t.Context(), "exported")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil { // flushes the batch
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "/v1/traces" || size == 0 {
		t.Errorf("receiver saw %v (%d bytes), want a POST to /v1/traces", paths, size)
	}
}
