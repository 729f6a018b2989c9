package grpcserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
)

// probe asks the health service for name and returns its status and the
// answer's header metadata.
func probe(t *testing.T, conn *grpc.ClientConn, name string) (healthpb.HealthCheckResponse_ServingStatus, metadata.MD) {
	t.Helper()
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: name}, grpc.Header(&md))
	if err != nil {
		t.Fatalf("health %q: %v", name, err)
	}
	return resp.GetStatus(), md
}

// httpProbe GETs path from h and returns the code and JSON body.
func httpProbe(t *testing.T, h http.Handler, path string) (int, map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %v: %q", path, err, rec.Body.String())
	}
	return rec.Code, body
}

// TestLivenessAndReadinessSplit: readiness follows SetServing, liveness
// does not; both are served over gRPC (with the details as header
// metadata) and over HTTP.
func TestLivenessAndReadinessSplit(t *testing.T) {
	t.Parallel()
	details := map[string]string{"amazon-pay-mode": "sandbox"}
	h := start(t, "tcp", newFakeService(), grpcserver.Options{HealthDetails: details}, false)
	probes := h.srv.ProbeHandler(details)
	want := func(serving bool, live bool) {
		t.Helper()
		ready := healthpb.HealthCheckResponse_NOT_SERVING
		if serving {
			ready = healthpb.HealthCheckResponse_SERVING
		}
		for _, name := range []string{"", grpcserver.ServiceName, grpcserver.ReadinessService} {
			if got, md := probe(t, h.conn, name); got != ready || md.Get("amazon-pay-mode")[0] != "sandbox" {
				t.Errorf("health %q: %v %v, want %v with amazon-pay-mode sandbox", name, got, md, ready)
			}
		}
		if got, _ := probe(t, h.conn, grpcserver.LivenessService); (got == healthpb.HealthCheckResponse_SERVING) != live {
			t.Errorf("liveness: %v, want serving %v", got, live)
		}
		code, body := httpProbe(t, probes, "/readyz")
		if (code == http.StatusOK) != serving || body["status"] != ready.String() || body["amazon-pay-mode"] != "sandbox" {
			t.Errorf("/readyz: %d %v, want ready %v", code, body, serving)
		}
		if code, body := httpProbe(t, probes, "/livez"); (code == http.StatusOK) != live {
			t.Errorf("/livez: %d %v, want live %v", code, body, live)
		}
	}
	// Liveness turns SERVING as Serve starts; wait for that event.
	for {
		if got, _ := probe(t, h.conn, grpcserver.LivenessService); got == healthpb.HealthCheckResponse_SERVING {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want(true, true)
	h.srv.SetServing(false) // the database is gone
	want(false, true)
	if _, body := httpProbe(t, probes, "/readyz"); body["reason"] == "" {
		t.Errorf("/readyz gives no reason when not ready: %v", body)
	}
	h.srv.SetServing(true)
	want(true, true)
}

// TestDrainDelay: once shutdown is asked for, readiness is NOT_SERVING at
// once, while new connections and calls are still served for the drain
// delay; then the server stops.
func TestDrainDelay(t *testing.T) {
	t.Parallel()
	const drain = 2 * time.Second
	h := start(t, "tcp", newFakeService(), grpcserver.Options{DrainDelay: drain}, false)
	probes := h.srv.ProbeHandler(nil)
	if _, err := h.client.GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "o-1"}}); err != nil {
		t.Fatal(err)
	}
	asked := time.Now()
	h.cancel()
	for {
		if got, _ := probe(t, h.conn, ""); got == healthpb.HealthCheckResponse_NOT_SERVING {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := httpProbe(t, probes, "/readyz"); code != http.StatusServiceUnavailable || body["reason"] != "shutting down" {
		t.Errorf("/readyz while draining: %d %v", code, body)
	}
	if got, _ := probe(t, h.conn, grpcserver.LivenessService); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("liveness while draining: %v, want SERVING", got)
	}
	// A client that connects only now (a load balancer not yet updated)
	// is served.
	conn, err := grpc.NewClient(h.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := pb.NewPaymentCompletionServiceClient(conn).GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "o-2"}}); err != nil {
		t.Errorf("call on a new connection during the drain delay: %v", err)
	}
	select {
	case err := <-h.done:
		close(h.done)
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(drain + 30*time.Second):
		t.Fatal("server did not stop after the drain delay")
	}
	if took := time.Since(asked); took < drain {
		t.Errorf("stopped %v after shutdown was asked for, before the drain delay %v", took, drain)
	}
	if code, _ := httpProbe(t, probes, "/livez"); code != http.StatusServiceUnavailable {
		t.Errorf("/livez after shutdown: %d, want 503", code)
	}
}
