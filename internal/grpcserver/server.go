// Package grpcserver assembles and runs the gRPC server of the payment
// completion service: the interceptor chain (metrics, request IDs, logging,
// caller auth and permissions, request validation, panic recovery, default
// deadlines), TLS, tracing, health checking, reflection, transport limits and
// a bounded graceful shutdown.
//
// It takes the PaymentCompletionService implementation as a value, so the
// same assembly serves production, tests over bufconn and tests over a real
// port.
package grpcserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/callers"
	"github.com/paymentcompletion/paymentcompletion/internal/logcontext"
)

// ServiceName is the fully qualified name of the payment completion service,
// as used by health checks and reflection.
const ServiceName = "paymentcompletion.v1.PaymentCompletionService"

// Health service names. Readiness ("readiness", and as before "" and
// ServiceName) is SERVING while the server can serve calls: its
// dependencies are up and it is not shutting down. Liveness ("liveness")
// is SERVING from Serve until the drain delay after a shutdown request
// ends, whatever the database does: restarting the process would not
// bring a database back.
const (
	LivenessService  = "liveness"
	ReadinessService = "readiness"
)

// Defaults applied by New to zero-valued Options fields.
const (
	// DefaultCallTimeout bounds unary calls whose caller set no deadline.
	DefaultCallTimeout = 30 * time.Second
	// DefaultShutdownGrace is how long in-flight calls may run after
	// shutdown starts before the server closes every connection.
	DefaultShutdownGrace = 15 * time.Second
	// DefaultMaxRecvMsgSize caps request size. Every request of the API is a
	// few hundred bytes; gRPC's own default of 4 MiB only widens the door
	// for memory abuse.
	DefaultMaxRecvMsgSize = 64 << 10
	// DefaultMaxStreamsPerConnection bounds the open streams (WatchPayment,
	// health Watch, reflection) of one connection: a storefront backend
	// follows a few payments at a time, and each open stream holds memory
	// (about 13 KB for a health Watch, 27 KB for a WatchPayment).
	DefaultMaxStreamsPerConnection = 100
	// DefaultMaxWatches bounds the WatchPayment streams of the whole server
	// (a few hundred MB at most).
	DefaultMaxWatches = 10000
)

// Keepalive settings. They follow grpc-go examples/features/keepalive; each
// value is chosen for a service called by a few storefront backends over
// long-lived connections, some of them holding WatchPayment streams.
var (
	keepaliveParams = keepalive.ServerParameters{
		// Close connections that carried no RPC for 15 minutes, so idle
		// storefront replicas do not pin server resources forever.
		MaxConnectionIdle: 15 * time.Minute,
		// Recycle every connection after about 30 minutes (grpc-go adds
		// ±10% jitter) so clients re-resolve and spread over new replicas.
		// WatchPayment streams end with it; the contract tells clients to
		// re-open them.
		MaxConnectionAge: 30 * time.Minute,
		// Let calls in flight on a recycled connection finish: longer than
		// the default unary deadline (30s) with room to spare.
		MaxConnectionAgeGrace: time.Minute,
		// Ping a connection after 1 minute without activity, to notice dead
		// peers holding WatchPayment streams well before TCP would.
		Time: time.Minute,
		// Close the connection if the ping is not answered within 20s.
		Timeout: 20 * time.Second,
	}
	keepalivePolicy = keepalive.EnforcementPolicy{
		// Clients may ping at most every 10s; more often is abuse and gets
		// GOAWAY "too_many_pings". Clients must configure their keepalive
		// Time at or above this.
		MinTime: 10 * time.Second,
		// Allow pings on connections without active streams, so storefront
		// clients can keep warm connections between checkouts.
		PermitWithoutStream: true,
	}
)

