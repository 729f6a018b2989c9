package grpcserver

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// TestFollowReadiness drives FollowReadiness with a check that fails,
// recovers and hangs, on the bubble's clock.
func TestFollowReadiness(t *testing.T) {
	s, err := New(pb.UnimplementedPaymentCompletionServiceServer{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := s.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: ServiceName})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus()
	}
	synctest.Test(t, func(t *testing.T) {
		var state atomic.Int32 // 0 up, 1 failing, 2 hanging
		check := func(ctx context.Context) error {
			switch state.Load() {
			case 1:
				return errors.New("connection refused")
			case 2:
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}
		s.SetServing(true)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.FollowReadiness(ctx, check, 5*time.Second, 2*time.Second); close(done) }()

		step := func(d time.Duration, want healthpb.HealthCheckResponse_ServingStatus) {
			t.Helper()
			time.Sleep(d)
			synctest.Wait()
			if got := status(); got != want {
				t.Fatalf("after %v: %v, want %v", d, got, want)
			}
		}
		step(5*time.Second, healthpb.HealthCheckResponse_SERVING)
		state.Store(1)
		step(4*time.Second, healthpb.HealthCheckResponse_SERVING) // not checked yet
		step(time.Second, healthpb.HealthCheckResponse_NOT_SERVING)
		state.Store(0)
		step(5*time.Second, healthpb.HealthCheckResponse_SERVING)
		// A check that does not answer counts as failed once its timeout
		// passes.
		state.Store(2)
		step(5*time.Second+time.Second, healthpb.HealthCheckResponse_SERVING)
		step(time.Second, healthpb.HealthCheckResponse_NOT_SERVING)
		state.Store(0)
		step(5*time.Second, healthpb.HealthCheckResponse_SERVING)

		// Shutdown wins over a check that succeeds.
		s.health.Shutdown()
		state.Store(1)
		step(5*time.Second, healthpb.HealthCheckResponse_NOT_SERVING)
		state.Store(0)
		step(5*time.Second, healthpb.HealthCheckResponse_NOT_SERVING)
		cancel()
		<-done
	})
}

// TestCheckReadinessReason: a check's NotReady reason is what Readiness
// (and /readyz) reports; an error without one reads "not ready".
func TestCheckReadinessReason(t *testing.T) {
	t.Parallel()
	s, err := New(pb.UnimplementedPaymentCompletionServiceServer{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ready, reason := s.Readiness(); ready || reason != "starting" {
		t.Fatalf("new server: %v %q, want not ready, starting", ready, reason)
	}
	tests := []struct {
		err    error
		ready  bool
		reason string
	}{
		{NotReady("database unreachable", errors.New("dial tcp: refused")), false, "database unreachable"},
		{nil, true, ""},
		{NotReady("amazon pay credentials rejected", errors.New("403")), false, "amazon pay credentials rejected"},
		{errors.New("plain"), false, "not ready"},
	}
	for _, tt := range tests {
		ok := s.CheckReadiness(t.Context(), func(context.Context) error { return tt.err }, time.Second)
		if ready, reason := s.Readiness(); ok != tt.ready || ready != tt.ready || reason != tt.reason {
			t.Errorf("check %v: %v, readiness %v %q; want %v %q", tt.err, ok, ready, reason, tt.ready, tt.reason)
		}
	}
}
