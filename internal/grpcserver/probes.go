package grpcserver

import (
	"context"
	"encoding/json"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// healthWithDetails is the health service with the server's details
// (HealthDetails) in the header metadata of every answer.
type healthWithDetails struct {
	*health.Server
	md metadata.MD
}

func (h healthWithDetails) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if len(h.md) > 0 {
		_ = grpc.SetHeader(ctx, h.md) // only fails once the header is sent
	}
	return h.Server.Check(ctx, req)
}

func (h healthWithDetails) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	if len(h.md) > 0 {
		_ = stream.SetHeader(h.md)
	}
	return h.Server.Watch(req, stream)
}

// ProbeHandler serves the health status over plain HTTP, for platforms
// without gRPC probes and for listeners that require client certificates:
// GET /livez answers 200 while liveness is SERVING, GET /readyz 200 while
// readiness is SERVING, each 503 otherwise. Both bodies are JSON:
// {"status":"SERVING"} with details (HealthDetails) and, when not ready,
// the reason.
func (s *Server) ProbeHandler(details map[string]string) http.Handler {
	mux := http.NewServeMux()
	write := func(w http.ResponseWriter, ok bool, reason string) {
		body := map[string]string{}
		for k, v := range details {
			body[k] = v
		}
		body["status"] = healthpb.HealthCheckResponse_NOT_SERVING.String()
		code := http.StatusServiceUnavailable
		if ok {
			body["status"], code = healthpb.HealthCheckResponse_SERVING.String(), http.StatusOK
		} else if reason != "" {
			body["reason"] = reason
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		live := s.Live()
		reason := ""
		if !live {
			reason = "not serving: starting or shutting down"
		}
		write(w, live, reason)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ready, reason := s.Readiness()
		write(w, ready, reason)
	})
	return mux
}