// Options configure a Server. The zero value of each field selects its
// documented default.
type Options struct {
	// Logger receives one line per finished call (method, code, duration)
	// and panic stacks. Nil discards logs.
	Logger *slog.Logger
	// AuthToken, when not empty, is the bearer token every call except
	// health checks and reflection must present in the "authorization"
	// metadata ("Bearer <token>").
	AuthToken string
	// Callers, when not nil, returns the callers in force (it is asked on
	// every call, so a reloaded callers file applies at once). Every call
	// except health checks and reflection must then come from one of them,
	// by bearer token or client certificate, and be a method it may call.
	// AuthToken, if also set, adds a caller "token" allowed everything.
	Callers func() *callers.Set
	// TLS, when not nil, serves TLS with this configuration (a client CA
	// in it makes client certificates required); nil serves plaintext.
	TLS *tls.Config
	// Metrics, when not nil, counts and times every call (Prometheus
	// grpc_server_* metrics); New initializes its series for every method.
	Metrics *grpcprom.ServerMetrics
	// TracerProvider, when not nil, traces every call except health checks
	// (otelgrpc), continuing the caller's trace from its W3C traceparent
	// with Propagator (default: W3C trace context and baggage). The call's
	// log lines carry its trace_id and span_id.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// DefaultCallTimeout is the deadline given to unary calls that arrive
	// without one (default DefaultCallTimeout). Streams are exempt:
	// WatchPayment may legitimately stay open for a long time.
	DefaultCallTimeout time.Duration
	// ShutdownGrace bounds the graceful part of shutdown (default
	// DefaultShutdownGrace); calls still running after it are cut.
	ShutdownGrace time.Duration
	// DrainDelay is how long, once shutdown is asked for, readiness says
	// NOT_SERVING while the listener still accepts and serves calls as
	// usual, so that load balancers take this server out of rotation
	// before anything is refused. 0 goes straight to the grace.
	DrainDelay time.Duration
	// HealthDetails, when set, are sent as response header metadata with
	// every health Check and Watch answer (e.g. the Amazon Pay mode), so
	// a probe can tell what it talks to.
	HealthDetails map[string]string
	// MaxRecvMsgSize caps the size of a received message in bytes (default
	// DefaultMaxRecvMsgSize).
	MaxRecvMsgSize int
	// MaxStreamsPerConnection caps the open server streams of one
	// connection (default DefaultMaxStreamsPerConnection); more are refused
	// with RESOURCE_EXHAUSTED TOO_MANY_STREAMS_ON_CONNECTION. Unary calls
	// are not counted.
	MaxStreamsPerConnection int
	// MaxWatches caps the open WatchPayment streams of the server (default
	// DefaultMaxWatches); more are refused with RESOURCE_EXHAUSTED
	// TOO_MANY_WATCHES.
	MaxWatches int
	// Validator checks requests against their protovalidate rules. Nil
	// builds a fresh validator.
	Validator protovalidate.Validator
}

// Server is a gRPC server with the service's interceptor chain, health and
// reflection registered. Create it with New and run it once with Serve.
type Server struct {
	srv     *grpc.Server
	health  *health.Server
	streams *streamRegistry
	logger  *slog.Logger
	grace   time.Duration
	drain   time.Duration

	// mu guards ready, notReady and draining: readiness as last set, why
	// it is not ready, and whether shutdown has started (after which
	// readiness stays NOT_SERVING).
	mu       sync.Mutex
	ready    bool
	notReady string
	draining bool

	serveOnce sync.Once
}

// New builds a Server that serves svc. It registers the health service
// (NOT_SERVING until SetServing(true)) and server reflection.
func New(svc pb.PaymentCompletionServiceServer, opts Options) (*Server, error) {
	if svc == nil {
		return nil, errors.New("grpcserver: nil service implementation")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DefaultCallTimeout <= 0 {
		opts.DefaultCallTimeout = DefaultCallTimeout
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	if opts.MaxRecvMsgSize <= 0 {
		opts.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if opts.MaxStreamsPerConnection <= 0 {
		opts.MaxStreamsPerConnection = DefaultMaxStreamsPerConnection
	}
	if opts.MaxWatches <= 0 {
		opts.MaxWatches = DefaultMaxWatches
	}
	if opts.Validator == nil {
		v, err := protovalidate.New()
		if err != nil {
			return nil, fmt.Errorf("grpcserver: build validator: %w", err)
		}
		opts.Validator = v
	}

	s := &Server{
		health:  health.NewServer(),
		streams: newStreamRegistry(opts.MaxStreamsPerConnection, opts.MaxWatches),
		logger:  opts.Logger,
		grace:   opts.ShutdownGrace,
		drain:   max(0, opts.DrainDelay),
	}
	if _, ok := opts.Logger.Handler().(*logcontext.Handler); !ok {
		opts.Logger = slog.New(logcontext.NewHandler(opts.Logger.Handler()))
		s.logger = opts.Logger
	}
	if opts.AuthToken != "" {
		token, more := callers.TokenCaller("token", opts.AuthToken), opts.Callers
		opts.Callers = func() *callers.Set {
			if more == nil {
				return token
			}
			return callers.Union(more(), token)
		}
	}
	codec := newReceiveCodec(opts.MaxRecvMsgSize)
	unary, stream := s.interceptors(opts, codec)
	serverOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.ForceServerCodecV2(codec),
		grpc.StatsHandler(connTagger{}),
		grpc.MaxRecvMsgSize(opts.MaxRecvMsgSize * transportLimitFactor),
		grpc.KeepaliveParams(keepaliveParams),
		grpc.KeepaliveEnforcementPolicy(keepalivePolicy),
	}
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	if opts.TracerProvider != nil {
		prop := opts.Propagator
		if prop == nil {
			prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
		serverOpts = append(serverOpts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(opts.TracerProvider),
			otelgrpc.WithPropagators(prop),
			otelgrpc.WithMeterProvider(noopmetric.NewMeterProvider()),
			otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
		)))
	}
	s.srv = grpc.NewServer(serverOpts...)
	pb.RegisterPaymentCompletionServiceServer(s.srv, svc)
	healthpb.RegisterHealthServer(s.srv, healthWithDetails{Server: s.health, md: metadata.New(opts.HealthDetails)})
	reflection.Register(s.srv)
	if opts.Metrics != nil {
		opts.Metrics.InitializeMetrics(s.srv)
	}
	s.health.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_NOT_SERVING)
	s.setReady(false, "starting")
	return s, nil
}

// SetServing sets readiness: the health status of the server (""), of
// ServiceName and of ReadinessService. The caller marks the server serving
// once its dependencies (store, Amazon Pay client) are ready, and may mark
// it not serving when they fail. Once shutdown has started readiness stays
// NOT_SERVING.
func (s *Server) SetServing(serving bool) {
	reason := ""
	if !serving {
		reason = "not ready"
	}
	s.setReady(serving, reason)
}

// setReady sets readiness, and why it is not ready.
func (s *Server) setReady(serving bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return
	}
	s.ready, s.notReady = serving, reason
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, name := range []string{"", ServiceName, ReadinessService} {
		s.health.SetServingStatus(name, st)
	}
}

// startDraining turns readiness NOT_SERVING for good.
func (s *Server) startDraining() {
	s.setReady(false, "shutting down")
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
}

// Readiness reports whether the server is ready and, if not, why
// ("starting", "database unreachable", "shutting down").
func (s *Server) Readiness() (ready bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready, s.notReady
}

// Live reports the liveness status.
func (s *Server) Live() bool {
	resp, err := s.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: LivenessService})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

// Serve accepts connections on lis until ctx ends, then shuts down:
// readiness turns NOT_SERVING while everything is still served for
// DrainDelay, then liveness turns NOT_SERVING too, open server streams are
// ended with UNAVAILABLE (reason SHUTTING_DOWN), in-flight calls get
// ShutdownGrace to finish, and then every remaining connection is closed. Serve returns nil after such a
// shutdown, or the error that stopped serving early. A Server serves once.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	err := errors.New("grpcserver: Serve called twice")
	s.serveOnce.Do(func() { err = s.serve(ctx, lis) })
	return err
}

func (s *Server) serve(ctx context.Context, lis net.Listener) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(lis) }()
	s.health.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)

	failed := func(err error) error {
		// Serving failed before shutdown was asked for (listener closed or
		// broken); stop the rest so nothing lingers.
		s.health.Shutdown()
		s.streams.drain()
		s.srv.Stop()
		return fmt.Errorf("grpcserver: serve: %w", err)
	}
	select {
	case err := <-serveErr:
		return failed(err)
	case <-ctx.Done():
	}

	start := time.Now()
	s.logger.Info("shutting down", "drain_delay", s.drain.String(), "grace", s.grace.String())
	// Order matters: report NOT_SERVING first so health watchers and load
	// balancers stop routing here, and keep serving everything for the
	// drain delay, while they do (calls routed here meanwhile succeed);
	// then end the streams (GracefulStop would otherwise wait for
	// WatchPayment streams that never end by themselves), then let unary
	// calls in flight finish within the grace period.
	s.startDraining()
	if s.drain > 0 {
		timer := time.NewTimer(s.drain)
		select {
		case <-timer.C:
		case err := <-serveErr:
			timer.Stop()
			return failed(err)
		}
	}
	s.health.Shutdown()
	s.streams.drain()

	stopped := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.grace)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		// Stop closes every connection and cancels the calls' contexts
		// without waiting for handlers. A handler that ignores its context
		// keeps the GracefulStop goroutine until it returns; the process
		// exits regardless.
		s.logger.Warn("grace period over, closing remaining connections")
		s.srv.Stop()
	}
	// Serve returns nil after GracefulStop/Stop; report anything else.
	if err := <-serveErr; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("grpcserver: serve: %w", err)
	}
	s.logger.Info("shut down", "took", time.Since(start).String())
	return nil
}
